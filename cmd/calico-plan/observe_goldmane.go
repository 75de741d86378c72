package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/calico-plan/calico-plan/flows/goldmane"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/kube"
	"github.com/calico-plan/calico-plan/internal/observe"
)

// goldmaneFlags are observe's flags for Calico OSS 3.30+ Goldmane.
type goldmaneFlags struct {
	cmd        *cobra.Command
	addr       string
	cert, key  string
	ca         string
	serverName string
	insecure   bool
	kube       bool
	kubeWait   time.Duration
	live       clusterFlags
	k          kube.Goldmane
	id         string
	follow     bool
	checkpoint time.Duration
	pageSize   int
	tee        string
}

const goldmaneHelp = `

Calico OSS 3.30+ (Goldmane):
  Goldmane keeps only about one hour of flows in memory, so an allowlist needs
  observe to run at least every 30 minutes (a CronJob: see deploy/) or
  continuously with --follow. Each run resumes from the store's watermark for
  the source; the same bucket is never counted twice. Windows follow Goldmane's
  clock, not this machine's. What Goldmane no longer had (older than its hour,
  or lost when Goldmane restarted) is recorded as an observation gap, which
  restarts the stability clock; a quiet period Goldmane still retains is not.

  From a workstation, --goldmane-kube reads the client certificate from the
  node-certs secret and the CA from goldmane-key-pair in calico-system, and
  port-forwards to svc/goldmane itself. With your own port-forward:
    kubectl -n calico-system port-forward svc/goldmane 7443:7443
    kubectl -n calico-system get secret node-certs -o jsonpath='{.data.tls\.crt}' | base64 -d > tls.crt
    kubectl -n calico-system get secret node-certs -o jsonpath='{.data.tls\.key}' | base64 -d > tls.key
    kubectl -n calico-system get secret goldmane-key-pair -o jsonpath='{.data.tls\.crt}' | base64 -d > ca.crt
    calico-plan observe --goldmane localhost:7443 --goldmane-cert tls.crt --goldmane-key tls.key --goldmane-ca ca.crt

  Goldmane keeps no history, so 'calico-plan check' in CI has no flow files to
  replay. --tee FILE appends what each run reads (each flow once: runs resume
  at the watermark) as Goldmane JSON lines; keep FILE beside the store (or
  rotate it) and give it to 'check --from FILE'. Without it, 'check
  --from-store' replays the store's evidence.`

const goldmaneExamples = `

  # Calico OSS: one command from a workstation (kubeconfig, secrets, port-forward)
  calico-plan observe --goldmane-kube

  # continuously, checkpointing every minute (Ctrl-C saves and stops)
  calico-plan observe --goldmane-kube --follow

  # and keep the flows as a file for 'calico-plan check' in CI
  calico-plan observe --goldmane-kube --tee flows/goldmane.json`

