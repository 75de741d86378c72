package goldmane

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/fnv"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// A Mark tells whether Goldmane restarted. Goldmane keeps flows in memory
// only; a restarted Goldmane has lost them (Felix resends the flows of its
// last five minutes, no more). Goldmane numbers flow keys (FlowResult.id)
// in the order it first sees them and keeps a key's id while it holds any
// bucket of that key, and a restarted Goldmane numbers keys anew. So a
// bucket listed again while Goldmane still retains it comes back with the
// same keys under the same ids, unless Goldmane restarted in between.
//
// A Mark holds a few keys of one bucket with their ids: the keys with the
// smallest digests of the newest bucket that had flows.
type Mark struct {
	// Bucket is the start of the bucket.
	Bucket time.Time
	// Keys are the digests (KeyDigest) of up to MarkKeys of its flow keys
	// with Goldmane's id for each, sorted by digest.
	Keys []KeyID
}

// KeyID is a flow key's digest and the id Goldmane gave the key.
type KeyID struct {
	Digest string
	ID     int64
}

// MarkKeys is how many keys a Mark keeps.
const MarkKeys = 8

// keyHash is a 128-bit FNV-1a digest of a flow key's deterministic
// protobuf encoding.
type keyHash [16]byte

func (k keyHash) String() string { return hex.EncodeToString(k[:]) }

// keyHasher digests flow keys, reusing its buffers (not safe for
// concurrent use).
type keyHasher struct {
	buf []byte
	h   hash.Hash
}

func newKeyHasher() *keyHasher { return &keyHasher{h: fnv.New128a()} }

func (kh *keyHasher) sum(k *pb.FlowKey) keyHash {
	kh.buf, _ = proto.MarshalOptions{Deterministic: true}.MarshalAppend(kh.buf[:0], k)
	kh.h.Reset()
	_, _ = kh.h.Write(kh.buf)
	var out keyHash
	kh.h.Sum(out[:0])
	return out
}

// KeyDigest is the hex digest of a flow key that a Mark records.
func KeyDigest(k *pb.FlowKey) string { return newKeyHasher().sum(k).String() }

// MarkBuilder collects the Mark of the newest bucket it is shown (the zero
// value is ready to use).
type MarkBuilder struct {
	bucket int64
	keys   []KeyID
}

// AddResult offers a List or Stream result: its key was in the bucket
// ending at its end time.
func (b *MarkBuilder) AddResult(r *pb.FlowResult, interval time.Duration) {
	if e := r.GetFlow().GetEndTime(); e > 0 {
		b.add(e-int64(interval/time.Second), newKeyHasher().sum(r.GetFlow().GetKey()), r.GetId())
	}
}

// add offers a key seen in the bucket starting at bucket. Keys without an
// id (a server that sends none) are ignored.
func (b *MarkBuilder) add(bucket int64, digest keyHash, id int64) {
	if id <= 0 || bucket < b.bucket {
		return
	}
	if bucket > b.bucket {
		b.bucket, b.keys = bucket, b.keys[:0]
	}
	d := digest.String()
	i := sort.Search(len(b.keys), func(i int) bool { return b.keys[i].Digest >= d })
	if i < len(b.keys) && b.keys[i].Digest == d {
		b.keys[i].ID = id
		return
	}
	if i >= MarkKeys {
		return
	}
	if len(b.keys) == MarkKeys {
		b.keys = b.keys[:MarkKeys-1]
	}
	b.keys = append(b.keys, KeyID{})
	copy(b.keys[i+1:], b.keys[i:])
	b.keys[i] = KeyID{Digest: d, ID: id}
}

// Mark returns the Mark collected so far, or nil.
func (b *MarkBuilder) Mark() *Mark {
	if len(b.keys) == 0 {
		return nil
	}
	return &Mark{Bucket: time.Unix(b.bucket, 0), Keys: append([]KeyID(nil), b.keys...)}
}

// CheckMark lists m's bucket again and reports whether Goldmane restarted
// since m was taken: a key of m is missing from the bucket or has another
// id. The caller makes sure the bucket is still retained (a bucket that
// expired comes back empty too).
func (c *Client) CheckMark(ctx context.Context, m *Mark, interval time.Duration, pageSize int) (restarted bool, err error) {
	if m == nil || len(m.Keys) == 0 {
		return false, nil
	}
	want := make(map[string]int64, len(m.Keys))
	for _, k := range m.Keys {
		want[k.Digest] = k.ID
	}
	kh := newKeyHasher()
	found := 0
	b := m.Bucket.Unix()
	_, err = c.ListRequest(ctx, &pb.FlowListRequest{StartTimeGte: b, StartTimeLt: b + int64(interval/time.Second), PageSize: int64(pageSize)},
		func(r *pb.FlowResult) error {
			id, ok := want[kh.sum(r.GetFlow().GetKey()).String()]
			if !ok {
				return nil
			}
			if id != r.GetId() {
				restarted = true
			}
			found++
			return nil
		})
	if err != nil {
		return false, err
	}
	return restarted || found != len(want), nil
}

// String describes the mark for logs.
func (m *Mark) String() string {
	if m == nil {
		return "no mark"
	}
	return fmt.Sprintf("%d keys of bucket %s", len(m.Keys), m.Bucket.UTC().Format(time.RFC3339))
}
