package goldmane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// tlsConfig builds the client side of Goldmane's mutual TLS: TLS 1.2 at
// least, our client certificate, and the server verified against the CA
// (only InsecureSkipVerify turns that off). Errors never quote key material.
func (c *Config) tlsConfig() (*tls.Config, error) {
	certPEM, err := pemOrFile("client certificate", c.CertPEM, c.CertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pemOrFile("client key", c.KeyPEM, c.KeyFile)
	if err != nil {
		return nil, err
	}
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return nil, errors.New("goldmane: a client certificate and key are required (Goldmane requires mutual TLS; e.g. secret calico-system/node-certs)")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The tls error names PEM block types, never key bytes.
		return nil, fmt.Errorf("goldmane: client certificate/key pair: %w", err)
	}
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Always present the certificate. With Certificates, crypto/tls
		// silently sends none when its issuer is not among the CAs the
		// server lists, which turns a wrong certificate into a vague
		// "handshake failure".
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
		ServerName:           c.ServerName,
		NextProtos:           []string{"h2"},
	}
	if conf.ServerName == "" {
		host, _, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return nil, fmt.Errorf("goldmane: address %q: %w", c.Addr, err)
		}
		conf.ServerName = host
	}
	caPEM, err := pemOrFile("CA", c.CAPEM, c.CAFile)
	if err != nil {
		return nil, err
	}
	switch {
	case c.InsecureSkipVerify:
		conf.InsecureSkipVerify = true // explicit opt-in only
	case len(caPEM) == 0:
		return nil, errors.New("goldmane: a CA certificate is required to verify the server (e.g. tls.crt of secret calico-system/goldmane-key-pair), or InsecureSkipVerify")
	default:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("goldmane: CA: no PEM certificate found")
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

func pemOrFile(what string, b []byte, path string) ([]byte, error) {
	if len(b) > 0 && path != "" {
		return nil, fmt.Errorf("goldmane: %s given both as a file and in memory", what)
	}
	if path == "" {
		return b, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("goldmane: %s: %w", what, err)
	}
	return data, nil
}

// probeWait bounds how long the probe waits for a TLS 1.3 server to reject
// our certificate after the handshake.
const probeWait = 2 * time.Second

// probe dials addr once and completes a TLS handshake, so that Dial reports
// certificate problems on either side at once and clearly. With TLS 1.3 the
// server checks the client certificate after the client considers the
// handshake done, so a rejection only arrives as an alert on the first read:
// the probe reads until the server's first HTTP/2 frame, an alert, or
// probeWait.
func probe(ctx context.Context, addr string, conf *tls.Config) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	d := tls.Dialer{Config: conf}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(probeWait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetReadDeadline(deadline)
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil // nothing said: no rejection seen
		}
		return err
	}
	return nil
}

// hint explains the usual causes of a connection error.
func hint(err error) string {
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("bad certificate", "unknown certificate authority", "certificate required", "unknown certificate", "unsupported certificate"):
		return "the server rejected our client certificate: it must be issued by Goldmane's CA (secret calico-system/node-certs)"
	case has("certificate signed by unknown authority", "not trusted", "failed to verify certificate: x509: certificate has expired"):
		return "the server's certificate does not verify against the configured CA (use tls.crt of secret calico-system/goldmane-key-pair)"
	case has("certificate is valid for", "certificate is not valid for any names"):
		return "the server's certificate does not name the address dialled; set the server name (Goldmane's certificate names localhost, 127.0.0.1 and goldmane.calico-system.svc)"
	case has("protocol version", "no supported versions", "unsupported protocol"):
		return "the server does not offer TLS 1.2 or later, which is required"
	case has("handshake failure"):
		return "the server refused the TLS handshake (most often it did not accept our client certificate)"
	case has("connection refused"):
		return "nothing is listening there (is the port-forward to svc/goldmane 7443 running?)"
	case has("first record does not look like a TLS handshake"):
		return "the server does not speak TLS"
	}
	return ""
}

// ConnError is a connection or TLS failure with a human hint.
type ConnError struct {
	Addr string
	Hint string
	Err  error
}

func (e *ConnError) Error() string {
	if e.Hint == "" {
		return fmt.Sprintf("goldmane %s: %v", e.Addr, e.Err)
	}
	return fmt.Sprintf("goldmane %s: %s: %v", e.Addr, e.Hint, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

func connError(addr string, err error) error {
	if err == nil {
		return nil
	}
	var ce *ConnError
	if errors.As(err, &ce) {
		return err
	}
	return &ConnError{Addr: addr, Hint: hint(err), Err: err}
}
