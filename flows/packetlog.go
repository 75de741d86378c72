package flows

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Kernel packet-log lines.
//
// Calico OSS's Goldmane carries no addresses, so an egress rule built from
// it can only say "any public address". A policy rule with action Log makes
// Felix write one kernel LOG line per packet that reaches the rule:
//
//	calico-packet: IN=cali6cfdec4abc1 OUT=ens18 MAC=... SRC=10.10.122.132 DST=149.154.167.220 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=40112 DF PROTO=TCP SPT=51724 DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0
//
// The text after the prefix is the kernel's (net/netfilter/nf_log_syslog.c):
// KEY=VALUE fields and bare flags separated by single spaces, IN= and OUT=
// possibly empty, LEN= twice on UDP (IP then UDP length), ID= twice on an
// IPv4 ICMP echo (IP then ICMP id), and for ICMP errors the offending
// packet's header in [ ... ] with its own SRC= and DST=. The parser keeps
// the first occurrence of a key and stops at the first '[', so SRC and DST
// are always the outer packet's. The iptables dataplane writes the prefix
// as "<logPrefix>: "; the nftables dataplane before Calico v3.30.6 and
// v3.31.4 wrote it without the ": " ("calico-packetIN=..."); both are read.
//
// What a line means: Calico accepts RELATED,ESTABLISHED packets before any
// policy, so the Log rule sees packets in conntrack state NEW: one line per
// TCP SYN (and per retransmitted SYN), one per UDP packet until the first
// reply. PacketLineDecoder therefore counts a 5-tuple once per minute.
//
// The envelope around the kernel text is read from:
//   - journalctl -k -o short-iso / short-iso-precise:
//     "2026-05-22T10:11:12+0000 node1 kernel: calico-packet: IN=..."
//   - journalctl -k -o json (one JSON object a line: __REALTIME_TIMESTAMP in
//     microseconds, MESSAGE, _HOSTNAME)
//   - syslog files (kern.log) in rsyslog's RFC 3339 format:
//     "2026-05-22T10:11:12.123456+00:00 node1 kernel: [12345.678] calico-packet: ..."
//   - dmesg --time-format iso ("2026-05-22T10:11:12,123456+00:00 calico-packet: ...")
//     and dmesg -T ("[Fri May 22 10:11:12 2026] calico-packet: ...", read as UTC)
//   - logcli output: default ("<RFC 3339> {labels} <line>") and --output jsonl
//     ({"labels":{...},"line":"...","timestamp":"..."})
//   - Loki's own query_range answer saved by logcli or curl (a document:
//     {"status":"success","data":{"resultType":"streams","result":[...]}}).
//
// Traditional syslog timestamps ("May 22 10:11:12") carry no year and
// plain dmesg ("[12345.678]") only the time since boot: such lines are bad
// records naming the format to use instead, never given a guessed date.

// DefaultLogPrefix is Felix's default logPrefix (FelixConfiguration).
const DefaultLogPrefix = "calico-packet"

// DefaultInterfacePrefix is the prefix of Calico's host-side pod
// interfaces (FELIX_INTERFACEPREFIX).
const DefaultInterfacePrefix = "cali"

// PacketLog is one kernel LOG line, parsed and validated.
type PacketLog struct {
	// Time is the line's time in Unix nanoseconds (journald and rsyslog
	// record microseconds).
	Time int64
	// Node is the host that wrote it, when the envelope names one.
	Node string
	// In and Out are the interfaces (either may be empty).
	In, Out  string
	Src, Dst netip.Addr
	Proto    Protocol
	// SrcPort and DstPort are set for TCP, UDP, UDPLite and SCTP.
	SrcPort, DstPort uint16
	// ICMPType, ICMPCode and ICMPID are set for ICMP and ICMPv6 (-1 when
	// the line does not carry them).
	ICMPType, ICMPCode, ICMPID int32
}

