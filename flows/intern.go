package flows

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Interning and value caches used by the decoders, one set per worker (no
// locking). Flow logs repeat the same namespaces, names, label sets and
// policy traces millions of times; looking the raw bytes up in a map
// (m[string(b)] does not allocate) returns the string or slice decoded the
// first time, so the steady state allocates nothing.
//
// Every table is bounded: when it reaches its entry or byte cap it is
// cleared and refilled, so unbounded values (full pod names at aggregation
// level 0, IPs, unique labels) cannot grow memory without bound. Values
// handed out before a reset stay valid: they are ordinary immutable strings
// and slices, collected when nothing references them.

const (
	internMaxLen     = 512     // longer strings are never interned
	internMaxEntries = 1 << 16 // strings per worker
	internMaxBytes   = 8 << 20
	cacheMaxEntries  = 1 << 16 // label sets, traces, policy strings per worker
	cacheMaxBytes    = 8 << 20
	cacheMaxKeyLen   = 16 << 10 // raw values longer than this are not cached
)

// boundedCache maps raw value bytes to a decoded value. A small
// direct-mapped table of recent hits sits in front of the map: it stays in
// the CPU caches where the map's entries do not, and most lookups end there.
type boundedCache[V any] struct {
	m          map[string]frontEntry[V] // the entry repeats the key, to fill front without allocating
	front      []frontEntry[V]          // len is a power of two
	bytes      int
	maxEntries int
	maxBytes   int
}

type frontEntry[V any] struct {
	k string
	v V
}

// Front table sizes (powers of two): names repeat across a cluster's
// workloads, so the interner's is larger.
const (
	cacheFront  = 512
	internFront = 4096
)

func newBoundedCache[V any](maxEntries, maxBytes, front int) boundedCache[V] {
	return boundedCache[V]{m: make(map[string]frontEntry[V], 256), front: make([]frontEntry[V], front),
		maxEntries: maxEntries, maxBytes: maxBytes}
}

func (c *boundedCache[V]) get(k []byte) (V, bool) {
	f := &c.front[frontHash(k)&uint(len(c.front)-1)]
	if len(f.k) == len(k) && len(k) > 0 && f.k == string(k) {
		return f.v, true
	}
	e, ok := c.m[string(k)]
	if ok {
		*f = e
	}
	return e.v, ok
}

// put stores v under k; cost approximates the memory v retains.
func (c *boundedCache[V]) put(k string, v V, cost int) {
	if len(k) > cacheMaxKeyLen {
		return
	}
	cost += len(k) + 48
	if len(c.m) >= c.maxEntries || c.bytes+cost > c.maxBytes {
		clear(c.m)
		clear(c.front)
		c.bytes = 0
	}
	c.m[k] = frontEntry[V]{k, v}
	c.bytes += cost
}

// hashCache maps raw value bytes to a decoded value by a 128-bit hash of
// the bytes (two independently seeded runtime hashes) instead of the bytes
// themselves. The table stays small enough for the CPU caches, where a
// string-keyed map spends most of a lookup fetching the stored key to
// compare it. Two different values share a key with probability about
// N²/2^129 for N distinct values (1e-26 for a million): far below any other
// source of error in flow data.
type hashCache[V any] struct {
	m          map[hashKey]V
	bytes      int
	maxEntries int
	maxBytes   int
}

type hashKey [2]uint64

var hashSeed0, hashSeed1 = maphash.MakeSeed(), maphash.MakeSeed()

func keyOf(b []byte) hashKey {
	return hashKey{maphash.Bytes(hashSeed0, b), maphash.Bytes(hashSeed1, b)}
}

func newHashCache[V any](maxEntries, maxBytes int) hashCache[V] {
	return hashCache[V]{m: make(map[hashKey]V, 256), maxEntries: maxEntries, maxBytes: maxBytes}
}

func (c *hashCache[V]) get(k hashKey) (V, bool) {
	v, ok := c.m[k]
	return v, ok
}

// put stores v; cost approximates the memory v retains.
func (c *hashCache[V]) put(k hashKey, v V, cost int) {
	cost += 64
	if len(c.m) >= c.maxEntries || c.bytes+cost > c.maxBytes {
		clear(c.m)
		c.bytes = 0
	}
	c.m[k] = v
	c.bytes += cost
}

// interner returns canonical strings for byte slices.
type interner struct {
	c boundedCache[string]
}

var frontSeed = maphash.MakeSeed()

// frontHash picks a front-table slot: shortHash for short keys, the
// runtime's AES-based hash over all bytes for longer ones (label sets and
// policy arrays share long prefixes and suffixes).
func frontHash(b []byte) uint {
	if len(b) <= 24 {
		return shortHash(b)
	}
	return uint(maphash.Bytes(frontSeed, b))
}

// shortHash hashes the length and the first and last 8 bytes of b, which
// tells apart the names flow logs repeat; collisions only cost a map
// lookup.
func shortHash(b []byte) uint {
	n := len(b)
	var x uint64
	if n >= 8 {
		x = binary.LittleEndian.Uint64(b) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(b[n-8:]), 29)
	} else {
		for _, c := range b {
			x = x<<8 | uint64(c)
		}
	}
	x ^= uint64(n) * 0x9E3779B97F4A7C15
	x *= 0xff51afd7ed558ccd
	return uint(x >> 32)
}

func newInterner() *interner {
	return &interner{c: newBoundedCache[string](internMaxEntries, internMaxBytes, internFront)}
}

// str returns b as a string, shared with earlier calls for the same bytes.
// Invalid UTF-8 is replaced by U+FFFD, as encoding/json does.
func (in *interner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in.c.get(b); ok {
		return s
	}
	if len(b) > internMaxLen {
		return validString(b)
	}
	if utf8.Valid(b) {
		s := string(b)
		in.c.put(s, s, 0)
		return s
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	in.c.put(string(b), s, len(s))
	return s
}

// validString converts b to a string, replacing invalid UTF-8.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
