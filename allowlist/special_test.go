package allowlist

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/profile"
)

// Special ranges are never public: each is its own class (old code called
// every one of them "public").
func TestClassifySpecialRanges(t *testing.T) {
	c := NewClassifier(profile.Default())
	cases := []struct {
		ip    string
		port  uint16
		class string
	}{
		{"169.254.169.254", 80, SpecialLinkLocal}, // the cloud metadata service
		{"169.254.20.11", 8080, SpecialLinkLocal},
		{"fe80::1%eth0", 443, SpecialLinkLocal}, // a zone id names the sender's interface
		{"fe80::1", 443, SpecialLinkLocal},
		{"127.0.0.1", 8080, SpecialLoopback},
		{"::1", 8080, SpecialLoopback},
		{"100.64.3.4", 443, SpecialCGNAT},
		{"100.127.255.254", 443, SpecialCGNAT},
		{"192.0.2.10", 443, SpecialDocumentation},
		{"198.51.100.1", 443, SpecialDocumentation},
		{"203.0.113.9", 443, SpecialDocumentation},
		{"2001:db8::5", 443, SpecialDocumentation},
		{"255.255.255.255", 67, SpecialBroadcast},
		{"224.0.0.251", 5353, SpecialMulticast},
		{"ff02::fb", 5353, SpecialMulticast},
		{"fd12:3456::1", 443, SpecialUniqueLocal},
		{"::ffff:169.254.169.254", 80, SpecialLinkLocal}, // IPv4-mapped
	}
	for _, tc := range cases {
		t.Run(tc.ip, func(t *testing.T) {
			f := srcFlow()
			f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: netip.MustParseAddr(tc.ip), Port: tc.port}
			got, skip := classifyOne(t, c, f)
			require.Empty(t, skip)
			require.Equal(t, key{ns: "shop", kind: PeerSpecial, peerName: tc.class, hasNets: true, proto: flows.ProtoTCP, port: tc.port}, got)
		})
	}
	// Just outside the ranges: public.
	for _, ip := range []string{"100.63.255.255", "100.128.0.0", "169.253.255.255", "192.0.3.1", "2001:db9::1", "8.8.8.8"} {
		f := srcFlow()
		f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: netip.MustParseAddr(ip), Port: 443}
		got, _ := classifyOne(t, c, f)
		require.Equal(t, PeerPublic, got.kind, ip)
	}
}

// DNS to the profile's listeners stays the DNS peer, NodeLocal DNSCache's
// link-local 169.254.20.10 included; so does a listener named with a zone.
func TestDNSListenersStayDNS(t *testing.T) {
	p := profile.Default()
	p.DNS.Addresses = append(p.DNS.Addresses, profile.Prefix{Prefix: netip.MustParsePrefix("fe80::53/128")})
	c := NewClassifier(p)
	for _, ip := range []string{"169.254.20.10", "10.96.0.10", "fe80::53%eth0"} {
		f := srcFlow()
		f.Proto, f.Dest = flows.ProtoUDP, flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: netip.MustParseAddr(ip), Port: 53}
		got, _ := classifyOne(t, c, f)
		require.Equal(t, PeerDNS, got.kind, ip)
	}
	// Goldmane gives no address: port 53 to "pub" is the cluster DNS.
	f := srcFlow()
	f.Proto, f.Dest = flows.ProtoUDP, flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", Port: 53}
	got, _ := classifyOne(t, c, f)
	require.Equal(t, PeerDNS, got.kind)
}

// The profile's private ranges come first: a cluster that uses CGNAT space
// for its own network lists it there.
func TestProfilePrivateRangesWinOverSpecial(t *testing.T) {
	p := profile.Default()
	p.Networks.Private = append(p.Networks.Private, profile.Prefix{Prefix: netip.MustParsePrefix("100.64.0.0/10")})
	f := srcFlow()
	f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pvt", IP: netip.MustParseAddr("100.64.3.4"), Port: 443}
	got, _ := classifyOne(t, NewClassifier(p), f)
	require.Equal(t, PeerPrivate, got.kind)
}

// Through the store: the entry is "special link-local" with the address
// without its zone, and hand-edited special entries are validated.
func TestSpecialEntriesInTheStore(t *testing.T) {
	p := profile.Default()
	f := srcFlow()
	f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: netip.MustParseAddr("fe80::1%eth0"), Port: 443}
	g := srcFlow()
	g.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: netip.MustParseAddr("169.254.169.254"), Port: 80}
	dir := t.TempDir()
	s, err := Open(dir, p)
	require.NoError(t, err)
	s.Apply(aggregate(p, []flows.Flow{f, g}))
	require.NoError(t, s.Save())
	s2, err := Open(dir, p)
	require.NoError(t, err)
	eg := s2.Namespace("shop").Egress
	require.Len(t, eg, 2)
	require.Equal(t, Peer{Kind: PeerSpecial, Name: SpecialLinkLocal, Nets: []string{"169.254.169.254/32"}}, eg[0].Peer)
	require.Equal(t, Peer{Kind: PeerSpecial, Name: SpecialLinkLocal, Nets: []string{"fe80::1/128"}}, eg[1].Peer)
	require.Equal(t, "special link-local 169.254.169.254/32", eg[0].Peer.String())

	b, err := os.ReadFile(filepath.Join(dir, "shop.yaml"))
	require.NoError(t, err)
	bad := strings.Replace(string(b), "169.254.169.254/32", "8.8.8.8/32", 1)
	_, err = ParseNamespace([]byte(bad), "shop.yaml")
	require.ErrorContains(t, err, "peer.nets: 8.8.8.8/32 is not inside the link-local ranges")
	bad = strings.Replace(string(b), "name: link-local", "name: weird", 1)
	_, err = ParseNamespace([]byte(bad), "shop.yaml")
	require.ErrorContains(t, err, `peer.name: "weird" is not a special address class`)
}