// PacketLogOptions tune how packet-log lines are read and attributed.
type PacketLogOptions struct {
	// Prefix is Felix's logPrefix (default "calico-packet"). Lines with
	// other prefixes (other LOG rules on the node) are not records.
	Prefix string
	// InterfacePrefix is Calico's pod interface prefix (default "cali").
	InterfacePrefix string
	// Pods attributes interfaces and addresses to pods; nil attributes
	// nothing (every pod line is then unattributed, and counted so).
	Pods PodResolver
	// DedupWindow is how long a repeated 5-tuple counts once (default 60s).
	DedupWindow time.Duration
	// PodNets and ServiceNets are the cluster's pod and Service ranges
	// (profile networks.pods/services). DST is the address after DNAT: one
	// in the pod ranges that no listed pod held is reported and not used
	// (an address rule to a pod's address breaks when it is reused); one
	// in the Service ranges means no DNAT ran before the Log rule, and is
	// reported and not used either.
	PodNets, ServiceNets []netip.Prefix
}

// PodRef names a pod for a flow endpoint.
type PodRef struct {
	Namespace string
	Name      string
	// NameAggr is the pod name prefix flow logs aggregate to ("api-7d9c-*").
	NameAggr string
	Labels   []string
}

// Resolution is the outcome of an attribution.
type Resolution uint8

const (
	ResolveUnknown   Resolution = iota // no pod known for the key
	ResolveFound                       // exactly one pod
	ResolveAmbiguous                   // several pods could be meant: never guessed
)

// PodResolver maps packet-log keys to pods. t is the line's Unix time in
// seconds. Implementations must be safe for use from one goroutine at a
// time (packet logs are decoded serially).
type PodResolver interface {
	// ByInterface resolves a host-side interface name (IN= or OUT=).
	ByInterface(iface string, t int64) (PodRef, Resolution)
	// ByIP resolves a destination address held by a pod at t.
	ByIP(ip netip.Addr, t int64) (PodRef, Resolution)
}

// PacketStats counts what the packet-log decoder did with the lines it read.
type PacketStats struct {
	// Lines is every LOG line with the configured prefix.
	Lines int64 `json:"lines" yaml:"lines"`
	// Other counts lines that are not Calico LOG lines (other kernel
	// messages, other LOG prefixes, journal headers).
	Other int64 `json:"other" yaml:"other"`
	// Repeats counts lines of a 5-tuple already counted within the dedup
	// window (retransmitted SYNs, UDP before the first reply).
	Repeats int64 `json:"repeats" yaml:"repeats"`
	// Host counts lines whose IN= is not a pod interface (host traffic).
	Host int64 `json:"host" yaml:"host"`
	// Unattributed counts lines from a pod interface no pod listing knows;
	// Ambiguous those whose interface hash more than one pod shares.
	Unattributed int64 `json:"unattributed" yaml:"unattributed"`
	Ambiguous    int64 `json:"ambiguous" yaml:"ambiguous"`
	// UnknownInterfaces samples the interfaces of unattributed lines.
	UnknownInterfaces []string `json:"unknownInterfaces,omitempty" yaml:"unknownInterfaces,omitempty"`
	// DestUnmapped counts lines to a private address that is not a known
	// pod's (a pod not in the listing, a node, or outside the cluster).
	DestUnmapped int64 `json:"destUnmapped" yaml:"destUnmapped"`
	// DestPodUnknown counts lines to an address in the pod ranges no
	// listed pod held, DestService lines to a Service address: both
	// reported, not used.
	DestPodUnknown int64 `json:"destPodUnknown" yaml:"destPodUnknown"`
	DestService    int64 `json:"destService" yaml:"destService"`
}

const maxUnknownIfaces = 10

func (s *PacketStats) merge(o *PacketStats) {
	s.Lines += o.Lines
	s.Other += o.Other
	s.Repeats += o.Repeats
	s.Host += o.Host
	s.Unattributed += o.Unattributed
	s.Ambiguous += o.Ambiguous
	s.DestUnmapped += o.DestUnmapped
	s.DestPodUnknown += o.DestPodUnknown
	s.DestService += o.DestService
	for _, i := range o.UnknownInterfaces {
		s.addUnknown(i)
	}
}

func (s *PacketStats) addUnknown(iface string) {
	for _, x := range s.UnknownInterfaces {
		if x == iface {
			return
		}
	}
	if len(s.UnknownInterfaces) < maxUnknownIfaces {
		s.UnknownInterfaces = append(s.UnknownInterfaces, iface)
	}
}

// ---- the kernel text ----

