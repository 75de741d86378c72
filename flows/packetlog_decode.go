package flows

import (
	"net/netip"
	"sort"
	"strconv"
	"time"
)

// packetDecoder turns packet-log lines into flows: one flow per 5-tuple
// and dedup window, attributed to pods by interface name.
type packetDecoder struct {
	opt   PacketLogOptions
	stats *PacketStats
	// seen holds, per 5-tuple, the time (s) it was last counted.
	seen     map[tuple5]int64
	lastGC   int64
	pl       PacketLog
	window   int64
	srcCache map[string]podLookup
}

type podLookup struct {
	ref PodRef
	res Resolution
}

type tuple5 struct {
	in       string
	src, dst netip.Addr
	proto    Protocol
	sp, dp   int32
}

func newPacketDecoder(opt PacketLogOptions, stats *PacketStats) *packetDecoder {
	if opt.Prefix == "" {
		opt.Prefix = DefaultLogPrefix
	}
	if opt.InterfacePrefix == "" {
		opt.InterfacePrefix = DefaultInterfacePrefix
	}
	w := int64(opt.DedupWindow / time.Second)
	if w <= 0 {
		w = 60
	}
	return &packetDecoder{opt: opt, stats: stats, seen: map[tuple5]int64{}, window: w, srcCache: map[string]podLookup{}}
}

func (d *packetDecoder) decodeLine(b []byte, f *Flow) (bool, *recErr) {
	env, other, e := splitEnvelope(b)
	if e != nil {
		if !packetLike(b) {
			// A line that only mentions IN= (another kernel message)
			// whose envelope did not parse is not ours to judge.
			d.stats.Other++
			return true, nil
		}
		return false, e
	}
	if other {
		d.stats.Other++
		return true, nil
	}
	return d.decodeMessage(env, f)
}

// packetLike reports whether a line holds a LOG line's SRC=, DST= and
// PROTO= fields (so that a bad envelope on it is a bad record).
func packetLike(b []byte) bool {
	return bytesContains(b, " SRC=") && bytesContains(b, " DST=") && bytesContains(b, " PROTO=")
}

func bytesContains(b []byte, s string) bool {
	n := len(s)
	for i := 0; i+n <= len(b); i++ {
		if b[i] == s[0] && string(b[i:i+n]) == s {
			return true
		}
	}
	return false
}

