package flows

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Kernel texts from ../shared/reference/oss-external-destinations.md 1.5,
// written after nf_log_syslog.c and the Calico docs' samples.
const (
	kTCP   = "calico-packet: IN=cali6cfdec4abc1 OUT=ens18 MAC=ee:ee:ee:ee:ee:ee:2a:5f:1c:7d:90:b3:08:00 SRC=10.10.122.132 DST=149.154.167.220 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=40112 DF PROTO=TCP SPT=51724 DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0"
	kUDP   = "calico-packet: IN=cali6cfdec4abc1 OUT=cali0f3c9e2d1aa MAC=ee:ee:ee:ee:ee:ee:2a:5f:1c:7d:90:b3:08:00 SRC=10.10.122.132 DST=10.10.122.140 LEN=73 TOS=0x00 PREC=0x00 TTL=63 ID=5521 DF PROTO=UDP SPT=39012 DPT=53 LEN=53"
	kPing  = "calico-packet: IN=cali6cfdec4abc1 OUT=ens18 MAC=ee:ee:ee:ee:ee:ee:2a:5f:1c:7d:90:b3:08:00 SRC=10.10.122.132 DST=1.1.1.1 LEN=84 TOS=0x00 PREC=0x00 TTL=63 ID=48210 DF PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1"
	kInput = "calico-packet: IN=cali6cfdec4abc1 OUT= MAC=ee:ee:ee:ee:ee:ee:2a:5f:1c:7d:90:b3:08:00 SRC=10.10.122.132 DST=10.0.20.102 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=3310 DF PROTO=TCP SPT=40022 DPT=10250 WINDOW=64240 RES=0x00 SYN URGP=0"
	kV6    = "calico-packet: IN=cali1b2c3d4e5f6 OUT=ens18 MAC=ee:ee:ee:ee:ee:ee:2a:5f:1c:7d:90:b3:86:dd SRC=fd00:0010:0244:0001:0000:0000:0000:0017 DST=2606:4700:0000:0000:0000:0000:6810:84e5 LEN=80 TC=0 HOPLIMIT=63 FLOWLBL=421337 PROTO=TCP SPT=44810 DPT=443 WINDOW=64800 RES=0x00 SYN URGP=0"
	// An ICMP error: the embedded header's SRC/DST/PROTO must not win.
	kICMPErr = "calico-packet: IN=cali6cfdec4abc1 OUT=ens18 MAC=ee:ee:ee:ee:ee:ee:2a:5f:1c:7d:90:b3:08:00 SRC=10.10.122.132 DST=8.8.4.4 LEN=96 TOS=0x00 PREC=0xC0 TTL=63 ID=1 PROTO=ICMP TYPE=3 CODE=3 [SRC=8.8.4.4 DST=10.10.122.132 LEN=68 TOS=0x00 PREC=0x00 TTL=56 ID=2 PROTO=UDP SPT=53 DPT=40000 LEN=48 ] MTU=1500"
	kICMP6   = "calico-packet: IN=cali1b2c3d4e5f6 OUT=ens18 MAC=ee:ee:ee:ee:ee:ee:2a:5f:1c:7d:90:b3:86:dd SRC=fd00:0010:0244:0001:0000:0000:0000:0017 DST=2606:4700:0000:0000:0000:0000:6810:84e5 LEN=104 TC=0 HOPLIMIT=64 FLOWLBL=1 PROTO=ICMPv6 TYPE=128 CODE=0 ID=42 SEQ=1"
)

type fakePods map[string]PodRef

func (p fakePods) ByInterface(iface string, _ int64) (PodRef, Resolution) {
	if iface == "caliambiguous1" {
		return PodRef{}, ResolveAmbiguous
	}
	r, ok := p[iface]
	if !ok {
		return PodRef{}, ResolveUnknown
	}
	return r, ResolveFound
}

func (p fakePods) ByIP(ip netip.Addr, _ int64) (PodRef, Resolution) {
	r, ok := p[ip.String()]
	if !ok {
		return PodRef{}, ResolveUnknown
	}
	return r, ResolveFound
}

