//go:build e2e

package kube

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// tools are the binaries and files the tests run, from e2e/tools (the
// Makefile passes their paths; without them TestMain runs the scripts).
type tools struct {
	etcd, apiserver, kubectl, crds string
}

func findTools() (tools, error) {
	var t tools
	for _, x := range []struct {
		dst  *string
		env  string
		args []string
	}{
		{&t.etcd, "E2E_ETCD", []string{"etcd.sh"}},
		{&t.apiserver, "E2E_KUBE_APISERVER", []string{"kube.sh", "kube-apiserver"}},
		{&t.kubectl, "E2E_KUBECTL", []string{"kube.sh", "kubectl"}},
		{&t.crds, "E2E_CALICO_CRDS", []string{"calico-crds.sh"}},
	} {
		if *x.dst = os.Getenv(x.env); *x.dst != "" {
			continue
		}
		cmd := exec.Command("sh", append([]string{filepath.Join("..", "tools", x.args[0])}, x.args[1:]...)...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return t, fmt.Errorf("e2e/tools/%s: %v", strings.Join(x.args, " "), err)
		}
		*x.dst = strings.TrimSpace(string(out))
	}
	return t, nil
}

// pki is the self-made CA and the keys the API server and its clients use.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	serial int64
}

func newPKI(dir string) (*pki, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "calico-plan e2e CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := &pki{dir: dir, ca: ca, caKey: key, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), serial: 1}
	return p, os.WriteFile(filepath.Join(dir, "ca.crt"), p.caPEM, 0o600)
}

// issue signs a certificate; it returns the PEM certificate and key.
func (p *pki) issue(cn string, orgs []string, server bool) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default.svc"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}

// freePort returns a loopback port nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// apiServer is a running etcd and kube-apiserver.
type apiServer struct {
	dir   string
	url   string
	pki   *pki
	admin string // kubeconfig of an O=system:masters user
	procs []*exec.Cmd
	logs  []string
}

func startAPIServer(ctx context.Context, t tools, dir string) (*apiServer, error) {
	s := &apiServer{dir: dir}
	var err error
	if s.pki, err = newPKI(dir); err != nil {
		return nil, err
	}
	etcdClient, err := freePort()
	if err != nil {
		return nil, err
	}
	etcdPeer, err := freePort()
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := s.start(t.etcd, "etcd",
		"--name=e2e", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=e2e="+peerURL, "--log-level=warn"); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, 60*time.Second, "etcd", func() error {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd /health: %s", resp.Status)
		}
		return nil
	}); err != nil {
		return nil, s.failure(err)
	}

	crt, key, err := s.pki.issue("kube-apiserver", nil, true)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"apiserver.crt": crt, "apiserver.key": key,
		"sa.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	if err := s.start(t.apiserver, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--tls-cert-file="+filepath.Join(dir, "apiserver.crt"), "--tls-private-key-file="+filepath.Join(dir, "apiserver.key"),
		"--client-ca-file="+filepath.Join(dir, "ca.crt"),
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.96.0.0/12",
		"--service-account-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--enable-priority-and-fairness=false",
		"--v=1"); err != nil {
		return nil, s.failure(err)
	}
	if s.admin, err = s.kubeconfig("admin", []string{"system:masters"}); err != nil {
		return nil, s.failure(err)
	}
	client, err := s.httpClient("admin", []string{"system:masters"})
	if err != nil {
		return nil, s.failure(err)
	}
	if err := waitFor(ctx, 120*time.Second, "kube-apiserver", func() error {
		resp, err := client.Get(s.url + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	}); err != nil {
		return nil, s.failure(err)
	}
	return s, nil
}

// start runs a server process, its output in DIR/NAME.log.
func (s *apiServer) start(bin, name string, args ...string) error {
	logPath := filepath.Join(s.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs = append(s.procs, cmd)
	s.logs = append(s.logs, logPath)
	return nil
}

// failure adds the tail of each server log to err and stops the servers.
func (s *apiServer) failure(err error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%v", err)
	for _, l := range s.logs {
		out, _ := os.ReadFile(l)
		if len(out) > 3000 {
			out = out[len(out)-3000:]
		}
		fmt.Fprintf(&b, "\n--- %s (tail)\n%s", l, out)
	}
	s.stop()
	return errors.New(b.String())
}

// stop ends the servers this test started (API server first).
func (s *apiServer) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	s.procs = nil
}

func (s *apiServer) httpClient(cn string, orgs []string) (*http.Client, error) {
	crt, key, err := s.pki.issue(cn, orgs, false)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.pki.ca)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}, nil
}

// kubeconfig writes a kubeconfig for a client certificate (CN user, O
// groups) issued by the CA and returns its path.
func (s *apiServer) kubeconfig(cn string, orgs []string) (string, error) {
	crt, key, err := s.pki.issue(cn, orgs, false)
	if err != nil {
		return "", err
	}
	return s.writeKubeconfig(cn, crt, key)
}

func (s *apiServer) writeKubeconfig(name string, crt, key []byte) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: e2e
  context:
    cluster: e2e
    user: %s
current-context: e2e
`, s.url, b64(s.pki.caPEM), name, b64(crt), b64(key), name)
	path := filepath.Join(s.dir, "kubeconfig-"+name)
	return path, os.WriteFile(path, b.Bytes(), 0o600)
}

// waitFor polls check until it succeeds or the deadline passes: the
// condition is the synchronisation, the interval only paces the polling.
func waitFor(ctx context.Context, limit time.Duration, what string, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v", what, limit, err)
		case <-tick.C:
		}
	}
}
