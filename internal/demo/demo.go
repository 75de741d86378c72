// Package demo generates deterministic, realistic synthetic Calico flow logs
// for a homelab-like cluster: namespaces in five tiers, DNS through
// NodeLocal DNSCache, Postgres/Redis/monitoring/Traefik destinations,
// public HTTPS, a weekly CronJob, denied flows, a namespace already staged
// with a would-deny flow, and dst-reported duplicates of pod-to-pod flows.
// Tests, `make demo` and benchmarks use it.
package demo

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/calico-plan/calico-plan/flows"
)

// Options shape a generated dataset.
type Options struct {
	// Start is the first window's start (UTC); Days how many days follow.
	Start time.Time
	Days  int
	// Since, when set, emits only the windows that start at or after it:
	// the same traffic as the whole run (the random sequence is the same),
	// so that a later observe continues the dataset without counting the
	// earlier days twice.
	Since time.Time
	// Interval is the flow-log export window (Calico Enterprise flushes
	// every 300 s; Goldmane every 15 s). Longer windows keep datasets small.
	Interval time.Duration
	// Seed makes the jitter in counters reproducible.
	Seed uint64
	// Replicas multiplies the cluster: replica i>0 adds namespaces with an
	// "-rN" suffix (same shape), for benchmarks that need many entries.
	Replicas int
}

// DefaultOptions is the committed demo dataset: 14 days from 2026-11-13 in
// 6-hour windows.
func DefaultOptions() Options {
	return Options{Start: time.Date(2026, 11, 13, 0, 0, 0, 0, time.UTC), Days: 14, Interval: 6 * time.Hour, Seed: 42, Replicas: 1}
}

// Namespace is a namespace of the synthetic cluster.
type Namespace struct {
	Name   string
	Labels map[string]string
}

type workload struct {
	ns     string
	prefix string // name_aggr, e.g. "api-7d9c8f5b6-*"
	labels []string
	sa     string
}

type peerKind int

const (
	toPod peerKind = iota
	toNet
	toHost
	toNetworkSet
)

type conn struct {
	from  *workload
	kind  peerKind
	to    *workload    // toPod
	net   string       // "pub"/"pvt" for toNet
	ips   []netip.Addr // toNet: addresses (used when level <= 1)
	set   string       // toNetworkSet: GlobalNetworkSet name
	proto flows.Protocol
	port  uint16
	svc   *flows.Service
	// per window: connections and bytes (jittered)
	conns, bytes int64
	action       flows.Action
	level        int // Calico aggregation level for this traffic (0-3)
	// active days (relative to Start, inclusive from, exclusive to; to 0 = end)
	fromDay, toDay int
	// cron: only in the window containing weekday/hour (weekly job)
	cron    bool
	cronDOW time.Weekday
	cronHr  int
	// every: emit only every Nth window (sparse traffic)
	every int
	// staged: the namespace runs a staged allowlist from this day on;
	// wouldDeny marks traffic that policy would deny.
	stagedFrom int
	wouldDeny  bool
	// allowedFrom: from this day on the staged policy allows it (the
	// operator folded it in and applied the staged policy again; 0: never).
	allowedFrom int
}

// topology builds the synthetic topology for one replica suffix.
func topology(sfx string) ([]Namespace, []*conn) {
	d := newDemoTopology(sfx)
	d.tiers4()
	d.tiersBelow4()
	return demoNamespaces(sfx), d.conns
}