// ParsePacketLog parses the kernel text of a LOG line (msg, starting at the
// prefix) with the given prefix. notPacket reports a line that is not a LOG
// line with that prefix. On error, the recErr's Off is relative to msg and
// its Field names the kernel key (SRC, DPT, ...).
func ParsePacketLog(msg []byte, prefix string, p *PacketLog) (notPacket bool, err error) {
	np, e := parseKernelText(msg, prefix, p)
	if e != nil {
		return false, &ValueError{Field: e.Field, Msg: e.Msg}
	}
	return np, nil
}

// kernel fields the parser keeps.
type kfields struct {
	in, out, src, dst, proto, spt, dpt, typ, code   string
	ids                                             [2]string
	nids                                            int
	offIn, offSrc, offDst, offProto, offSpt, offDpt int
	offOut, offType, offCode                        int
	seen                                            uint32
	truncated                                       bool
	frag                                            bool
}

const (
	kIn = 1 << iota
	kOut
	kSrc
	kDst
	kProto
	kSpt
	kDpt
	kType
	kCode
)

func parseKernelText(msg []byte, prefix string, p *PacketLog) (notPacket bool, e *recErr) {
	// The prefix, then ": " (iptables, nftables since the fix) or nothing
	// (older nftables), then IN=.
	if !bytes.HasPrefix(msg, []byte(prefix)) {
		return true, nil
	}
	i := len(prefix)
	if i < len(msg) && msg[i] == ':' {
		i++
	}
	for i < len(msg) && msg[i] == ' ' {
		i++
	}
	if !bytes.HasPrefix(msg[i:], []byte("IN=")) {
		return true, nil
	}
	var k kfields
	for i < len(msg) {
		j := bytes.IndexByte(msg[i:], ' ')
		var tok []byte
		next := len(msg)
		if j < 0 {
			tok = msg[i:]
		} else {
			tok = msg[i : i+j]
			next = i + j + 1
		}
		if len(tok) == 0 {
			i = next
			continue
		}
		if tok[0] == '[' {
			break // an ICMP error's embedded header, or INCOMPLETE [N bytes]
		}
		eq := bytes.IndexByte(tok, '=')
		if eq < 0 {
			switch {
			case string(tok) == "INCOMPLETE" || string(tok) == "TRUNCATED":
				k.truncated = true
			case bytes.HasPrefix(tok, []byte("FRAG:")):
				if string(tok) != "FRAG:0" {
					k.frag = true
				}
			}
			i = next
			continue
		}
		key, val := string(tok[:eq]), tok[eq+1:]
		off := i + eq + 1
		set := func(bit uint32, dst *string, o *int) {
			if k.seen&bit == 0 {
				k.seen |= bit
				*dst = string(val)
				*o = off
			}
		}
		switch key {
		case "IN":
			set(kIn, &k.in, &k.offIn)
		case "OUT":
			set(kOut, &k.out, &k.offOut)
		case "SRC":
			set(kSrc, &k.src, &k.offSrc)
		case "DST":
			set(kDst, &k.dst, &k.offDst)
		case "PROTO":
			set(kProto, &k.proto, &k.offProto)
		case "SPT":
			set(kSpt, &k.spt, &k.offSpt)
		case "DPT":
			set(kDpt, &k.dpt, &k.offDpt)
		case "TYPE":
			set(kType, &k.typ, &k.offType)
		case "CODE":
			set(kCode, &k.code, &k.offCode)
		case "ID":
			if k.nids < 2 {
				k.ids[k.nids] = string(val)
				k.nids++
			}
		}
		i = next
	}
	return false, k.fill(p)
}

func missing(off int, field string) *recErr {
	return errValue(off, field, ReasonBadValue, "missing")
}

// fill validates the fields and writes them to p. Every value that reaches
// a policy is checked here: addresses, protocol, ports, interface names.
func (k *kfields) fill(p *PacketLog) *recErr {
	t, node := p.Time, p.Node
	*p = PacketLog{Time: t, Node: node, ICMPType: -1, ICMPCode: -1, ICMPID: -1}
	if err := k.fillIfaces(p); err != nil {
		return err
	}
	if err := k.fillAddrs(p); err != nil {
		return err
	}
	if k.seen&kProto == 0 {
		if k.truncated || k.frag {
			return errValue(0, "PROTO", ReasonBadValue, "missing: the packet was truncated or a fragment")
		}
		return missing(0, "PROTO")
	}
	proto, ok := kernelProto(k.proto)
	if !ok {
		return errValue(k.offProto, "PROTO", ReasonBadValue, strconv.Quote(k.proto)+" is not a protocol name or number 1-255")
	}
	p.Proto = proto
	if proto.HasPorts() {
		if err := k.fillPorts(p); err != nil {
			return err
		}
	}
	if proto == ProtoICMP || proto == ProtoICMPv6 {
		return k.fillICMP(p)
	}
	return nil
}

