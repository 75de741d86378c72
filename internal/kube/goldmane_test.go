package kube

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"

	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/flows/goldmane/goldmanetest"
	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

const keyMarker = "LS0tc2VjcmV0LWtleS1ieXRlcy0tLQ"

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestReadGoldmaneCerts(t *testing.T) {
	cs := fake.NewClientset(
		secret("calico-system", "node-certs", map[string]string{"tls.crt": "CLIENT CERT", "tls.key": keyMarker}),
		secret("calico-system", "goldmane-key-pair", map[string]string{"tls.crt": "GOLDMANE CA", "tls.key": "not ours"}),
		secret("calico-system", "whisker-backend-key-pair", map[string]string{"tls.crt": "WHISKER CERT", "tls.key": "WHISKER KEY"}),
		secret("calico-system", "broken", map[string]string{"tls.crt": "X"}),
	)
	ctx := context.Background()
	c, err := ReadGoldmaneCerts(ctx, cs, DefaultGoldmane())
	require.NoError(t, err)
	require.Equal(t, GoldmaneCerts{CertPEM: []byte("CLIENT CERT"), KeyPEM: []byte(keyMarker), CAPEM: []byte("GOLDMANE CA")}, c)
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		require.NotContains(t, s, keyMarker)
	}

	// Another operator key pair from the same CA works as client identity.
	g := DefaultGoldmane()
	g.ClientSecret = "whisker-backend-key-pair"
	c, err = ReadGoldmaneCerts(ctx, cs, g)
	require.NoError(t, err)
	require.Equal(t, "WHISKER CERT", string(c.CertPEM))
	require.Equal(t, "GOLDMANE CA", string(c.CAPEM))

	for _, tc := range []struct {
		name   string
		mutate func(*Goldmane)
		want   string
	}{
		{"missing client secret", func(g *Goldmane) { g.ClientSecret = "nope" }, "secret calico-system/nope not found"},
		{"missing CA secret", func(g *Goldmane) { g.CASecret = "gone" }, "secret calico-system/gone not found"},
		{"missing key field", func(g *Goldmane) { g.ClientSecret = "broken" }, `secret calico-system/broken has no (or an empty) "tls.key"`},
		{"missing CA field", func(g *Goldmane) { g.CAField = "ca.crt" }, `secret calico-system/goldmane-key-pair has no (or an empty) "ca.crt"`},
		{"other namespace", func(g *Goldmane) { g.Namespace = "tigera" }, "secret tigera/node-certs not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := DefaultGoldmane()
			tc.mutate(&g)
			_, err := ReadGoldmaneCerts(ctx, cs, g)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), keyMarker)
		})
	}
}

func readyPod(name string, lbls map[string]string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "calico-system", Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "goldmane", Ports: ports}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
}

func goldmaneService(target intstr.IntOrString) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "calico-system", Name: "goldmane"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"k8s-app": "goldmane"},
			Ports: []corev1.ServicePort{
				{Name: "metrics", Port: 9094, TargetPort: intstr.FromInt32(9094)},
				{Name: "grpc", Port: 7443, TargetPort: target},
			},
		},
	}
}

