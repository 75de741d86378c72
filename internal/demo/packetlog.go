package demo

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/internal/pods"
)

// PacketLog writes what the observe policy's Log rule would have written
// to the nodes' kernel logs for the same traffic as Generate (a kern.log
// in rsyslog's RFC 3339 format), plus the pod listing (kubectl get pods
// -A -o json) that attributes it: the Calico OSS half of the demo, where
// Goldmane carries no addresses. Only the observe policy's namespaces
// (tiers 3-edge and 4-aux) and allowed egress to networks and nodes are
// logged; each connection is a SYN, the first of every window also a
// retransmitted SYN one second later (counted once by observe). flow is
// called with every flow, as Generate would.
func PacketLog(opt Options, kern io.Writer, flow func(*flows.Flow) error) (podList []byte, err error) {
	bw := bufio.NewWriter(kern)
	pl := &packetLog{w: bw, start: opt.Start.UTC(), pods: map[string]*demoPod{}}
	if flow == nil {
		flow = func(*flows.Flow) error { return nil }
	}
	if err := generate(opt, flow, pl); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return pl.podList()
}

type demoPod struct {
	w    *workload
	name string
	ip   netip.Addr
}

type kline struct {
	t    time.Time
	text string
}

type packetLog struct {
	w     *bufio.Writer
	start time.Time
	pods  map[string]*demoPod
	buf   []kline
	id    int
}

// podOf is the one pod the demo gives a workload.
func (p *packetLog) podOf(w *workload) *demoPod {
	key := w.ns + "/" + w.prefix
	if d := p.pods[key]; d != nil {
		return d
	}
	h := sha1.Sum([]byte(key))
	name := strings.TrimSuffix(w.prefix, "*") + hex.EncodeToString(h[:])[:5]
	d := &demoPod{w: w, name: name, ip: netip.AddrFrom4([4]byte{10, 10, byte(len(w.ns)), byte(len(w.prefix))})}
	p.pods[key] = d
	return d
}

func (p *packetLog) add(c *conn, t time.Time, n int64, ipIdx int) {
	if c.action != flows.ActionAllow || (tierOf(c.from.ns) != "3-edge" && tierOf(c.from.ns) != "4-aux") {
		return
	}
	if (c.kind != toNet && c.kind != toHost) || (c.proto != flows.ProtoTCP && c.proto != flows.ProtoUDP) {
		return
	}
	ips := c.ips
	if len(ips) == 0 {
		if c.kind != toNet || c.net != "pub" {
			return
		}
		// The topology gives aggregated public traffic no addresses (the
		// flow log hides them); the kernel sees them: two per connection
		// kind, stable across runs.
		h := sha1.Sum([]byte(c.from.ns + "/" + c.from.prefix + "/" + c.proto.String() + fmt.Sprint(c.port)))
		ips = []netip.Addr{netip.AddrFrom4([4]byte{151, 101, h[0], h[1]}), netip.AddrFrom4([4]byte{151, 101, h[2], h[3]})}
	}
	src := p.podOf(c.from)
	dst := ips[ipIdx%len(ips)]
	iface := pods.VethName("cali", src.w.ns, src.name)
	node := fmt.Sprintf("k8s-node-%d", len(src.w.ns)%3+1)
	// Spread the window's connections over its first hour, deterministically.
	h := sha1.Sum([]byte(c.from.ns + c.from.prefix + dst.String()))
	off := time.Duration(int(h[0])<<8|int(h[1])) * time.Second % time.Hour
	lines := min(n, 2)
	for i := int64(0); i < lines; i++ {
		at := t.Add(off + time.Duration(i)*90*time.Second)
		p.id++
		spt := 32768 + p.id%28000
		p.line(node, at, iface, src.ip, dst, c, spt)
		if i == 0 {
			p.line(node, at.Add(time.Second), iface, src.ip, dst, c, spt) // retransmitted SYN
		}
	}
}

func (p *packetLog) line(node string, at time.Time, iface string, src, dst netip.Addr, c *conn, spt int) {
	p.id++
	up := at.Sub(p.start).Seconds() + 1000
	var l4 string
	switch c.proto {
	case flows.ProtoTCP:
		l4 = fmt.Sprintf("PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0", spt, c.port)
	default:
		l4 = fmt.Sprintf("PROTO=UDP SPT=%d DPT=%d LEN=40", spt, c.port)
	}
	text := fmt.Sprintf("%s %s kernel: [%12.6f] calico-packet: IN=%s OUT=ens18 MAC=ee:ee:ee:ee:ee:ee:2a:5f:1c:7d:90:b3:08:00 SRC=%s DST=%s LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=%d DF %s",
		at.UTC().Format("2006-01-02T15:04:05.000000-07:00"), node, up, iface, src, dst, p.id%65536, l4)
	p.buf = append(p.buf, kline{at, text})
}

// flush writes the buffered window's lines in time order.
func (p *packetLog) flush() error {
	sort.SliceStable(p.buf, func(i, j int) bool { return p.buf[i].t.Before(p.buf[j].t) })
	for _, l := range p.buf {
		if _, err := p.w.WriteString(l.text + "\n"); err != nil {
			return err
		}
	}
	p.buf = p.buf[:0]
	return nil
}

// podList renders the pods as kubectl get pods -A -o json does (the
// fields attribution reads), sorted.
func (p *packetLog) podList() ([]byte, error) {
	keys := make([]string, 0, len(p.pods))
	for k := range p.pods {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	type meta struct {
		Name              string            `json:"name"`
		GenerateName      string            `json:"generateName,omitempty"`
		Namespace         string            `json:"namespace"`
		CreationTimestamp string            `json:"creationTimestamp"`
		Labels            map[string]string `json:"labels,omitempty"`
	}
	type podIP struct {
		IP string `json:"ip"`
	}
	type status struct {
		Phase  string  `json:"phase"`
		PodIP  string  `json:"podIP"`
		PodIPs []podIP `json:"podIPs"`
	}
	type pod struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   meta           `json:"metadata"`
		Spec       map[string]any `json:"spec"`
		Status     status         `json:"status"`
	}
	items := []pod{}
	for _, k := range keys {
		d := p.pods[k]
		labels := map[string]string{}
		for _, l := range d.w.labels {
			if k, v, ok := strings.Cut(l, "="); ok {
				labels[k] = v
			}
		}
		items = append(items, pod{APIVersion: "v1", Kind: "Pod",
			Metadata: meta{Name: d.name, GenerateName: strings.TrimSuffix(d.w.prefix, "*"), Namespace: d.w.ns,
				CreationTimestamp: p.start.Format(time.RFC3339), Labels: labels},
			Spec:   map[string]any{"nodeName": fmt.Sprintf("k8s-node-%d", len(d.w.ns)%3+1)},
			Status: status{Phase: "Running", PodIP: d.ip.String(), PodIPs: []podIP{{d.ip.String()}}}})
	}
	b, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items, "metadata": map[string]string{"resourceVersion": ""}}, "", "    ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