// demoNamespaces are the synthetic cluster's namespaces with their tiers.
func demoNamespaces(sfx string) []Namespace {
	ns := func(name, tier string) Namespace {
		l := map[string]string{"kubernetes.io/metadata.name": name + sfx}
		if tier != "" {
			l["tier"] = tier
		}
		return Namespace{Name: name + sfx, Labels: l}
	}
	return []Namespace{
		ns("kube-system", ""), ns("traefik", "0-core"), ns("vault", "0-core"),
		ns("dbaas", "1-cluster"), ns("redis", "1-cluster"), ns("monitoring", "1-cluster"), ns("authentik", "1-cluster"),
		ns("immich", "2-gpu"), ns("llama-cpp", "2-gpu"),
		ns("woodpecker", "3-edge"), ns("nextcloud", "3-edge"), ns("vaultwarden", "3-edge"), ns("forgejo", "3-edge"), ns("mailserver", "3-edge"),
		ns("recruiter-responder", "4-aux"), ns("n8n", "4-aux"), ns("servarr", "4-aux"), ns("f1-stream", "4-aux"), ns("proxy", "4-aux"), ns("tasks", "4-aux"),
	}
}

// demoTopology holds one replica's workloads, Services and addresses while
// its connections are added (in a fixed order: the output is byte-stable).
type demoTopology struct {
	sfx                         string
	conns                       []*conn
	coredns                     *workload
	pg                          *workload
	mysql                       *workload
	redis                       *workload
	loki                        *workload
	prom                        *workload
	alertmgr                    *workload
	traefik                     *workload
	authentik                   *workload
	vault                       *workload
	mail                        *workload
	forgejo                     *workload
	proxyW                      *workload
	immich                      *workload
	llama                       *workload
	rrAPI                       *workload
	n8n                         *workload
	servarr                     *workload
	sonarr                      *workload
	f1                          *workload
	tasks                       *workload
	wp                          *workload
	wpAgent                     *workload
	nc                          *workload
	ncBackup                    *workload
	vw                          *workload
	pgSvc, redisSvc             *flows.Service
	nodeLocal, telegram, github []netip.Addr
}