var testPods = fakePods{
	"cali6cfdec4abc1": {Namespace: "shop", Name: "api-7d9c8-abcde", NameAggr: "api-7d9c8-*", Labels: []string{"app=api"}},
	"cali1b2c3d4e5f6": {Namespace: "shop", Name: "web-0", NameAggr: "web-*"},
	"cali0f3c9e2d1aa": {Namespace: "kube-system", Name: "coredns-1", NameAggr: "coredns-*", Labels: []string{"k8s-app=kube-dns"}},
}

func packetOpt() Options { return Options{Packets: &PacketLogOptions{Pods: testPods}} }

func TestPacketLogEnvelopes(t *testing.T) {
	const ts = "2026-05-22T10:11:12"
	for name, line := range map[string]string{
		"journalctl short-iso":         ts + "+0000 node1 kernel: " + kTCP,
		"journalctl short-iso-precise": ts + ".123456+00:00 node1 kernel: " + kTCP,
		"kern.log rfc3339":             ts + ".123456+00:00 node1 kernel: [12345.678901] " + kTCP,
		"dmesg iso":                    ts + ",123456+00:00 " + kTCP,
		"dmesg -T":                     "[Fri May 22 10:11:12 2026] " + kTCP,
		"logcli default":               ts + "Z {job=\"node-journal\", node=\"node1\", transport=\"kernel\"} " + kTCP,
		"journal json":                 `{"__REALTIME_TIMESTAMP":"1779444672123456","_HOSTNAME":"node1","_TRANSPORT":"kernel","MESSAGE":"` + kTCP + `"}`,
		"logcli jsonl":                 `{"labels":{"node":"node1"},"line":"` + kTCP + `","timestamp":"` + ts + `.123456Z"}`,
		"nftables before the fix":      ts + "+0000 node1 kernel: " + strings.Replace(kTCP, "calico-packet: ", "calico-packet", 1),
	} {
		t.Run(name, func(t *testing.T) {
			d := decodeString(t, lines("-- Journal begins at Fri 2026-05-22 00:00:00 UTC. --", line), packetOpt())
			require.NoError(t, d.err)
			require.Equal(t, FormatPacketLog, d.st.Format)
			require.Zero(t, d.st.Bad, "%v", d.st.Examples)
			require.Len(t, d.flows, 1)
			f := d.flows[0]
			require.EqualValues(t, 1779444672, f.Start)
			require.Equal(t, OriginPacketLog, f.Origin)
			require.Equal(t, ReporterSrc, f.Reporter)
			require.Equal(t, ActionAllow, f.Action)
			require.Equal(t, "shop", f.Source.Namespace)
			require.Equal(t, "api-7d9c8-*", f.Source.NameAggr)
			require.Equal(t, EndpointNetwork, f.Dest.Type)
			require.Equal(t, "149.154.167.220", f.Dest.IP.String())
			require.EqualValues(t, 443, f.Dest.Port)
			require.Equal(t, ProtoTCP, f.Proto)
			require.EqualValues(t, 1, d.st.Packets.Lines)
		})
	}
}

