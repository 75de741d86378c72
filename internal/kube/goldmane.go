package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Goldmane names the Kubernetes objects used to reach Goldmane. Start from
// DefaultGoldmane and override what a cluster names differently.
type Goldmane struct {
	Namespace string // calico-system
	Service   string // goldmane
	Port      int    // 7443, the Service port

	// The client certificate and key: any key pair issued by the
	// operator's CA is accepted (Goldmane checks only the chain).
	ClientSecret                    string // node-certs
	ClientCertField, ClientKeyField string // tls.crt, tls.key
	// The CA that issued Goldmane's serving certificate.
	CASecret, CAField string // goldmane-key-pair, tls.crt
}

// DefaultGoldmane is what the Tigera operator creates for Calico OSS 3.30+.
func DefaultGoldmane() Goldmane {
	return Goldmane{
		Namespace: "calico-system", Service: "goldmane", Port: 7443,
		ClientSecret: "node-certs", ClientCertField: "tls.crt", ClientKeyField: "tls.key",
		CASecret: "goldmane-key-pair", CAField: "tls.crt",
	}
}

// GoldmaneCerts is PEM material for goldmane.Config.
type GoldmaneCerts struct {
	CertPEM, KeyPEM, CAPEM []byte
}

// String does not print the key.
func (c GoldmaneCerts) String() string {
	return fmt.Sprintf("GoldmaneCerts{cert: %d bytes, key: <redacted>, CA: %d bytes}", len(c.CertPEM), len(c.CAPEM))
}

// GoString is String.
func (c GoldmaneCerts) GoString() string { return c.String() }

// ReadGoldmaneCerts reads the client certificate and key and the CA from
// their secrets. Errors name secrets and keys, never their content.
func ReadGoldmaneCerts(ctx context.Context, cs kubernetes.Interface, g Goldmane) (GoldmaneCerts, error) {
	var c GoldmaneCerts
	client, err := cs.CoreV1().Secrets(g.Namespace).Get(ctx, g.ClientSecret, metav1.GetOptions{})
	if err != nil {
		return c, secretError(g.Namespace, g.ClientSecret, err)
	}
	if c.CertPEM, err = secretField(client, g.ClientCertField); err != nil {
		return GoldmaneCerts{}, err
	}
	if c.KeyPEM, err = secretField(client, g.ClientKeyField); err != nil {
		return GoldmaneCerts{}, err
	}
	if g.CASecret == g.ClientSecret {
		c.CAPEM, err = secretField(client, g.CAField)
	} else {
		var ca *corev1.Secret
		if ca, err = cs.CoreV1().Secrets(g.Namespace).Get(ctx, g.CASecret, metav1.GetOptions{}); err != nil {
			return GoldmaneCerts{}, secretError(g.Namespace, g.CASecret, err)
		}
		c.CAPEM, err = secretField(ca, g.CAField)
	}
	if err != nil {
		return GoldmaneCerts{}, err
	}
	return c, nil
}

func secretError(ns, name string, err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("kube: secret %s/%s not found (is Goldmane enabled? create the operator's Goldmane object named default): %w", ns, name, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("kube: reading secret %s/%s is forbidden: %w", ns, name, err)
	}
	return fmt.Errorf("kube: get secret %s/%s: %w", ns, name, err)
}

func secretField(s *corev1.Secret, key string) ([]byte, error) {
	b := s.Data[key]
	if len(b) == 0 {
		return nil, fmt.Errorf("kube: secret %s/%s has no (or an empty) %q", s.Namespace, s.Name, key)
	}
	return b, nil
}

// PodTarget is a pod and container port that a Service port leads to.
type PodTarget struct {
	Namespace, Pod string
	Port           int
}

// ResolveServicePod picks a ready pod behind a Service (the first by name,
// for determinism) and the container port its Service port targets, as
// `kubectl port-forward svc/...` does. port 0 accepts a Service with a
// single port.
func ResolveServicePod(ctx context.Context, cs kubernetes.Interface, namespace, service string, port int) (PodTarget, error) {
	svc, err := cs.CoreV1().Services(namespace).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		return PodTarget{}, fmt.Errorf("kube: get service %s/%s: %w", namespace, service, err)
	}
	sp, err := servicePort(svc, port)
	if err != nil {
		return PodTarget{}, err
	}
	if len(svc.Spec.Selector) == 0 {
		return PodTarget{}, fmt.Errorf("kube: service %s/%s has no selector", namespace, service)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector).String()
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return PodTarget{}, fmt.Errorf("kube: list pods of service %s/%s: %w", namespace, service, err)
	}
	ready := make([]*corev1.Pod, 0, len(pods.Items))
	for i := range pods.Items {
		if p := &pods.Items[i]; podReady(p) {
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		return PodTarget{}, fmt.Errorf("kube: service %s/%s: none of the %d pods matching %q is running and ready", namespace, service, len(pods.Items), sel)
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].Name < ready[j].Name })
	pod := ready[0]
	target, err := containerPort(pod, sp)
	if err != nil {
		return PodTarget{}, err
	}
	return PodTarget{Namespace: namespace, Pod: pod.Name, Port: target}, nil
}

func servicePort(svc *corev1.Service, port int) (corev1.ServicePort, error) {
	for _, p := range svc.Spec.Ports {
		if int(p.Port) == port || (port == 0 && len(svc.Spec.Ports) == 1) {
			return p, nil
		}
	}
	have := make([]string, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		have = append(have, strconv.Itoa(int(p.Port)))
	}
	return corev1.ServicePort{}, fmt.Errorf("kube: service %s/%s has no port %d (ports: %v)", svc.Namespace, svc.Name, port, have)
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerPort resolves a Service port's targetPort on a pod: a number, a
// named container port, or (unset) the Service port itself.
func containerPort(pod *corev1.Pod, sp corev1.ServicePort) (int, error) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return int(tp.IntVal), nil
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == tp.StrVal && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
					return int(p.ContainerPort), nil
				}
			}
		}
		return 0, fmt.Errorf("kube: pod %s/%s has no TCP container port named %q", pod.Namespace, pod.Name, tp.StrVal)
	}
	return int(sp.Port), nil
}