func newDemoTopology(sfx string) *demoTopology {
	d := &demoTopology{sfx: sfx}
	w := func(n, prefix string, labels ...string) *workload {
		return &workload{ns: n + sfx, prefix: prefix, labels: labels, sa: "default"}
	}
	d.coredns = w("kube-system", "coredns-565d847f94-*", "k8s-app=kube-dns", "pod-template-hash=565d847f94")
	d.pg = w("dbaas", "pg-cluster-*", "cnpg.io/cluster=pg-cluster", "cnpg.io/instanceRole=primary", "role=primary", "controller-revision-hash=pg-cluster-7")
	d.mysql = w("dbaas", "mysql-*", "app.kubernetes.io/name=mysql", "statefulset.kubernetes.io/pod-name=mysql-0", "controller-revision-hash=mysql-5f7c")
	d.redis = w("redis", "redis-master-*", "app.kubernetes.io/name=redis", "app.kubernetes.io/component=master", "controller-revision-hash=redis-master-6d")
	d.loki = w("monitoring", "loki-*", "app.kubernetes.io/name=loki", "controller-revision-hash=loki-8b")
	d.prom = w("monitoring", "prometheus-server-5d8f7c9b4-*", "app.kubernetes.io/name=prometheus", "app.kubernetes.io/component=server", "pod-template-hash=5d8f7c9b4")
	d.alertmgr = w("monitoring", "prometheus-alertmanager-*", "app.kubernetes.io/name=alertmanager", "controller-revision-hash=am-1")
	d.traefik = w("traefik", "traefik-6b9d7c5f8-*", "app.kubernetes.io/name=traefik", "pod-template-hash=6b9d7c5f8")
	d.authentik = w("authentik", "authentik-server-7f6d5-*", "app.kubernetes.io/name=authentik", "app.kubernetes.io/component=server", "pod-template-hash=7f6d5")
	d.vault = w("vault", "vault-*", "app.kubernetes.io/name=vault", "vault-active=true", "controller-revision-hash=vault-9")
	d.mail = w("mailserver", "mailserver-5c6d8-*", "app=mailserver", "pod-template-hash=5c6d8")
	d.forgejo = w("forgejo", "forgejo-7c8d9-*", "app=forgejo", "pod-template-hash=7c8d9")
	d.proxyW = w("proxy", "proxy-egress-uk-6d7f-*", "app=proxy-egress-uk", "pod-template-hash=6d7f")
	d.immich = w("immich", "immich-server-5b7c-*", "app.kubernetes.io/name=immich", "app.kubernetes.io/component=server", "pod-template-hash=5b7c")
	d.llama = w("llama-cpp", "llama-swap-6c9f-*", "app=llama-swap", "pod-template-hash=6c9f")

	d.rrAPI = w("recruiter-responder", "recruiter-responder-api-7d9c8f5b6-*", "app=recruiter-responder", "component=api", "pod-template-hash=7d9c8f5b6")
	d.n8n = w("n8n", "n8n-5f6b7c8d9-*", "app.kubernetes.io/name=n8n", "pod-template-hash=5f6b7c8d9")
	d.servarr = w("servarr", "qbittorrent-6f7d8-*", "app=qbittorrent", "pod-template-hash=6f7d8")
	d.sonarr = w("servarr", "sonarr-7b8c9-*", "app=sonarr", "pod-template-hash=7b8c9")
	d.f1 = w("f1-stream", "f1-stream-5d6e7-*", "app=f1-stream", "pod-template-hash=5d6e7")
	d.tasks = w("tasks", "tasks-api-6a7b8-*", "app=tasks", "pod-template-hash=6a7b8")
	d.wp = w("woodpecker", "woodpecker-server-5f8d-*", "app.kubernetes.io/name=woodpecker", "app.kubernetes.io/component=server", "pod-template-hash=5f8d")
	d.wpAgent = w("woodpecker", "woodpecker-agent-*", "app.kubernetes.io/name=woodpecker", "app.kubernetes.io/component=agent", "controller-revision-hash=wa-3")
	d.nc = w("nextcloud", "nextcloud-7c6d5-*", "app.kubernetes.io/name=nextcloud", "pod-template-hash=7c6d5")
	d.ncBackup = w("nextcloud", "nextcloud-backup-29391660-*", "app.kubernetes.io/name=nextcloud-backup", "job-name=nextcloud-backup-29391660", "batch.kubernetes.io/controller-uid=5c1d0b8e-1b2c-4d3e-9f00-0a1b2c3d4e5f")
	d.vw = w("vaultwarden", "vaultwarden-6d5c4-*", "app=vaultwarden", "pod-template-hash=6d5c4")

	d.pgSvc = d.svc("dbaas", "pg-cluster-rw", "postgres", 5432)
	d.redisSvc = d.svc("redis", "redis-master", "tcp-redis", 6379)
	d.nodeLocal = ips("169.254.20.10")
	d.telegram = ips("149.154.167.220", "149.154.167.41", "149.154.166.110", "91.108.56.130")
	d.github = ips("140.82.121.3", "140.82.121.4", "140.82.112.3")
	return d
}

func ips(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, v := range s {
		out[i] = netip.MustParseAddr(v)
	}
	return out
}

func (d *demoTopology) svc(ns, name, portName string, port uint16) *flows.Service {
	return &flows.Service{Namespace: ns + d.sfx, Name: name, PortName: portName, Port: port}
}

// add adds a connection with the defaults (TCP, allowed, aggregation level 2).
func (d *demoTopology) add(c *conn) *conn {
	if c.proto == 0 {
		c.proto = flows.ProtoTCP
	}
	if c.action == 0 {
		c.action = flows.ActionAllow
	}
	if c.level == 0 {
		c.level = 2
	}
	d.conns = append(d.conns, c)
	return c
}

// dns adds a workload's DNS traffic to NodeLocal DNSCache.
func (d *demoTopology) dns(from *workload, level int) {
	d.add(&conn{from: from, kind: toNet, net: "pub", ips: d.nodeLocal, proto: flows.ProtoUDP, port: 53, conns: 120, bytes: 24000, level: level})
	d.add(&conn{from: from, kind: toNet, net: "pub", ips: d.nodeLocal, proto: flows.ProtoTCP, port: 53, conns: 2, bytes: 900, level: level, every: 4})
}