func (k *kfields) fillIfaces(p *PacketLog) *recErr {
	if k.seen&kIn == 0 {
		return missing(0, "IN")
	}
	if !validIface(k.in, true) {
		return errValue(k.offIn, "IN", ReasonBadValue, strconv.Quote(k.in)+" is not an interface name")
	}
	if k.seen&kOut == 0 {
		return missing(0, "OUT")
	}
	if !validIface(k.out, true) {
		return errValue(k.offOut, "OUT", ReasonBadValue, strconv.Quote(k.out)+" is not an interface name")
	}
	p.In, p.Out = k.in, k.out
	return nil
}

func (k *kfields) fillAddrs(p *PacketLog) *recErr {
	if k.seen&kSrc == 0 {
		return missing(0, "SRC")
	}
	src, err := netip.ParseAddr(k.src)
	if err != nil || src.Zone() != "" {
		return errValue(k.offSrc, "SRC", ReasonBadValue, strconv.Quote(k.src)+" is not an IP address")
	}
	if k.seen&kDst == 0 {
		return missing(0, "DST")
	}
	dst, err := netip.ParseAddr(k.dst)
	if err != nil || dst.Zone() != "" {
		return errValue(k.offDst, "DST", ReasonBadValue, strconv.Quote(k.dst)+" is not an IP address")
	}
	if src.Is4() != dst.Is4() {
		return errValue(k.offDst, "DST", ReasonBadValue, k.dst+" is not of SRC "+k.src+"'s address family")
	}
	if dst.IsUnspecified() {
		return errValue(k.offDst, "DST", ReasonBadValue, k.dst+" is the unspecified address: no packet goes there")
	}
	p.Src, p.Dst = src, dst
	return nil
}

func (k *kfields) fillPorts(p *PacketLog) *recErr {
	if k.seen&kDpt == 0 || k.seen&kSpt == 0 {
		field := "DPT"
		if k.seen&kSpt == 0 {
			field = "SPT"
		}
		why := "missing"
		if k.truncated || k.frag {
			why = "missing: the packet was truncated or a fragment"
		}
		return errValue(0, field, ReasonBadValue, why)
	}
	spt, ok := parseUint(k.spt, 65535)
	if !ok {
		return errValue(k.offSpt, "SPT", ReasonBadValue, strconv.Quote(k.spt)+" is not a port 0-65535")
	}
	dpt, ok := parseUint(k.dpt, 65535)
	if !ok || dpt == 0 {
		return errValue(k.offDpt, "DPT", ReasonBadValue, strconv.Quote(k.dpt)+" is not a port 1-65535")
	}
	p.SrcPort, p.DstPort = uint16(spt), uint16(dpt)
	return nil
}

func (k *kfields) fillICMP(p *PacketLog) *recErr {
	if k.seen&kType != 0 {
		v, ok := parseUint(k.typ, 255)
		if !ok {
			return errValue(k.offType, "TYPE", ReasonBadValue, strconv.Quote(k.typ)+" is not an ICMP type 0-255")
		}
		p.ICMPType = int32(v)
	}
	if k.seen&kCode != 0 {
		v, ok := parseUint(k.code, 255)
		if !ok {
			return errValue(k.offCode, "CODE", ReasonBadValue, strconv.Quote(k.code)+" is not an ICMP code 0-255")
		}
		p.ICMPCode = int32(v)
	}
	// IPv4 lines carry the IP header's ID= first; an echo's ICMP id is the
	// second. IPv6 headers have no ID= field.
	idx := 1
	if p.Src.Is6() {
		idx = 0
	}
	if idx < k.nids {
		if v, ok := parseUint(k.ids[idx], 65535); ok {
			p.ICMPID = int32(v)
		}
	}
	return nil
}