func TestPacketLogFields(t *testing.T) {
	pre := "2026-05-22T10:11:12+0000 node1 kernel: "
	for name, tc := range map[string]struct {
		line          string
		proto         Protocol
		dst           string
		port          uint16
		destNS        string
		icmpType, id  int32
		sourceNS      string
		sourceUnknown bool
	}{
		"tcp":            {kTCP, ProtoTCP, "149.154.167.220", 443, "", -1, -1, "shop", false},
		"udp same node":  {kUDP, ProtoUDP, "", 53, "kube-system", -1, -1, "shop", false},
		"icmp echo":      {kPing, ProtoICMP, "1.1.1.1", 0, "", 8, 7, "shop", false},
		"input path":     {kInput, ProtoTCP, "10.0.20.102", 10250, "", -1, -1, "shop", false},
		"ipv6":           {kV6, ProtoTCP, "2606:4700::6810:84e5", 443, "", -1, -1, "shop", false},
		"icmp error":     {kICMPErr, ProtoICMP, "8.8.4.4", 0, "", 3, -1, "shop", false},
		"icmpv6 echo":    {kICMP6, ProtoICMPv6, "2606:4700::6810:84e5", 0, "", 128, 42, "shop", false},
		"unknown pod":    {strings.Replace(kTCP, "cali6cfdec4abc1", "cali99999999999", 1), ProtoTCP, "149.154.167.220", 443, "", -1, -1, "", true},
		"mark and flags": {kTCP + " MARK=0x10000", ProtoTCP, "149.154.167.220", 443, "", -1, -1, "shop", false},
		"other protocol": {strings.Replace(kPing, "PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1", "PROTO=47", 1), Protocol(47), "1.1.1.1", 0, "", -1, -1, "shop", false},
	} {
		t.Run(name, func(t *testing.T) {
			d := decodeString(t, pre+tc.line+"\n", packetOpt())
			require.NoError(t, d.err)
			require.Zero(t, d.st.Bad, "%v", d.st.Examples)
			require.Len(t, d.flows, 1)
			f := d.flows[0]
			require.Equal(t, tc.proto, f.Proto)
			require.Equal(t, tc.port, f.Dest.Port)
			require.Equal(t, tc.sourceNS, f.Source.Namespace)
			require.Equal(t, EndpointWorkload, f.Source.Type)
			if tc.destNS != "" {
				require.Equal(t, EndpointWorkload, f.Dest.Type)
				require.Equal(t, tc.destNS, f.Dest.Namespace)
			} else {
				require.Equal(t, tc.dst, f.Dest.IP.String())
			}
			if tc.sourceUnknown {
				require.EqualValues(t, 1, d.st.Packets.Unattributed)
				require.Equal(t, []string{"cali99999999999"}, d.st.Packets.UnknownInterfaces)
				require.Contains(t, strings.Join(d.st.Warnings, "\n"), "cali99999999999")
			}
			var pl PacketLog
			notPacket, err := ParsePacketLog([]byte(tc.line), DefaultLogPrefix, &pl)
			require.False(t, notPacket)
			require.NoError(t, err)
			require.Equal(t, tc.icmpType, pl.ICMPType)
			require.Equal(t, tc.id, pl.ICMPID)
		})
	}
}

func TestPacketLogHostAndOtherLines(t *testing.T) {
	pre := "2026-05-22T10:11:12+0000 node1 kernel: "
	in := lines(
		pre+"[    0.000000] Linux version 6.1.0",
		pre+"[UFW BLOCK] IN=ens18 OUT= MAC=00 SRC=1.2.3.4 DST=10.0.0.1 LEN=40 PROTO=TCP SPT=1 DPT=22",
		pre+strings.Replace(kTCP, "IN=cali6cfdec4abc1", "IN=ens18", 1),
		pre+kTCP,
	)
	d := decodeString(t, in, packetOpt())
	require.NoError(t, d.err)
	require.Zero(t, d.st.Bad, "%v", d.st.Examples)
	require.Len(t, d.flows, 2)
	require.Equal(t, EndpointHost, d.flows[0].Source.Type)
	require.EqualValues(t, 1, d.st.Packets.Host)
	require.EqualValues(t, 2, d.st.Packets.Other)
	require.EqualValues(t, 2, d.st.Packets.Lines)
}

func TestPacketLogDedup(t *testing.T) {
	at := func(ts string, l string) string { return "2026-05-22T10:" + ts + "+0000 node1 kernel: " + l }
	retrans := strings.Replace(kTCP, "ID=40112", "ID=40113", 1)
	other := strings.Replace(kTCP, "SPT=51724", "SPT=51725", 1)
	d := decodeString(t, lines(
		at("11:12", kTCP),
		at("11:13", retrans), // a retransmitted SYN: the same connection
		at("11:14", other),   // another source port: another connection
		at("12:11", kTCP),    // 59 s later: still the same
		at("12:12", kTCP),    // 60 s later: counted again
	), packetOpt())
	require.NoError(t, d.err)
	require.Len(t, d.flows, 3)
	require.EqualValues(t, 5, d.st.Packets.Lines)
	require.EqualValues(t, 2, d.st.Packets.Repeats)
}