func addGoldmaneFlags(cmd *cobra.Command) *goldmaneFlags {
	f := &goldmaneFlags{cmd: cmd, k: kube.DefaultGoldmane()}
	fs := cmd.Flags()
	fs.StringVar(&f.addr, "goldmane", "", "Goldmane gRPC address HOST:PORT (Calico OSS 3.30+; e.g. localhost:7443 behind a port-forward)")
	fs.StringVar(&f.cert, "goldmane-cert", "", "client certificate PEM (from secret calico-system/node-certs, key tls.crt)")
	fs.StringVar(&f.key, "goldmane-key", "", "client private key PEM (from secret calico-system/node-certs, key tls.key)")
	fs.StringVar(&f.ca, "goldmane-ca", "", "CA certificate PEM (from secret calico-system/goldmane-key-pair, key tls.crt)")
	fs.StringVar(&f.serverName, "goldmane-server-name", "", "name the server certificate must carry (default: the host of --goldmane)")
	fs.BoolVar(&f.insecure, "goldmane-insecure-skip-verify", false, "do not verify Goldmane's certificate (insecure; prints a warning)")
	fs.BoolVar(&f.kube, "goldmane-kube", false, "read the certificates with your kubeconfig and port-forward to svc/goldmane")
	fs.DurationVar(&f.kubeWait, "goldmane-kube-timeout", 30*time.Second, "how long --goldmane-kube may take to read the secrets and open the port-forward (the API server waits for the pod's kubelet)")
	f.live.registerLive(cmd)
	fs.StringVar(&f.k.Namespace, "goldmane-namespace", f.k.Namespace, "namespace of Goldmane and its secrets (--goldmane-kube)")
	fs.StringVar(&f.k.Service, "goldmane-service", f.k.Service, "Goldmane Service name (--goldmane-kube)")
	fs.IntVar(&f.k.Port, "goldmane-port", f.k.Port, "Goldmane Service port (--goldmane-kube)")
	fs.StringVar(&f.k.ClientSecret, "goldmane-client-secret", f.k.ClientSecret, "secret with the client certificate and key (--goldmane-kube)")
	fs.StringVar(&f.k.CASecret, "goldmane-ca-secret", f.k.CASecret, "secret with the CA certificate (--goldmane-kube)")
	fs.StringVar(&f.id, "goldmane-id", "", "stable name of this Goldmane in the store (default: the address, or kube/<context>/<namespace>/<service>)")
	fs.BoolVar(&f.follow, "follow", false, "stream continuously from Goldmane, checkpointing into the store, until interrupted")
	fs.DurationVar(&f.checkpoint, "checkpoint", time.Minute, "how often --follow saves the store")
	fs.IntVar(&f.pageSize, "goldmane-page-size", 1000, "flows per List page")
	fs.StringVar(&f.tee, "tee", "", "also append every flow read from Goldmane to FILE as Goldmane JSON lines, which 'check --from' and 'observe --from' read (flow files for CI on Calico OSS)")
	if fs.Lookup("since") == nil {
		fs.String("since", "", "first observe of a source: read the last DURATION (e.g. 60m, 7d)")
	}
	if fs.Lookup("allow-partial") == nil {
		fs.Bool("allow-partial", false, "keep data read with errors, with a warning recorded in the store")
	}
	cmd.Long += goldmaneHelp
	cmd.Example += goldmaneExamples
	return f
}

func (f *goldmaneFlags) enabled() bool { return f.addr != "" || f.kube }