func (d *demoTopology) pod(from, to *workload, port uint16, s *flows.Service, conns, bytes int64) *conn {
	return d.add(&conn{from: from, kind: toPod, to: to, port: port, svc: s, conns: conns, bytes: bytes})
}

// tiers4 adds DNS for every workload, kube-dns upstream and the 4-aux
// namespaces' traffic.
func (d *demoTopology) tiers4() {
	for _, x := range []*workload{d.rrAPI, d.n8n, d.servarr, d.sonarr, d.f1, d.tasks, d.wp, d.wpAgent, d.nc, d.vw, d.immich, d.llama, d.authentik, d.prom, d.traefik, d.forgejo, d.mail, d.proxyW} {
		d.dns(x, 2)
	}
	d.dns(d.ncBackup, 2)
	// kube-dns upstream (unlabelled kube-system; excluded from rollout)
	d.add(&conn{from: d.coredns, kind: toNet, net: "pvt", ips: ips("10.0.20.1"), proto: flows.ProtoUDP, port: 53, conns: 300, bytes: 60000, level: 1})

	// recruiter-responder (4-aux): the pilot. Staged from day 11 with one
	// would-deny flow to an API host it never used before.
	d.pod(d.rrAPI, d.pg, 5432, d.pgSvc, 8, 40000)
	d.pod(d.rrAPI, d.redis, 6379, d.redisSvc, 20, 9000)
	d.pod(d.rrAPI, d.traefik, 8443, nil, 2, 12000)
	d.add(&conn{from: d.rrAPI, kind: toNet, net: "pub", ips: d.telegram, port: 443, conns: 12, bytes: 80000, level: 1})
	d.add(&conn{from: d.rrAPI, kind: toNet, net: "pub", ips: ips("9.9.9.9"), port: 853, conns: 1, bytes: 300, level: 1, action: flows.ActionDeny, every: 3})
	// make demo folds it in on 2026-12-03 (day 20): the staged policy then
	// allows it.
	d.add(&conn{from: d.rrAPI, kind: toNet, net: "pub", ips: ips("104.18.32.7"), port: 443, conns: 1, bytes: 2000, level: 1, fromDay: 12, wouldDeny: true, allowedFrom: 20})
	for _, c := range d.conns {
		if c.from == d.rrAPI {
			c.stagedFrom = 11
		}
	}
	// n8n (4-aux): learns a new API on the last day.
	d.pod(d.n8n, d.pg, 5432, d.pgSvc, 6, 30000)
	d.pod(d.n8n, d.mail, 587, d.svc("mailserver", "mailserver", "submission", 587), 1, 4000).every = 2
	d.add(&conn{from: d.n8n, kind: toNet, net: "pub", port: 443, conns: 30, bytes: 200000})
	d.add(&conn{from: d.n8n, kind: toNet, net: "pub", ips: ips("35.190.80.1"), port: 8443, conns: 2, bytes: 3000, level: 1, fromDay: 13})
	// servarr (4-aux): BitTorrent, many public peers, a denied IRC attempt.
	d.add(&conn{from: d.servarr, kind: toNet, net: "pub", proto: flows.ProtoTCP, port: 6881, conns: 300, bytes: 5000000})
	d.add(&conn{from: d.servarr, kind: toNet, net: "pub", proto: flows.ProtoUDP, port: 6881, conns: 500, bytes: 3000000})
	d.add(&conn{from: d.servarr, kind: toNet, net: "pub", port: 6667, conns: 1, bytes: 120, action: flows.ActionDeny, every: 5})
	d.pod(d.sonarr, d.servarr, 8080, d.svc("servarr", "qbittorrent", "http", 8080), 10, 30000)
	d.add(&conn{from: d.sonarr, kind: toNet, net: "pub", port: 443, conns: 5, bytes: 60000})
	d.add(&conn{from: d.sonarr, kind: toNetworkSet, set: "usenet-providers", port: 563, conns: 3, bytes: 900000})
	// f1-stream (4-aux): deployed on day 9, so not observed long enough.
	for _, c := range d.conns {
		if c.from == d.f1 {
			c.fromDay = 9
		}
	}
	d.add(&conn{from: d.f1, kind: toNet, net: "pub", port: 443, conns: 40, bytes: 9000000, fromDay: 9})
	d.pod(d.f1, d.proxyW, 8888, d.svc("proxy", "proxy-egress-uk", "http", 8888), 4, 400000).fromDay = 9
	// tasks (4-aux)
	d.pod(d.tasks, d.mysql, 3306, d.svc("dbaas", "mysql", "mysql", 3306), 5, 12000)
	d.pod(d.tasks, d.redis, 6379, d.redisSvc, 3, 2000)
	// proxy (4-aux): forwards to the internet.
	d.add(&conn{from: d.proxyW, kind: toNet, net: "pub", port: 443, conns: 20, bytes: 800000})
}