// decodeMessage decodes the kernel text of one entry.
func (d *packetDecoder) decodeMessage(env envelope, f *Flow) (bool, *recErr) {
	pl := &d.pl
	pl.Time, pl.Node = env.time, env.node
	notPacket, e := parseKernelText(env.msg, d.opt.Prefix, pl)
	if notPacket {
		d.stats.Other++
		return true, nil
	}
	if e != nil {
		e.Off += env.off
		return false, e
	}
	sec := floorDiv(pl.Time, int64(time.Second))
	if m := timeProblem(sec); m != "" {
		return false, errValue(0, "time", ReasonBadValue, m)
	}
	d.stats.Lines++
	// A 5-tuple counts once per window: retransmitted SYNs and UDP
	// packets before the first reply are logged again.
	t := tuple5{in: pl.In, src: pl.Src, dst: pl.Dst, proto: pl.Proto, sp: int32(pl.SrcPort), dp: int32(pl.DstPort)}
	if !pl.Proto.HasPorts() {
		t.sp, t.dp = pl.ICMPID, pl.ICMPType<<8|pl.ICMPCode&0xff
	}
	if last, ok := d.seen[t]; ok && sec >= last && sec-last < d.window {
		d.stats.Repeats++
		return true, nil
	}
	d.seen[t] = sec
	if len(d.seen) > 1<<16 && sec-d.lastGC >= d.window {
		for k, v := range d.seen {
			if sec-v >= d.window {
				delete(d.seen, k)
			}
		}
		d.lastGC = sec
	}
	if !d.fill(pl, sec, f) {
		return true, nil
	}
	return false, nil
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// isPodIface reports whether an interface is a Calico pod interface.
func (d *packetDecoder) isPodIface(s string) bool {
	p := d.opt.InterfacePrefix
	return len(s) > len(p) && s[:len(p)] == p
}

func (d *packetDecoder) byIface(iface string, t int64) (PodRef, Resolution) {
	if d.opt.Pods == nil {
		return PodRef{}, ResolveUnknown
	}
	if c, ok := d.srcCache[iface]; ok {
		return c.ref, c.res
	}
	ref, res := d.opt.Pods.ByInterface(iface, t)
	if len(d.srcCache) < 1<<16 {
		d.srcCache[iface] = podLookup{ref, res}
	}
	return ref, res
}

// fill writes the flow of a counted line; false: the line is reported,
// not used (a destination in the pod or Service ranges no pod explains).
func (d *packetDecoder) fill(pl *PacketLog, sec int64, f *Flow) bool {
	*f = Flow{Start: sec, End: sec, Proto: pl.Proto, Action: ActionAllow, Reporter: ReporterSrc, NumFlows: 1, Origin: OriginPacketLog}
	f.Source.IP, f.Source.Port = pl.Src, pl.SrcPort
	f.Dest.IP, f.Dest.Port = pl.Dst, pl.DstPort
	if d.isPodIface(pl.In) {
		f.Source.Type = EndpointWorkload
		ref, res := d.byIface(pl.In, sec)
		switch res {
		case ResolveFound:
			setPod(&f.Source, ref)
		case ResolveAmbiguous:
			d.stats.Ambiguous++
		default:
			d.stats.Unattributed++
			d.stats.addUnknown(pl.In)
		}
		// Unattributed: no namespace, so the aggregator counts the flow as
		// one it could not attribute; nothing is guessed from SRC.
	} else {
		f.Source.Type = EndpointHost
		d.stats.Host++
	}
	f.Dest.Type = EndpointNetwork
	if d.isPodIface(pl.Out) {
		if ref, res := d.byIface(pl.Out, sec); res == ResolveFound {
			f.Dest.Type = EndpointWorkload
			setPod(&f.Dest, ref)
			f.Dest.IP = netip.Addr{}
			return true
		}
	}
	if d.opt.Pods != nil {
		if ref, res := d.opt.Pods.ByIP(pl.Dst, sec); res == ResolveFound {
			f.Dest.Type = EndpointWorkload
			setPod(&f.Dest, ref)
			f.Dest.IP = netip.Addr{}
			return true
		}
	}
	dst := pl.Dst.Unmap()
	switch {
	case inAny(dst, d.opt.ServiceNets):
		d.stats.DestService++
		return false
	case inAny(dst, d.opt.PodNets):
		d.stats.DestPodUnknown++
		return false
	case pl.Dst.IsPrivate():
		d.stats.DestUnmapped++
	}
	return true
}

func setPod(e *Endpoint, r PodRef) {
	e.Namespace, e.Name, e.NameAggr, e.Labels = r.Namespace, r.Name, r.NameAggr, r.Labels
	if e.Labels == nil {
		e.Labels = []string{}
	}
}

// PacketLogWarnings turns packet-log statistics into the warnings observe
// prints and records.
func PacketLogWarnings(s *PacketStats) []string {
	var out []string
	if s == nil {
		return nil
	}
	if s.Unattributed > 0 {
		ifs := append([]string(nil), s.UnknownInterfaces...)
		sort.Strings(ifs)
		w := strconv.FormatInt(s.Unattributed, 10) + " packet-log lines came from pod interfaces no pod listing knows (not attributed, not guessed from SRC)"
		if len(ifs) > 0 {
			w += ": " + joinComma(ifs)
		}
		w += "; give the pods that existed in the window with --pods"
		out = append(out, w)
	}
	if s.Ambiguous > 0 {
		out = append(out, strconv.FormatInt(s.Ambiguous, 10)+" packet-log lines came from interfaces whose hash several listed pods share: not attributed")
	}
	if s.DestPodUnknown > 0 {
		out = append(out, strconv.FormatInt(s.DestPodUnknown, 10)+" packet-log lines went to an address in the pod ranges (networks.pods) that no listed pod held: reported, not used (a rule to a pod's address breaks when the address is reused); give the pods that existed in the window with --pods")
	}
	if s.DestService > 0 {
		out = append(out, strconv.FormatInt(s.DestService, 10)+" packet-log lines went to a Service address (networks.services): no DNAT ran before the Log rule (kube-proxy replacement?), so the backend is unknown: reported, not used")
	}
	if s.DestUnmapped > 0 {
		out = append(out, strconv.FormatInt(s.DestUnmapped, 10)+" packet-log lines went to a private address no listed pod held (a pod missing from the listing, a node or a network outside the cluster): kept as a private address")
	}
	return out
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