// runGoldmane observes Goldmane into the store (List, or Stream with --follow).
func runGoldmane(ctx context.Context, g *globals, w *storeWriter, f *goldmaneFlags) error {
	st := w.st
	if f.addr != "" && f.kube {
		return fmt.Errorf("give --goldmane HOST:PORT or --goldmane-kube, not both")
	}
	cfg := goldmane.Config{Addr: f.addr, CertFile: f.cert, KeyFile: f.key, CAFile: f.ca, ServerName: f.serverName, InsecureSkipVerify: f.insecure}
	id := f.id
	if f.kube {
		rc, err := kube.RESTConfig(f.live.kubeconfig, f.live.context)
		if err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return err
		}
		if f.kubeWait <= 0 {
			return fmt.Errorf("--goldmane-kube-timeout must be positive")
		}
		setup, cancel := context.WithTimeout(ctx, f.kubeWait)
		defer cancel()
		certs, err := kube.ReadGoldmaneCerts(setup, cs, f.k)
		if err != nil {
			return goldmaneKubeErr(setup, f, err)
		}
		fmt.Fprintf(g.stderr, "goldmane-kube: client certificate from secret %s/%s, CA from secret %s/%s; port-forward to svc/%s port %d\n",
			f.k.Namespace, f.k.ClientSecret, f.k.Namespace, f.k.CASecret, f.k.Service, f.k.Port)
		addr, stop, err := kube.PortForwardGoldmane(setup, rc, cs, f.k, g.stderr)
		if err != nil {
			return goldmaneKubeErr(setup, f, err)
		}
		defer stop()
		// The server certificate names localhost, so the forward verifies.
		cfg.Addr, cfg.CertPEM, cfg.KeyPEM, cfg.CAPEM = addr, certs.CertPEM, certs.KeyPEM, certs.CAPEM
		if id == "" {
			ctxName := f.live.context
			if ctxName == "" {
				ctxName = "current-context"
			}
			id = fmt.Sprintf("kube/%s/%s/%s", ctxName, f.k.Namespace, f.k.Service)
		}
	} else {
		if f.cert == "" || f.key == "" || (f.ca == "" && !f.insecure) {
			return fmt.Errorf("--goldmane needs --goldmane-cert, --goldmane-key and --goldmane-ca (Goldmane requires mutual TLS); or use --goldmane-kube")
		}
		if id == "" {
			id = f.addr
		}
	}
	if f.insecure {
		fmt.Fprintln(g.stderr, "warning: --goldmane-insecure-skip-verify: Goldmane's certificate is not verified")
	}
	since, err := sinceFlag(f.cmd)
	if err != nil {
		return err
	}
	allowPartial, _ := f.cmd.Flags().GetBool("allow-partial")
	client, err := goldmane.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	opt := observe.GoldmaneOptions{Client: client, SourceID: "goldmane:" + id, Since: since, PageSize: f.pageSize, AllowPartial: allowPartial, Log: g.stderr}
	if f.tee != "" {
		tf, err := os.OpenFile(f.tee, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("--tee: %w", err)
		}
		defer tf.Close()
		opt.Tee = tf
	}
	if f.follow {
		fmt.Fprintf(g.stderr, "following Goldmane %s into %s (checkpoint every %s; Ctrl-C to stop)\n", id, st.Dir, f.checkpoint)
		return observe.GoldmaneFollow(ctx, st, observe.FollowOptions{GoldmaneOptions: opt, Checkpoint: f.checkpoint, Save: w.save})
	}
	res, err := observe.GoldmaneList(ctx, st, opt)
	if err != nil {
		return err
	}
	if err := w.save(); err != nil {
		return err
	}
	out := g.stderr
	fmt.Fprintf(out, "goldmane %s: %s to %s, %d flows, %d used for egress allowlists\n", id, res.From.Format(time.RFC3339), res.To.Format(time.RFC3339), res.Results, res.Stats.Used)
	if res.Unmapped > 0 {
		fmt.Fprintf(out, "warning: %d flows could not be mapped (a newer Calico?): %s\n", res.Unmapped, strings.Join(res.Examples, "; "))
	}
	for _, gp := range res.Gaps {
		fmt.Fprintf(out, "warning: observation gap %s to %s: %s\n", gp.From, gp.To, gp.Reason)
	}
	fmt.Fprintf(out, "store: %s\n", st.Dir)
	return nil
}

// goldmaneKubeErr explains a --goldmane-kube setup failure; one that ran
// out of --goldmane-kube-timeout says so and what to check.
func goldmaneKubeErr(setup context.Context, f *goldmaneFlags, err error) error {
	if !errors.Is(setup.Err(), context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("--goldmane-kube: no port-forward to %s/%s within %s (--goldmane-kube-timeout): %w; check that its pod runs and that the API server reaches the pod's kubelet (kubectl -n %s port-forward svc/%s %d:%d), or port-forward yourself and use --goldmane",
		f.k.Namespace, f.k.Service, f.kubeWait, err, f.k.Namespace, f.k.Service, f.k.Port, f.k.Port)
}

// sinceFlag reads --since ("60m", "-60m", "7d"); empty means the source's default.
func sinceFlag(cmd *cobra.Command) (time.Duration, error) {
	s, _ := cmd.Flags().GetString("since")
	s = strings.TrimPrefix(strings.TrimSpace(s), "-")
	if s == "" {
		return 0, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("--since: %w", err)
	}
	return d, nil
}