func TestPacketLogBadValues(t *testing.T) {
	pre := "2026-05-22T10:11:12+0000 node1 kernel: "
	for name, tc := range map[string]struct {
		line, field, msg string
	}{
		"dport 0":          {pre + strings.Replace(kTCP, "DPT=443", "DPT=0", 1), "DPT", "not a port 1-65535"},
		"dport too big":    {pre + strings.Replace(kTCP, "DPT=443", "DPT=65536", 1), "DPT", "not a port"},
		"bad src":          {pre + strings.Replace(kTCP, "SRC=10.10.122.132", "SRC=10.10.122.300", 1), "SRC", "not an IP address"},
		"mixed families":   {pre + strings.Replace(kTCP, "DST=149.154.167.220", "DST=2606:4700::1", 1), "DST", "address family"},
		"bad proto":        {pre + strings.Replace(kTCP, "PROTO=TCP", "PROTO=FOO", 1), "PROTO", "not a protocol"},
		"no dport":         {pre + strings.Replace(kTCP, " DPT=443", "", 1), "DPT", "missing"},
		"truncated":        {pre + kTCP[:strings.Index(kTCP, " SPT=")] + " INCOMPLETE [8 bytes]", "SPT", "truncated"},
		"bad iface":        {pre + strings.Replace(kTCP, "IN=cali6cfdec4abc1", "IN=cali6cfdec4abc1xxxxxxxx", 1), "IN", "interface"},
		"time before 2015": {"2001-05-22T10:11:12+0000 node1 kernel: " + kTCP, "time", "before 2015"},
		"no year":          {"May 22 10:11:12 node1 kernel: " + kTCP, "time", "no year"},
		"dmesg uptime":     {"[12345.678901] " + kTCP, "time", "since boot"},
		"no timestamp":     {kTCP, "time", "no timestamp"},
		"bad time":         {"2026-13-22T10:11:12+0000 node1 kernel: " + kTCP, "time", "not an RFC 3339 time"},
		"journal realtime": {`{"__REALTIME_TIMESTAMP":"abc","MESSAGE":"` + kTCP + `"}`, "__REALTIME_TIMESTAMP", "microseconds"},
	} {
		t.Run(name, func(t *testing.T) {
			d := decodeString(t, lines(pre+kPing, tc.line), packetOpt())
			require.NoError(t, d.err)
			require.Equal(t, FormatPacketLog, d.st.Format)
			require.Len(t, d.flows, 1, "the good line still counts")
			require.EqualValues(t, 1, d.st.Bad)
			p := d.st.Examples[0]
			require.Equal(t, "test", p.File)
			require.Equal(t, 2, p.Line)
			require.Equal(t, tc.field, p.Field)
			require.Contains(t, p.Msg, tc.msg)
			require.Equal(t, ReasonBadValue, p.Reason)
			s := p.String()
			require.True(t, strings.HasPrefix(s, "test:2"), s)
		})
	}
	// The column points at the value.
	d := decodeString(t, pre+strings.Replace(kTCP, "DPT=443", "DPT=0", 1)+"\n", packetOpt())
	p := d.st.Examples[0]
	line := pre + strings.Replace(kTCP, "DPT=443", "DPT=0", 1)
	require.Equal(t, strings.Index(line, "DPT=0")+len("DPT=")+1, p.Column)
	// Strict: the first bad line is the error.
	d = decodeString(t, lines(pre+strings.Replace(kTCP, "DPT=443", "DPT=0", 1)), Options{Strict: true})
	require.Error(t, d.err)
	require.Contains(t, d.err.Error(), "test:1:")
}

func TestPacketLogGzipAndLoki(t *testing.T) {
	pre := "2026-05-22T10:11:12+0000 node1 kernel: "
	d := decodeBytes(t, gzipBytes(t, []byte(lines(pre+kTCP, pre+kV6))), packetOpt())
	require.NoError(t, d.err)
	require.Len(t, d.flows, 2)

	// A saved query_range answer: two streams, merged by time.
	ans := `{"status":"success","data":{"resultType":"streams","result":[` +
		`{"stream":{"job":"node-journal","node":"node2"},"values":[["1779444673000000000","` + kV6 + `"]]},` +
		`{"stream":{"job":"node-journal","node":"node1"},"values":[["1779444672000000000","` + kTCP + `"],["1779444674000000000","` + strings.Replace(kTCP, "DPT=443", "DPT=0", 1) + `"]]}` +
		`],"stats":{}}}`
	d = decodeString(t, ans, packetOpt())
	require.NoError(t, d.err)
	require.Equal(t, FormatPacketLog, d.st.Format)
	require.Len(t, d.flows, 2)
	require.EqualValues(t, 1779444672, d.flows[0].Start)
	require.EqualValues(t, 1779444673, d.flows[1].Start)
	require.EqualValues(t, 1, d.st.Bad)
	require.Equal(t, "data.result[1].values[1]: DPT", d.st.Examples[0].Field)

	// A metric answer carries no lines.
	d = decodeString(t, `{"status":"success","data":{"resultType":"matrix","result":[]}}`, packetOpt())
	require.EqualValues(t, 1, d.st.Bad)
	require.Contains(t, d.st.Examples[0].Msg, "not a log query")
}

