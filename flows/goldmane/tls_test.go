package goldmane_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

func dialErr(t *testing.T, cfg goldmane.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := goldmane.Dial(ctx, cfg)
	if err == nil {
		_ = c.Close()
	}
	return err
}

func listOne(t *testing.T, c *goldmane.Client) int {
	t.Helper()
	info, err := c.List(context.Background(), time.Time{}, time.Time{}, 0, func(*pb.FlowResult) error { return nil })
	require.NoError(t, err)
	return info.Results
}

func TestDialWithFiles(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+60, 0)})
	srv.Add(egress(1, t0))
	files, err := testPKI().WriteClientFiles(t.TempDir())
	require.NoError(t, err)
	// "localhost" must verify too: Goldmane's certificate names it.
	_, port, _ := net.SplitHostPort(srv.Addr())
	c, err := goldmane.Dial(context.Background(), goldmane.Config{
		Addr: "localhost:" + port, CertFile: files.Cert, KeyFile: files.Key, CAFile: files.CA,
	})
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, 1, listOne(t, c))
}

func TestDialOverTLS12(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{Now: time.Unix(t0+60, 0), MaxTLSVersion: tls.VersionTLS12})
	srv.Add(egress(1, t0))
	c := dial(t, srv)
	require.Equal(t, 1, listOne(t, c))
}

func TestClientCertFromWrongCARejected(t *testing.T) {
	for _, maxV := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(maxV), func(t *testing.T) {
			srv := startServer(t, goldmanetest.Options{MaxTLSVersion: maxV})
			cfg := clientConfig(srv.Addr())
			cfg.CertPEM, cfg.KeyPEM = testPKI().OtherClientCertPEM, testPKI().OtherClientKeyPEM
			err := dialErr(t, cfg)
			require.Error(t, err)
			var ce *goldmane.ConnError
			require.True(t, errors.As(err, &ce), "%T %v", err, err)
			t.Log(err)
			require.Contains(t, err.Error(), "rejected our client certificate")
			require.Contains(t, err.Error(), srv.Addr())
		})
	}
}

func TestServerCertFromUnexpectedCARejected(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{UseOtherCA: true, Now: time.Unix(t0+60, 0)})
	srv.Add(egress(1, t0))
	err := dialErr(t, clientConfig(srv.Addr()))
	require.Error(t, err)
	t.Log(err)
	require.Contains(t, err.Error(), "does not verify against the configured CA")
	require.Contains(t, err.Error(), "x509")

	// Only the explicit flag skips verification; our client certificate is
	// still presented (the server requires it).
	cfg := clientConfig(srv.Addr())
	cfg.InsecureSkipVerify = true
	c, err := goldmane.Dial(context.Background(), cfg)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, 1, listOne(t, c))
}

func TestTLSBelow12Refused(t *testing.T) {
	srv := startServer(t, goldmanetest.Options{MinTLSVersion: tls.VersionTLS10, MaxTLSVersion: tls.VersionTLS11})
	err := dialErr(t, clientConfig(srv.Addr()))
	require.Error(t, err)
	t.Log(err)
	require.Contains(t, err.Error(), "TLS 1.2 or later")
}

func TestDialNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	err = dialErr(t, clientConfig(addr))
	require.Error(t, err)
	require.Contains(t, err.Error(), "port-forward")
}

const keyMarker = "c2VjcmV0LWtleS1tYXRlcmlhbC1kby1ub3QtbGVhaw"

func TestConfigErrorsAndKeyRedaction(t *testing.T) {
	p := testPKI()
	badKey := []byte("-----BEGIN PRIVATE KEY-----\n" + keyMarker + "\n-----END PRIVATE KEY-----\n")
	cases := []struct {
		name string
		cfg  goldmane.Config
		want string
	}{
		{"no address", goldmane.Config{CertPEM: p.ClientCertPEM, KeyPEM: p.ClientKeyPEM, CAPEM: p.CAPEM}, "no address"},
		{"no client certificate", goldmane.Config{Addr: "127.0.0.1:1", CAPEM: p.CAPEM}, "client certificate and key are required"},
		{"no CA", goldmane.Config{Addr: "127.0.0.1:1", CertPEM: p.ClientCertPEM, KeyPEM: p.ClientKeyPEM}, "CA certificate is required"},
		{"garbage CA", goldmane.Config{Addr: "127.0.0.1:1", CertPEM: p.ClientCertPEM, KeyPEM: p.ClientKeyPEM, CAPEM: []byte("nope")}, "no PEM certificate"},
		{"bad key", goldmane.Config{Addr: "127.0.0.1:1", CertPEM: p.ClientCertPEM, KeyPEM: badKey, CAPEM: p.CAPEM}, "client certificate/key pair"},
		{"key that does not match", goldmane.Config{Addr: "127.0.0.1:1", CertPEM: p.ClientCertPEM, KeyPEM: p.OtherClientKeyPEM, CAPEM: p.CAPEM}, "client certificate/key pair"},
		{"file and memory", goldmane.Config{Addr: "127.0.0.1:1", CertPEM: p.ClientCertPEM, CertFile: "/x", KeyPEM: p.ClientKeyPEM, CAPEM: p.CAPEM}, "both as a file and in memory"},
		{"missing file", goldmane.Config{Addr: "127.0.0.1:1", CertPEM: p.ClientCertPEM, KeyFile: "/nonexistent/tls.key", CAPEM: p.CAPEM}, "client key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := dialErr(t, tc.cfg)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), keyMarker)
			require.NotContains(t, err.Error(), "PRIVATE KEY-----\n")
		})
	}

	cfg := goldmane.Config{Addr: "127.0.0.1:7443", CertPEM: p.ClientCertPEM, KeyPEM: badKey, CAPEM: p.CAPEM}
	for _, s := range []string{cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg)} {
		require.NotContains(t, s, keyMarker)
		require.Contains(t, s, "redacted")
	}
	require.False(t, strings.Contains(cfg.String(), string(p.ClientKeyPEM)))
}