func TestResolveServicePod(t *testing.T) {
	sel := map[string]string{"k8s-app": "goldmane"}
	notReady := readyPod("goldmane-0-notready", sel)
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	terminating := readyPod("goldmane-0-terminating", sel)
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	terminating.Finalizers = []string{"x"}
	pending := readyPod("goldmane-0-pending", sel)
	pending.Status.Phase = corev1.PodPending
	other := readyPod("aaa-whisker", map[string]string{"k8s-app": "whisker"})
	named := corev1.ContainerPort{Name: "grpc", ContainerPort: 8443, Protocol: corev1.ProtocolTCP}
	pods := []runtime.Object{notReady, terminating, pending, other, readyPod("goldmane-b", sel, named), readyPod("goldmane-a", sel, named)}
	ctx := context.Background()

	for _, tc := range []struct {
		name   string
		target intstr.IntOrString
		want   int
	}{
		{"numeric targetPort", intstr.FromInt32(7443), 7443},
		{"named targetPort", intstr.FromString("grpc"), 8443},
		{"unset targetPort", intstr.IntOrString{}, 7443},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(append([]runtime.Object{goldmaneService(tc.target)}, pods...)...)
			got, err := ResolveServicePod(ctx, cs, "calico-system", "goldmane", 7443)
			require.NoError(t, err)
			require.Equal(t, PodTarget{Namespace: "calico-system", Pod: "goldmane-a", Port: tc.want}, got)
		})
	}

	cs := fake.NewClientset(append([]runtime.Object{goldmaneService(intstr.FromString("nope"))}, pods...)...)
	_, err := ResolveServicePod(ctx, cs, "calico-system", "goldmane", 7443)
	require.ErrorContains(t, err, `no TCP container port named "nope"`)
	_, err = ResolveServicePod(ctx, cs, "calico-system", "goldmane", 443)
	require.ErrorContains(t, err, "has no port 443 (ports: [9094 7443])")
	_, err = ResolveServicePod(ctx, cs, "calico-system", "missing", 7443)
	require.ErrorContains(t, err, "get service calico-system/missing")

	cs = fake.NewClientset(goldmaneService(intstr.FromInt32(7443)), notReady, terminating, pending, other)
	_, err = ResolveServicePod(ctx, cs, "calico-system", "goldmane", 7443)
	require.ErrorContains(t, err, `none of the 3 pods matching "k8s-app=goldmane" is running and ready`)

	headless := goldmaneService(intstr.FromInt32(7443))
	headless.Spec.Selector = nil
	cs = fake.NewClientset(headless)
	_, err = ResolveServicePod(ctx, cs, "calico-system", "goldmane", 7443)
	require.ErrorContains(t, err, "has no selector")

	single := goldmaneService(intstr.FromInt32(7443))
	single.Spec.Ports = single.Spec.Ports[1:]
	cs = fake.NewClientset(single, readyPod("goldmane-a", sel))
	got, err := ResolveServicePod(ctx, cs, "calico-system", "goldmane", 0)
	require.NoError(t, err)
	require.Equal(t, 7443, got.Port, "port 0 takes the only port")
}

func TestPortForwardURL(t *testing.T) {
	u, err := portForwardURL(&rest.Config{Host: "https://10.0.20.100:6443"}, "calico-system", "goldmane-a")
	require.NoError(t, err)
	require.Equal(t, "https://10.0.20.100:6443/api/v1/namespaces/calico-system/pods/goldmane-a/portforward", u.String())
	u, err = portForwardURL(&rest.Config{Host: "https://rancher.example/k8s/clusters/c-1"}, "calico-system", "goldmane-a")
	require.NoError(t, err)
	require.Equal(t, "https://rancher.example/k8s/clusters/c-1/api/v1/namespaces/calico-system/pods/goldmane-a/portforward", u.String())
}

// fakeDialer stands in for the SPDY/WebSocket connection to the API
// server: every data stream is a TCP connection to backend (the "pod").
type fakeDialer struct {
	block   chan struct{} // if set, Dial waits for it (an API server waiting for a kubelet)
	backend string
	dials   atomic.Int32
	mu      sync.Mutex
	urls    []string
	ports   []string
	conns   []*fakeConn
	fail    error
}

func (d *fakeDialer) factory(_ *rest.Config, u *url.URL) (httpstream.Dialer, error) {
	d.mu.Lock()
	d.urls = append(d.urls, u.String())
	d.mu.Unlock()
	return d, nil
}

func (d *fakeDialer) Dial(protocols ...string) (httpstream.Connection, string, error) {
	d.dials.Add(1)
	if d.block != nil {
		<-d.block
		return nil, "", fmt.Errorf("error dialing backend: i/o timeout")
	}
	if d.fail != nil {
		return nil, "", d.fail
	}
	c := &fakeConn{d: d, closed: make(chan bool), reqs: map[string]chan struct{}{}}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, portforward.PortForwardProtocolV1Name, nil
}