// tiersBelow4 adds the traffic of the 3-edge, 2-gpu, 1-cluster and 0-core
// namespaces.
func (d *demoTopology) tiersBelow4() {
	// woodpecker (3-edge): CI; talks to the Kubernetes API and Terraform state by IP.
	d.pod(d.wp, d.forgejo, 3000, d.svc("forgejo", "forgejo", "http", 3000), 6, 50000)
	d.pod(d.wp, d.vault, 8200, d.svc("vault", "vault-active", "http", 8200), 2, 3000)
	d.pod(d.wp, d.pg, 5432, d.pgSvc, 2, 8000)
	d.add(&conn{from: d.wpAgent, kind: toNet, net: "pvt", ips: ips("10.0.20.100"), port: 6443, conns: 10, bytes: 90000, level: 1})
	d.add(&conn{from: d.wpAgent, kind: toNet, net: "pvt", ips: ips("10.0.20.200"), port: 5432, conns: 4, bytes: 40000, level: 1})
	d.add(&conn{from: d.wpAgent, kind: toNet, net: "pub", ips: d.github, port: 443, conns: 8, bytes: 700000, level: 1})
	// nextcloud (3-edge) and its weekly backup CronJob (Sundays 03:00 UTC).
	d.pod(d.nc, d.pg, 5432, d.pgSvc, 10, 60000)
	d.pod(d.nc, d.redis, 6379, d.redisSvc, 30, 15000)
	d.add(&conn{from: d.nc, kind: toNet, net: "pub", port: 443, conns: 3, bytes: 30000})
	d.add(&conn{from: d.ncBackup, kind: toNet, net: "pub", ips: ips("52.95.150.10", "52.95.150.12"), port: 443, conns: 2, bytes: 900000000, level: 1})
	for _, c := range d.conns {
		if c.from == d.ncBackup {
			c.cron, c.cronDOW, c.cronHr, c.every = true, time.Sunday, 3, 0
		}
	}
	// vaultwarden (3-edge)
	d.pod(d.vw, d.pg, 5432, d.pgSvc, 4, 20000)
	d.pod(d.vw, d.mail, 587, d.svc("mailserver", "mailserver", "submission", 587), 1, 3000).every = 4
	// forgejo, mailserver (3-edge)
	d.pod(d.forgejo, d.pg, 5432, d.pgSvc, 5, 20000)
	d.add(&conn{from: d.forgejo, kind: toNet, net: "pub", port: 443, conns: 2, bytes: 90000})
	d.add(&conn{from: d.mail, kind: toNet, net: "pub", port: 25, conns: 3, bytes: 40000})
	// 2-gpu, 1-cluster, 0-core
	d.pod(d.immich, d.pg, 5432, d.pgSvc, 8, 70000)
	d.pod(d.immich, d.redis, 6379, d.redisSvc, 8, 5000)
	d.pod(d.immich, d.llama, 8080, nil, 1, 9000).every = 2
	d.pod(d.authentik, d.pg, 5432, d.pgSvc, 12, 90000)
	d.pod(d.authentik, d.redis, 6379, d.redisSvc, 15, 8000)
	d.pod(d.prom, d.loki, 3100, nil, 10, 30000)
	d.pod(d.prom, d.alertmgr, 9093, nil, 2, 2000)
	d.add(&conn{from: d.prom, kind: toHost, port: 9100, conns: 30, bytes: 300000, level: 1, ips: ips("10.0.20.11", "10.0.20.12", "10.0.20.13")})
	d.pod(d.traefik, d.authentik, 9000, d.svc("authentik", "authentik", "http", 9000), 40, 400000)
	d.pod(d.traefik, d.nc, 80, d.svc("nextcloud", "nextcloud", "http", 80), 30, 3000000)
	d.pod(d.traefik, d.vw, 80, d.svc("vaultwarden", "vaultwarden", "http", 80), 10, 200000)
	d.pod(d.llama, d.vault, 8200, nil, 1, 1000).every = 4
}