// kernelProto reads PROTO= as the kernel prints it.
func kernelProto(s string) (Protocol, bool) {
	switch s {
	case "TCP":
		return ProtoTCP, true
	case "UDP":
		return ProtoUDP, true
	case "UDPLITE":
		return ProtoUDPLite, true
	case "ICMP":
		return ProtoICMP, true
	case "ICMPv6":
		return ProtoICMPv6, true
	case "SCTP":
		return ProtoSCTP, true
	case "ESP":
		return ProtoESP, true
	case "AH":
		return Protocol(51), true
	}
	n, ok := parseUint(s, 255)
	if !ok || n == 0 {
		return 0, false
	}
	return Protocol(n), true
}

// parseUint parses a plain decimal number no larger than max.
func parseUint(s string, max uint64) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > max {
			return 0, false
		}
	}
	return n, true
}

// validIface reports whether s can be a Linux interface name (at most 15
// bytes, no '/', ':' or whitespace... aliases aside); empty when allowed.
func validIface(s string, emptyOK bool) bool {
	if s == "" {
		return emptyOK
	}
	if len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// ---- envelopes ----

// envelope is where a line's kernel text starts and when it was written.
type envelope struct {
	time int64 // Unix ns
	node string
	msg  []byte
	off  int // byte offset of msg in the line (for problem columns)
}

var errNoYear = "traditional syslog time has no year: write kern.log with rsyslog's RFC 3339 format ($ActionFileDefaultTemplate RSYSLOG_FileFormat) or export with journalctl -k -o short-iso"

// splitEnvelope finds the kernel text of one line. other reports a line
// that cannot be a LOG line (no "IN=" in it, a journal header).
func splitEnvelope(line []byte) (env envelope, other bool, e *recErr) {
	if !bytes.Contains(line, []byte("IN=")) {
		return env, true, nil
	}
	switch c := line[0]; {
	case c == '{':
		return jsonEnvelope(line)
	case c == '[':
		return dmesgEnvelope(line)
	case c >= '0' && c <= '9':
		return isoEnvelope(line)
	case bytes.HasPrefix(line, []byte("-- ")):
		return env, true, nil
	case c >= 'A' && c <= 'Z' && len(line) > 15 && line[3] == ' ' && line[6] == ' ' && line[9] == ':':
		return env, false, errValue(0, "time", ReasonBadValue, errNoYear)
	}
	// A bare kernel text line (logcli --output raw, a grep of the prefix):
	// there is no time to date it by.
	return env, false, errValue(0, "time", ReasonBadValue,
		"no timestamp: the line must start with an RFC 3339 time (journalctl -k -o short-iso, rsyslog RFC 3339, dmesg --time-format iso, logcli default or jsonl output)")
}

// parseISO parses an RFC 3339-like time as journalctl, rsyslog, dmesg and
// logcli write it ("+0000" or "+00:00" zones, "." or "," before the
// fraction).
func parseISO(s string) (int64, bool) {
	if strings.IndexByte(s, ',') >= 0 {
		s = strings.Replace(s, ",", ".", 1)
	}
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixNano(), true
		}
	}
	return 0, false
}

func isoEnvelope(line []byte) (env envelope, other bool, e *recErr) {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return env, true, nil
	}
	ts, ok := parseISO(string(line[:sp]))
	if !ok {
		return env, false, errValue(0, "time", ReasonBadValue, strconv.Quote(string(line[:sp]))+" is not an RFC 3339 time")
	}
	env.time = ts
	i := sp + 1
	if i < len(line) && line[i] == '{' {
		// logcli default output: the stream labels, then the line.
		end := bytes.Index(line[i:], []byte("} "))
		if end < 0 {
			return env, false, errValue(i, "labels", ReasonBadValue, "unterminated label set")
		}
		env.node = labelValue(line[i:i+end+1], "node")
		i += end + 2
	} else if j := bytes.Index(line[i:], []byte(" kernel: ")); j >= 0 && bytes.IndexByte(line[i:i+j], ' ') < 0 {
		// syslog and journalctl: "<host> kernel: ".
		env.node = string(line[i : i+j])
		i += j + len(" kernel: ")
	}
	i = skipUptime(line, i)
	env.msg, env.off = line[i:], i
	return env, false, nil
}