// publicFlows returns one flow to each of n distinct public addresses,
// spread over 20.0.0.0-59.255.255.255 (deterministic).
func publicFlows(n int, seed uint64) []flows.Flow {
	r := rand.New(rand.NewPCG(seed, 1))
	seen := map[netip.Addr]bool{}
	var out []flows.Flow
	for len(out) < n {
		a := netip.AddrFrom4([4]byte{byte(20 + r.IntN(40)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		if seen[a] {
			continue
		}
		seen[a] = true
		f := srcFlow()
		f.Start += int64(len(out))
		f.End = f.Start + 10
		f.Dest = flows.Endpoint{Type: flows.EndpointNetwork, NameAggr: "pub", IP: a, Port: 443}
		out = append(out, f)
	}
	return out
}

// An entry holds at most aggregation.maxAddresses prefixes: beyond, its
// addresses are widened step by step within the /16 limit, every address
// stays covered, and the file says so.
func TestFoldingBoundsAnEntry(t *testing.T) {
	p := profile.Default()
	p.Aggregation.MaxAddresses = 64
	fs := publicFlows(5000, 1)
	a := aggregate(p, fs)
	for _, ac := range a.accs {
		require.LessOrEqual(t, len(ac.nets), 2*64, "bounded while observing")
	}
	s, err := Open(t.TempDir(), p)
	require.NoError(t, err)
	s.Apply(a)
	_, err = s.Render()
	require.NoError(t, err)
	e := s.Namespace("shop").Egress[0]
	require.NotNil(t, e.Folded)
	require.Equal(t, 64, e.Folded.Over)
	require.LessOrEqual(t, len(e.Peer.Nets), 64)
	ps, err := e.Peer.Prefixes()
	require.NoError(t, err)
	for _, pr := range ps {
		require.GreaterOrEqual(t, pr.Bits(), 16, "never wider than minPrefixV4")
	}
	if !e.Folded.Truncated {
		set := NewPrefixSet(ps)
		for _, f := range fs {
			require.True(t, set.Covers(netip.PrefixFrom(f.Dest.IP, 32)), "%s lost", f.Dest.IP)
		}
	}

	// 5,000 addresses over 40 /8s span more than 64 /16s: even the widest
	// step is too many, so the entry keeps the first 64 and is truncated.
	require.True(t, e.Folded.Truncated)
	require.Equal(t, 16, e.Folded.IPv4)
	require.Len(t, ps, 64)

	// Fewer networks: folding stops at the first step that fits.
	p.Aggregation.MaxAddresses = 300
	var near []flows.Flow
	for i, f := range fs {
		f.Dest.IP = netip.AddrFrom4([4]byte{20, byte(i % 3), byte(i / 256 % 256), byte(i % 256)})
		near = append(near, f)
	}
	s, _ = Open(t.TempDir(), p)
	s.Apply(aggregate(p, near))
	_, err = s.Render()
	require.NoError(t, err)
	e = s.Namespace("shop").Egress[0]
	require.NotNil(t, e.Folded)
	require.False(t, e.Folded.Truncated)
	require.Equal(t, 24, e.Folded.IPv4, "/28 leaves too many, /24 fits")
	ps, _ = e.Peer.Prefixes()
	set := NewPrefixSet(ps)
	for _, f := range near {
		require.True(t, set.Covers(netip.PrefixFrom(f.Dest.IP, 32)))
	}
}

// Folding depends only on the addresses seen: parallel workers, several
// observe runs (through the files) and a serial run give the same bytes.
func TestFoldingIsOrderIndependent(t *testing.T) {
	p := profile.Default()
	p.Aggregation.MaxAddresses = 100
	for _, fs := range [][]flows.Flow{publicFlows(3000, 2), append(publicFlows(90, 3), publicFlows(30, 4)...)} {
		whole, _ := Open(t.TempDir(), p)
		whole.Apply(aggregate(p, fs))
		want := renderStore(t, whole)

		r := rand.New(rand.NewPCG(9, 9))
		shuffled := append([]flows.Flow(nil), fs...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		workers := make([]*Aggregator, 5)
		for i := range workers {
			workers[i] = NewAggregator(NewClassifier(p))
		}
		for i := range shuffled {
			workers[i%len(workers)].Add(&shuffled[i])
		}
		for _, w := range workers[1:] {
			workers[0].Merge(w)
		}
		par, _ := Open(t.TempDir(), p)
		par.Apply(workers[0])
		require.Equal(t, want, renderStore(t, par), "parallel")

		dir := t.TempDir()
		for _, part := range [][]flows.Flow{shuffled[:len(fs)/3], shuffled[len(fs)/3 : len(fs)/2], shuffled[len(fs)/2:]} {
			inc, err := Open(dir, p)
			require.NoError(t, err)
			inc.Apply(aggregate(p, part))
			require.NoError(t, inc.Save())
		}
		inc, err := Open(dir, p)
		require.NoError(t, err)
		got := renderStore(t, inc)
		// Observation windows differ with the order; the entries do not.
		require.Equal(t, egressSection(want["shop.yaml"]), egressSection(got["shop.yaml"]), "incremental")
	}
}

func egressSection(file string) string {
	i := strings.Index(file, "egress:")
	return file[i:]
}
