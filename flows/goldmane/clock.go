package goldmane

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/calico-plan/calico-plan/flows/goldmanepb"
)

// Goldmane's clock, not ours, decides which buckets exist and which are
// complete: a workstation whose clock drifted would otherwise list buckets
// Goldmane is still filling (and move its watermark past them), or miss the
// newest ones. Goldmane has no call that returns its time, but it resolves
// negative times in a List relative to its own now and rejects a window
// whose start is not before its end, naming both resolved times
// ("startTimeGt (N) must be less than startTimeLt (N)", Calico v3.30 to
// v3.32). ServerNow asks for the empty window [now-1s, now-1s) and reads
// the answer; if the wording ever changes, it finds the same second by
// bisection over that accept/reject answer alone.

// rejectedWindow matches Goldmane's answer to an empty window.
var rejectedWindow = regexp.MustCompile(`startTimeGt \((-?\d+)\) must be less than startTimeLt \((-?\d+)\)`)

// probeFilter matches no flow, so that an accepted probe List costs the
// server no results.
var probeFilter = &pb.Filter{SourceNames: []*pb.StringMatch{{Value: "\x00calico-plan clock probe", Type: pb.MatchType_Exact}}}

// ErrNoClock is returned (wrapped) when Goldmane's answers do not tell its
// time.
var ErrNoClock = errors.New("cannot read the server's clock")

// ServerNow returns Goldmane's current time (whole seconds, rounded down,
// so that windows derived from it never reach past what the server has).
func (c *Client) ServerNow(ctx context.Context) (time.Time, error) {
	_, err := c.flows.List(ctx, &pb.FlowListRequest{StartTimeGte: -1, StartTimeLt: -1, PageSize: 1, Filter: probeFilter})
	if err == nil {
		return time.Time{}, fmt.Errorf("goldmane %s: %w: it accepted an empty time window", c.addr, ErrNoClock)
	}
	if !windowRejected(err) {
		return time.Time{}, c.rpcError("List", err)
	}
	if m := rejectedWindow.FindStringSubmatch(status.Convert(err).Message()); m != nil {
		lt, perr := strconv.ParseInt(m[2], 10, 64)
		if perr == nil && lt > 0 {
			return time.Unix(lt+1, 0), nil
		}
	}
	return c.bisectNow(ctx)
}

// windowRejected tells Goldmane's answer to an invalid window (a plain
// error, which gRPC reports as Unknown; InvalidArgument is accepted too)
// from a failure to reach it.
func windowRejected(err error) bool {
	switch status.Code(err) {
	case codes.Unknown, codes.InvalidArgument:
		return true
	}
	return false
}

// bisectNow finds the server's time within two days of ours: a List of
// [t, now-1s) is accepted exactly when t < now-1s.
func (c *Client) bisectNow(ctx context.Context) (time.Time, error) {
	accepted := func(t int64) (bool, error) {
		_, err := c.flows.List(ctx, &pb.FlowListRequest{StartTimeGte: t, StartTimeLt: -1, PageSize: 1, Filter: probeFilter})
		switch {
		case err == nil:
			return true, nil
		case windowRejected(err):
			return false, nil
		}
		return false, c.rpcError("List", err)
	}
	local := time.Now().Unix()
	lo, hi := local-2*86400, local+2*86400 // accepted(lo), !accepted(hi)
	for _, probe := range []struct {
		t    int64
		want bool
	}{{lo, true}, {hi, false}} {
		ok, err := accepted(probe.t)
		if err != nil {
			return time.Time{}, err
		}
		if ok != probe.want {
			return time.Time{}, fmt.Errorf("goldmane %s: %w (it is more than two days from this machine's, or the server does not check time windows)", c.addr, ErrNoClock)
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := accepted(mid)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	// hi is the first rejected start: the server's now-1s.
	return time.Unix(hi+1, 0), nil
}

// serverClock extrapolates one reading of the server's clock with this
// machine's monotonic clock, which measures elapsed time well even when
// its wall clock is wrong.
type serverClock struct {
	at    time.Time // server time read
	local time.Time // local reading (monotonic) taken after the answer
}

func (s serverClock) now() time.Time {
	if s.at.IsZero() {
		return time.Time{}
	}
	return s.at.Add(time.Since(s.local))
}

func (c *Client) readClock(ctx context.Context) (serverClock, error) {
	t, err := c.ServerNow(ctx)
	if err != nil {
		return serverClock{}, err
	}
	return serverClock{at: t, local: time.Now()}, nil
}

// WaitServer waits until Goldmane's clock reaches until, reading it again
// every poll (at most; default 1 s).
func (c *Client) WaitServer(ctx context.Context, until time.Time, poll time.Duration) error {
	if poll <= 0 {
		poll = time.Second
	}
	for {
		now, err := c.ServerNow(ctx)
		if err != nil {
			return err
		}
		if !now.Before(until) {
			return nil
		}
		t := time.NewTimer(min(poll, until.Sub(now)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