// portForwardURL is the API URL of a pod's portforward subresource.
func portForwardURL(cfg *rest.Config, namespace, pod string) (*url.URL, error) {
	rc, err := corev1client.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	return rc.RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL(), nil
}

// newDialer opens the streaming connection to the API server the way
// kubectl does: SPDY tunnelled over WebSockets, falling back to plain SPDY.
// Tests replace it.
var newDialer = func(cfg *rest.Config, u *url.URL) (httpstream.Dialer, error) {
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	ws, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialer(ws, dialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}

// PortForwardGoldmane forwards a local port to svc/goldmane (see
// PortForwardService).
func PortForwardGoldmane(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, g Goldmane, log io.Writer) (addr string, stop func(), err error) {
	return PortForwardService(ctx, cfg, cs, g.Namespace, g.Service, g.Port, log)
}

// PortForwardService forwards an ephemeral port on 127.0.0.1 to a ready pod
// behind the Service port and returns "127.0.0.1:<port>" once it listens.
// ctx bounds only this setup. If the forward breaks later (the pod restarts,
// the API server drops the stream), it is re-established on the same local
// port, against a freshly resolved pod, with backoff; messages go to log (nil
// discards). stop ends the forward and waits for it; it is idempotent.
//
// Goldmane's certificate names localhost and 127.0.0.1, so a TLS client
// dialing the returned address verifies it without a server-name override.
func PortForwardService(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, namespace, service string, port int, log io.Writer) (addr string, stop func(), err error) {
	if log == nil {
		log = io.Discard
	}
	f := &forwarder{cfg: cfg, cs: cs, ns: namespace, svc: service, port: port, log: log, done: make(chan struct{})}
	cur, err := f.forward(ctx)
	if err != nil {
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	go f.supervise(sctx, cur)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-f.done
		})
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(f.localPort))), stop, nil
}

type forwarder struct {
	cfg       *rest.Config
	cs        kubernetes.Interface
	ns, svc   string
	port      int
	log       io.Writer
	localPort uint16
	done      chan struct{}
}

// activeForward is one running portforward.PortForwarder.
type activeForward struct {
	pod  string
	stop chan struct{}
	errc chan error
}

func (a *activeForward) close() {
	close(a.stop)
	<-a.errc
}

// forward resolves a pod and forwards to it, on f.localPort (0 the first
// time: an ephemeral port, then kept).
func (f *forwarder) forward(ctx context.Context) (*activeForward, error) {
	t, err := ResolveServicePod(ctx, f.cs, f.ns, f.svc, f.port)
	if err != nil {
		return nil, err
	}
	u, err := portForwardURL(f.cfg, t.Namespace, t.Pod)
	if err != nil {
		return nil, err
	}
	d, err := newDialer(f.cfg, u)
	if err != nil {
		return nil, fmt.Errorf("kube: port-forward dialer: %w", err)
	}
	a := &activeForward{pod: t.Pod, stop: make(chan struct{}), errc: make(chan error, 1)}
	ready := make(chan struct{})
	ports := []string{fmt.Sprintf("%d:%d", f.localPort, t.Port)}
	pf, err := portforward.NewOnAddresses(d, []string{"127.0.0.1"}, ports, a.stop, ready, io.Discard, f.log)
	if err != nil {
		return nil, fmt.Errorf("kube: port-forward: %w", err)
	}
	go func() { a.errc <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-a.errc:
		if err == nil {
			err = errors.New("stopped before it was ready")
		}
		return nil, fmt.Errorf("kube: port-forward to pod %s/%s port %d: %w", t.Namespace, t.Pod, t.Port, err)
	case <-ctx.Done():
		// The dial may still be waiting for the API server (which waits
		// for the kubelet): stop without waiting for it, so ctx bounds
		// the setup.
		close(a.stop)
		return nil, fmt.Errorf("kube: port-forward to pod %s/%s port %d: %w", t.Namespace, t.Pod, t.Port, ctx.Err())
	}
	got, err := pf.GetPorts()
	if err != nil || len(got) != 1 {
		a.close()
		return nil, fmt.Errorf("kube: port-forward: local port unknown: %v", err)
	}
	f.localPort = got[0].Local
	fmt.Fprintf(f.log, "kube: forwarding 127.0.0.1:%d -> pod %s/%s port %d\n", f.localPort, t.Namespace, t.Pod, t.Port)
	return a, nil
}

// supervise re-establishes the forward whenever it breaks, until ctx ends.
func (f *forwarder) supervise(ctx context.Context, cur *activeForward) {
	defer close(f.done)
	const minDelay, maxDelay = 500 * time.Millisecond, 30 * time.Second
	for {
		select {
		case <-ctx.Done():
			cur.close()
			return
		case err := <-cur.errc:
			if err == nil {
				err = errors.New("closed")
			}
			fmt.Fprintf(f.log, "kube: port-forward to pod %s/%s lost: %v; re-establishing\n", f.ns, cur.pod, err)
		}
		delay := minDelay
		for {
			next, err := f.forward(ctx)
			if err == nil {
				cur = next
				break
			}
			if ctx.Err() != nil {
				return
			}
			wait := delay/2 + rand.N(delay/2+1)
			fmt.Fprintf(f.log, "kube: port-forward: %v; retrying in %s\n", err, wait.Round(time.Millisecond))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			delay = min(2*delay, maxDelay)
		}
	}
}