// skipUptime skips a "[12345.678901] " uptime stamp (kern.log, dmesg).
func skipUptime(line []byte, i int) int {
	if i >= len(line) || line[i] != '[' {
		return i
	}
	end := bytes.IndexByte(line[i:], ']')
	if end < 0 {
		return i
	}
	for _, c := range line[i+1 : i+end] {
		if c != ' ' && c != '.' && (c < '0' || c > '9') {
			return i
		}
	}
	i += end + 1
	for i < len(line) && line[i] == ' ' {
		i++
	}
	return i
}

func dmesgEnvelope(line []byte) (env envelope, other bool, e *recErr) {
	end := bytes.IndexByte(line, ']')
	if end < 0 {
		return env, false, errValue(0, "time", ReasonBadValue, "unterminated [time]")
	}
	inner := strings.TrimSpace(string(line[1:end]))
	t, err := time.Parse("Mon Jan _2 15:04:05 2006", inner)
	if err != nil {
		if _, ferr := strconv.ParseFloat(inner, 64); ferr == nil {
			return env, false, errValue(1, "time", ReasonBadValue,
				"dmesg time "+inner+" is seconds since boot, not a date: use dmesg --time-format iso (or journalctl -k -o short-iso)")
		}
		return env, false, errValue(1, "time", ReasonBadValue, strconv.Quote(inner)+" is not a dmesg -T time")
	}
	env.time = t.UnixNano()
	i := end + 1
	for i < len(line) && line[i] == ' ' {
		i++
	}
	env.msg, env.off = line[i:], i
	return env, false, nil
}

// labelValue reads one label from a Prometheus-style label set
// ({a="x", b="y"}); "" when absent.
func labelValue(set []byte, name string) string {
	s := string(set)
	for _, sep := range []string{"{", ", ", ","} {
		if j := strings.Index(s, sep+name+`="`); j >= 0 {
			rest := s[j+len(sep)+len(name)+2:]
			if k := strings.IndexByte(rest, '"'); k >= 0 {
				return rest[:k]
			}
		}
	}
	return ""
}

// journalLine is a journalctl -o json entry or a logcli jsonl line.
type journalLine struct {
	Realtime  string            `json:"__REALTIME_TIMESTAMP"`
	Message   json.RawMessage   `json:"MESSAGE"`
	Hostname  string            `json:"_HOSTNAME"`
	Line      *string           `json:"line"`
	Timestamp string            `json:"timestamp"`
	Labels    map[string]string `json:"labels"`
}

func jsonEnvelope(line []byte) (env envelope, other bool, e *recErr) {
	var j journalLine
	if err := json.Unmarshal(line, &j); err != nil {
		return env, false, errMalformed(0, "", err.Error())
	}
	switch {
	case j.Line != nil:
		ts, ok := parseISO(j.Timestamp)
		if !ok {
			return env, false, errValue(0, "timestamp", ReasonBadValue, strconv.Quote(j.Timestamp)+" is not an RFC 3339 time")
		}
		env.time, env.node, env.msg = ts, j.Labels["node"], []byte(*j.Line)
	case j.Message != nil:
		us, ok := parseUint(j.Realtime, 1<<62)
		if !ok {
			return env, false, errValue(0, "__REALTIME_TIMESTAMP", ReasonBadValue, strconv.Quote(j.Realtime)+" is not microseconds since the epoch")
		}
		if us > (1<<63-1)/1000 {
			return env, false, errValue(0, "__REALTIME_TIMESTAMP", ReasonBadValue, j.Realtime+" is out of range")
		}
		env.time, env.node = int64(us)*1000, j.Hostname
		var s string
		if err := json.Unmarshal(j.Message, &s); err != nil {
			// journald writes a MESSAGE that is not UTF-8 as an array of
			// byte values.
			var bs []byte
			var nums []int
			if err := json.Unmarshal(j.Message, &nums); err != nil {
				return env, false, errValue(0, "MESSAGE", ReasonWrongType, "want a string or an array of bytes")
			}
			for _, n := range nums {
				if n < 0 || n > 255 {
					return env, false, errValue(0, "MESSAGE", ReasonBadValue, "byte value "+strconv.Itoa(n)+" out of range")
				}
				bs = append(bs, byte(n))
			}
			s = string(bs)
		}
		env.msg = []byte(s)
	default:
		return env, true, nil
	}
	env.msg = env.msg[skipUptime(env.msg, 0):]
	return env, false, nil
}
