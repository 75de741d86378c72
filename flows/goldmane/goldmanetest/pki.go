// Package goldmanetest is an in-process Goldmane server for tests: it serves
// the Flows service (List and Stream) over real mutual TLS, with a fake clock,
// 15 s buckets, retention, paging, time filters, and stop/restart on the same
// address. It models the behaviour of Calico v3.30/v3.31 Goldmane that
// clients depend on (see shared/reference/flow-logs.md §4).
package goldmanetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// PKI is a throw-away certificate set: the CA Goldmane's clients and server
// trust, a server and a client certificate it issued, and a second,
// unrelated CA with its own server and client certificates.
type PKI struct {
	CAPEM                       []byte
	ServerCertPEM, ServerKeyPEM []byte // SANs localhost, 127.0.0.1, ::1
	ClientCertPEM, ClientKeyPEM []byte

	OtherCAPEM                            []byte
	OtherServerCertPEM, OtherServerKeyPEM []byte
	OtherClientCertPEM, OtherClientKeyPEM []byte
}

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// NewPKI generates a fresh PKI (ECDSA P-256, valid for a day).
func NewPKI() (*PKI, error) {
	ca, err := newCA("goldmanetest CA")
	if err != nil {
		return nil, err
	}
	other, err := newCA("unrelated CA")
	if err != nil {
		return nil, err
	}
	p := &PKI{CAPEM: ca.pem, OtherCAPEM: other.pem}
	if p.ServerCertPEM, p.ServerKeyPEM, err = ca.issue("goldmane", true); err != nil {
		return nil, err
	}
	if p.ClientCertPEM, p.ClientKeyPEM, err = ca.issue("calico-node", false); err != nil {
		return nil, err
	}
	if p.OtherServerCertPEM, p.OtherServerKeyPEM, err = other.issue("goldmane", true); err != nil {
		return nil, err
	}
	if p.OtherClientCertPEM, p.OtherClientKeyPEM, err = other.issue("calico-node", false); err != nil {
		return nil, err
	}
	return p, nil
}

// ClientFiles are the paths WriteClientFiles wrote.
type ClientFiles struct{ Cert, Key, CA string }

// WriteClientFiles writes the client certificate, key and CA into dir.
func (p *PKI) WriteClientFiles(dir string) (ClientFiles, error) {
	f := ClientFiles{
		Cert: filepath.Join(dir, "tls.crt"),
		Key:  filepath.Join(dir, "tls.key"),
		CA:   filepath.Join(dir, "ca.crt"),
	}
	for path, b := range map[string][]byte{f.Cert: p.ClientCertPEM, f.Key: p.ClientKeyPEM, f.CA: p.CAPEM} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return ClientFiles{}, err
		}
	}
	return f, nil
}

var serial atomic.Int64

func nextSerial() *big.Int {
	return big.NewInt(time.Now().UnixNano() + serial.Add(1))
}

func newCA(cn string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func (a *authority) issue(cn string, server bool) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost", "goldmane", "goldmane.calico-system", "goldmane.calico-system.svc"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