// Namespaces returns the synthetic cluster's namespaces with their labels.
func Namespaces(opt Options) []Namespace {
	var out []Namespace
	for r := 0; r < max(1, opt.Replicas); r++ {
		ns, _ := topology(suffix(r))
		out = append(out, ns...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func suffix(r int) string {
	if r == 0 {
		return ""
	}
	return fmt.Sprintf("-r%d", r)
}

// Generate emits every flow of the dataset in time order. The *Flow passed
// to emit is reused after emit returns.
func Generate(opt Options, emit func(*flows.Flow) error) error {
	return generate(opt, emit, nil)
}

func generate(opt Options, emit func(*flows.Flow) error, pl *packetLog) error {
	if opt.Interval <= 0 || opt.Days <= 0 {
		return fmt.Errorf("demo: Days and Interval must be positive")
	}
	var all []*conn
	for r := 0; r < max(1, opt.Replicas); r++ {
		_, c := topology(suffix(r))
		all = append(all, c...)
	}
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	start := opt.Start.UTC()
	end := start.Add(time.Duration(opt.Days) * 24 * time.Hour)
	var f flows.Flow
	win := 0
	for t := start; t.Before(end); t, win = t.Add(opt.Interval), win+1 {
		if pl != nil {
			if err := pl.flush(); err != nil {
				return err
			}
		}
		day := int(t.Sub(start) / (24 * time.Hour))
		wEnd := t.Add(opt.Interval)
		for _, c := range all {
			if day < c.fromDay || (c.toDay > 0 && day >= c.toDay) {
				continue
			}
			if c.every > 1 && win%c.every != 0 {
				continue
			}
			if c.cron {
				ct := time.Date(t.Year(), t.Month(), t.Day(), c.cronHr, 0, 0, 0, time.UTC)
				if t.Weekday() != c.cronDOW || ct.Before(t) || !ct.Before(wEnd) {
					continue
				}
			}
			jit := func(v int64) int64 { return max(1, v/2+rng.Int64N(v+1)) }
			n, b := jit(c.conns), jit(c.bytes)
			ipIdx := rng.IntN(max(1, len(c.ips)))
			if !opt.Since.IsZero() && t.Before(opt.Since) {
				continue // drawn, so later windows stay the same, but not emitted
			}
			fill(&f, c, t, wEnd, n, b, ipIdx, day, flows.ReporterSrc)
			if err := emit(&f); err != nil {
				return err
			}
			if pl != nil {
				pl.add(c, t, n, ipIdx)
			}
			if c.kind == toPod {
				fill(&f, c, t, wEnd, n, b, ipIdx, day, flows.ReporterDst)
				if err := emit(&f); err != nil {
					return err
				}
			}
		}
	}
	if pl != nil {
		return pl.flush()
	}
	return nil
}

func fill(f *flows.Flow, c *conn, start, end time.Time, n, b int64, ipIdx, day int, rep flows.Reporter) {
	*f = flows.Flow{
		Start: start.Unix(), End: end.Unix(),
		Proto: c.proto, Action: c.action, Reporter: rep,
		NumFlows: n, Bytes: b, Packets: b/1000 + n,
	}
	f.Source = flows.Endpoint{Type: flows.EndpointWorkload, NameAggr: c.from.prefix, Namespace: c.from.ns, Labels: c.from.labels}
	if c.level <= 1 {
		f.Source.IP = netip.AddrFrom4([4]byte{10, 10, byte(len(c.from.ns)), byte(len(c.from.prefix))})
	}
	switch c.kind {
	case toPod:
		f.Dest = flows.Endpoint{Type: flows.EndpointWorkload, NameAggr: c.to.prefix, Namespace: c.to.ns, Labels: c.to.labels}
		if c.svc != nil && rep == flows.ReporterSrc {
			f.Service = *c.svc
		}
	case toNet:
		f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: c.net, Labels: []string{}}
		if c.level <= 1 && len(c.ips) > 0 {
			f.Dest.IP = c.ips[ipIdx]
		}
	case toHost:
		f.Dest = flows.Endpoint{Type: flows.EndpointHost, NameAggr: fmt.Sprintf("k8s-node-%d", ipIdx+1), Labels: []string{}}
		if c.level <= 1 && len(c.ips) > 0 {
			f.Dest.IP = c.ips[ipIdx]
		}
	case toNetworkSet:
		f.Dest = flows.Endpoint{Type: flows.EndpointNetworkSet, NameAggr: c.set, Name: c.set, Labels: []string{"provider=usenet"}}
	}
	if c.level <= 2 {
		f.Dest.Port = c.port
	}
	f.Policies = trace(c, day)
}

func trace(c *conn, day int) flows.Trace {
	ns := c.from.ns
	observe := tierOf(ns) == "3-edge" || tierOf(ns) == "4-aux"
	var enforced []flows.PolicyHit
	switch {
	case c.action == flows.ActionDeny:
		enforced = []flows.PolicyHit{{Index: 0, Tier: "security", Kind: flows.KindGlobalNetworkPolicy, Name: "block-irc-and-dot", Action: flows.ActionDeny, RuleIndex: 0}}
	case observe:
		enforced = []flows.PolicyHit{{Index: 0, Tier: "default", Kind: flows.KindGlobalNetworkPolicy, Name: "wave1-egress-observe-tier34", Action: flows.ActionAllow, RuleIndex: 1}}
	default:
		enforced = []flows.PolicyHit{{Index: 0, Kind: flows.KindProfile, Name: "kns." + ns, Action: flows.ActionAllow, RuleIndex: 0}}
	}
	pending := enforced
	if c.stagedFrom > 0 && day >= c.stagedFrom && c.action == flows.ActionAllow {
		staged := flows.PolicyHit{Index: 0, Tier: "egress-allowlist", Kind: flows.KindStagedNetworkPolicy, Namespace: ns, Name: ns, Action: flows.ActionAllow, RuleIndex: 3}
		if c.wouldDeny && (c.allowedFrom == 0 || day < c.allowedFrom) {
			staged.Action, staged.RuleIndex = flows.ActionDeny, flows.RuleEndOfTier
			pending = []flows.PolicyHit{staged}
		} else {
			rest := make([]flows.PolicyHit, 0, len(enforced)+1)
			rest = append(rest, staged)
			pending = rest
		}
	}
	return flows.Trace{Enforced: enforced, Pending: pending}
}

var baseTiers = func() map[string]string {
	m := map[string]string{}
	ns, _ := topology("")
	for _, n := range ns {
		m[n.Name] = n.Labels["tier"]
	}
	return m
}()

// tierOf returns a namespace's tier, replicas ("name-rN") included.
func tierOf(ns string) string {
	if t, ok := baseTiers[ns]; ok {
		return t
	}
	if i := strings.LastIndex(ns, "-r"); i > 0 {
		return baseTiers[ns[:i]]
	}
	return ""
}