func TestPacketLogDetectionLeavesFlowLogsAlone(t *testing.T) {
	// A text file that is not a kernel log still decodes as Enterprise
	// lines (each a bad line), as before.
	d := decodeString(t, "hello world\n", Options{})
	require.Equal(t, FormatEnterprise, d.st.Format)
	// A kern.log whose first lines are other kernel messages is a kernel log.
	d = decodeString(t, lines("2026-05-22T10:11:12.000000+00:00 node1 kernel: [    0.000000] Linux version 6.1.0", "2026-05-22T10:11:13.000000+00:00 node1 kernel: "+kTCP), packetOpt())
	require.Equal(t, FormatPacketLog, d.st.Format)
	require.Len(t, d.flows, 1)
}

func FuzzPacketLog(f *testing.F) {
	pre := "2026-05-22T10:11:12+0000 node1 kernel: "
	for _, l := range []string{kTCP, kUDP, kPing, kInput, kV6, kICMPErr, kICMP6} {
		f.Add([]byte(pre + l + "\n"))
		f.Add([]byte(pre + l[:len(l)/2]))
		f.Add([]byte(`{"__REALTIME_TIMESTAMP":"1779444672123456","MESSAGE":"` + l + `"}` + "\n"))
		f.Add([]byte("[Fri May 22 10:11:12 2026] " + strings.Replace(l, "calico-packet: ", "calico-packet", 1)))
	}
	f.Add([]byte(`{"status":"success","data":{"resultType":"streams","result":[{"stream":{"node":"n"},"values":[["1779444672000000000","` + kTCP + `"]]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecodeAll(t, data, Options{Format: FormatPacketLog, Packets: &PacketLogOptions{Pods: testPods}}, func(fl *Flow) {
			if fl.Origin != OriginPacketLog {
				return
			}
			if err := fl.CheckValues(true); err != nil {
				t.Fatalf("emitted an impossible flow: %v", err)
			}
			if !fl.Dest.IP.IsValid() && fl.Dest.Type != EndpointWorkload {
				t.Fatalf("network destination without an address: %+v", fl)
			}
			if fl.Proto == 0 {
				t.Fatalf("flow without protocol: %+v", fl)
			}
		})
		var pl PacketLog
		_, _ = ParsePacketLog(data, DefaultLogPrefix, &pl)
	})
}

func TestPacketLogDestinationsInClusterRanges(t *testing.T) {
	pre := "2026-05-22T10:11:12+0000 node1 kernel: "
	opt := Options{Packets: &PacketLogOptions{Pods: testPods,
		PodNets: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/16")}, ServiceNets: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}}}
	d := decodeString(t, lines(
		pre+strings.Replace(kTCP, "DST=149.154.167.220", "DST=10.10.9.9", 1),   // a pod no listing has
		pre+strings.Replace(kTCP, "DST=149.154.167.220", "DST=10.96.0.15", 1),  // a Service address: no DNAT ran
		pre+strings.Replace(kTCP, "DST=149.154.167.220", "DST=10.0.20.102", 1), // a node: kept as a private address
		pre+kUDP, // OUT= names the destination pod
	), opt)
	require.NoError(t, d.err)
	require.Zero(t, d.st.Bad)
	require.Len(t, d.flows, 2)
	require.Equal(t, "10.0.20.102", d.flows[0].Dest.IP.String())
	require.Equal(t, "kube-system", d.flows[1].Dest.Namespace)
	require.EqualValues(t, 1, d.st.Packets.DestPodUnknown)
	require.EqualValues(t, 1, d.st.Packets.DestService)
	require.EqualValues(t, 1, d.st.Packets.DestUnmapped)
	w := strings.Join(d.st.Warnings, "\n")
	require.Contains(t, w, "pod ranges (networks.pods) that no listed pod held: reported, not used")
	require.Contains(t, w, "Service address")
}