func (d *fakeDialer) lastConn() *fakeConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conns[len(d.conns)-1]
}

type fakeConn struct {
	d      *fakeDialer
	closed chan bool
	once   sync.Once
	mu     sync.Mutex
	reqs   map[string]chan struct{}
	open   []net.Conn
}

func (c *fakeConn) CreateStream(h http.Header) (httpstream.Stream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := h.Get(corev1.PortForwardRequestIDHeader)
	switch h.Get(corev1.StreamType) {
	case corev1.StreamTypeError:
		done := make(chan struct{})
		c.reqs[id] = done
		return &errStream{h: h, done: done, closed: c.closed}, nil
	case corev1.StreamTypeData:
		c.d.mu.Lock()
		c.d.ports = append(c.d.ports, h.Get(corev1.PortHeader))
		c.d.mu.Unlock()
		nc, err := net.Dial("tcp", c.d.backend)
		if err != nil {
			return nil, err
		}
		c.open = append(c.open, nc)
		return &dataStream{Conn: nc, h: h, done: c.reqs[id]}, nil
	}
	return nil, fmt.Errorf("unexpected stream type %q", h.Get(corev1.StreamType))
}

func (c *fakeConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.mu.Lock()
		for _, nc := range c.open {
			_ = nc.Close()
		}
		c.mu.Unlock()
	})
	return nil
}
func (c *fakeConn) CloseChan() <-chan bool             { return c.closed }
func (c *fakeConn) SetIdleTimeout(time.Duration)       {}
func (c *fakeConn) RemoveStreams(...httpstream.Stream) {}

type errStream struct {
	h      http.Header
	done   chan struct{}
	closed chan bool
}

func (s *errStream) Read([]byte) (int, error) {
	select {
	case <-s.done:
	case <-s.closed:
	}
	return 0, io.EOF
}
func (s *errStream) Write(p []byte) (int, error) { return len(p), nil }
func (s *errStream) Close() error                { return nil }
func (s *errStream) Reset() error                { return nil }
func (s *errStream) Headers() http.Header        { return s.h }
func (s *errStream) Identifier() uint32          { return 0 }

type dataStream struct {
	net.Conn
	h    http.Header
	done chan struct{}
	once sync.Once
}

func (s *dataStream) Close() error { return s.Conn.(*net.TCPConn).CloseWrite() }
func (s *dataStream) Reset() error {
	s.once.Do(func() { close(s.done) })
	return s.Conn.Close()
}
func (s *dataStream) Headers() http.Header { return s.h }
func (s *dataStream) Identifier() uint32   { return 0 }

func useDialer(t *testing.T, d *fakeDialer) {
	old := newDialer
	newDialer = d.factory
	t.Cleanup(func() { newDialer = old })
}

// The whole kube path short of the API server: certificates from secrets,
// service -> pod resolution, a port-forward (over a fake stream connection)
// to an in-process Goldmane, a verified mTLS client through it, and the
// forward re-established after the connection to the pod is lost.
func TestPortForwardGoldmaneEndToEnd(t *testing.T) {
	pki, err := goldmanetest.NewPKI()
	require.NoError(t, err)
	srv, err := goldmanetest.NewServer(goldmanetest.Options{PKI: pki, Now: time.Unix(1_700_000_100, 0)})
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	defer srv.Stop()
	srv.Add(&pb.Flow{Key: &pb.FlowKey{SourceName: "api-*", SourceNamespace: "shop", SourceType: pb.EndpointType_WorkloadEndpoint,
		DestName: "pub", DestType: pb.EndpointType_Network, DestPort: 443, Proto: "tcp"}, StartTime: 1_700_000_000})

	cs := fake.NewClientset(
		goldmaneService(intstr.FromInt32(7443)),
		readyPod("goldmane-7c9f-abcde", map[string]string{"k8s-app": "goldmane"}),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "calico-system", Name: "node-certs"},
			Data: map[string][]byte{"tls.crt": pki.ClientCertPEM, "tls.key": pki.ClientKeyPEM}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "calico-system", Name: "goldmane-key-pair"},
			Data: map[string][]byte{"tls.crt": pki.CAPEM, "tls.key": []byte("server key, not read")}},
	)
	d := &fakeDialer{backend: srv.Addr()}
	useDialer(t, d)
	var log syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	g := DefaultGoldmane()
	certs, err := ReadGoldmaneCerts(ctx, cs, g)
	require.NoError(t, err)
	addr, stop, err := PortForwardGoldmane(ctx, &rest.Config{Host: "https://10.0.20.100:6443"}, cs, g, &log)
	require.NoError(t, err)
	defer stop()
	require.True(t, strings.HasPrefix(addr, "127.0.0.1:"), addr)
	require.NotEqual(t, "127.0.0.1:0", addr)

	list := func() int {
		c, err := goldmane.Dial(ctx, goldmane.Config{Addr: addr, CertPEM: certs.CertPEM, KeyPEM: certs.KeyPEM, CAPEM: certs.CAPEM})
		require.NoError(t, err)
		defer c.Close()
		info, err := c.List(ctx, time.Time{}, time.Time{}, 0, func(*pb.FlowResult) error { return nil })
		require.NoError(t, err)
		return info.Results
	}
	require.Equal(t, 1, list())
	d.mu.Lock()
	require.Equal(t, []string{"https://10.0.20.100:6443/api/v1/namespaces/calico-system/pods/goldmane-7c9f-abcde/portforward"}, d.urls)
	require.Contains(t, d.ports, "7443")
	d.mu.Unlock()

	// The API server drops the stream: the forward comes back on the same
	// local port.
	require.NoError(t, d.lastConn().Close())
	require.Eventually(t, func() bool { return d.dials.Load() == 2 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, list())
	require.Contains(t, log.String(), "lost")

	stop()
	stop() // idempotent
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "stopped forward still listens")
}

func TestPortForwardDialFailure(t *testing.T) {
	cs := fake.NewClientset(goldmaneService(intstr.FromInt32(7443)), readyPod("goldmane-a", map[string]string{"k8s-app": "goldmane"}))
	d := &fakeDialer{fail: fmt.Errorf("upgrade refused: 403 Forbidden")}
	useDialer(t, d)
	_, _, err := PortForwardGoldmane(context.Background(), &rest.Config{Host: "https://x:6443"}, cs, DefaultGoldmane(), nil)
	require.ErrorContains(t, err, "port-forward to pod calico-system/goldmane-a port 7443")
	require.ErrorContains(t, err, "403 Forbidden")

	// No ready pod: resolution fails before any dial.
	cs = fake.NewClientset(goldmaneService(intstr.FromInt32(7443)))
	_, _, err = PortForwardGoldmane(context.Background(), &rest.Config{Host: "https://x:6443"}, cs, DefaultGoldmane(), nil)
	require.ErrorContains(t, err, "none of the 0 pods")
	require.Equal(t, int32(1), d.dials.Load())
}

// A dial that hangs (the API server waiting for an unreachable kubelet)
// ends with the setup context, without waiting for the dial.
func TestPortForwardHangingDialEndsWithContext(t *testing.T) {
	cs := fake.NewClientset(goldmaneService(intstr.FromInt32(7443)), readyPod("goldmane-a", map[string]string{"k8s-app": "goldmane"}))
	d := &fakeDialer{block: make(chan struct{})}
	defer close(d.block)
	useDialer(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := PortForwardGoldmane(ctx, &rest.Config{Host: "https://x:6443"}, cs, DefaultGoldmane(), nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "port-forward to pod calico-system/goldmane-a port 7443")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
