package flows

import (
	"strconv"
	"time"
)

// Impossible values. A flow record is evidence only when its values could
// describe a real connection; a record that cannot is a bad record (reason
// ReasonBadValue), skipped and reported like malformed JSON, never folded
// into an allowlist. One impossible time is enough to do damage: the
// aggregator counts every UTC day between a record's start and end, so a
// record starting at -1 makes a namespace look observed for 20,000 days.
//
// The bounds on time are absolute, not relative to this machine's clock
// (observing must give the same result whenever it runs, and the data's
// clock may legitimately differ from ours) and not relative to the newest
// record of the input (records are folded in as they are read, and a
// second pass is impossible for a pipe):
//
//   - MinTime: no Calico flow log predates 2015 (flow logs shipped with
//     Calico Enterprise in 2018; Goldmane in 2025), so an earlier time,
//     zero or negative is a placeholder, a unit mistake or an edit.
//   - MaxTime: 2100-01-01, far enough ahead never to reject real data, so
//     a time past it is corrupt.
//   - MaxSpan: one record covers one export window: Felix writes one every
//     flowLogsFlushInterval (5 minutes by default), Goldmane aggregates
//     15-second buckets and keeps about an hour. A record covering more
//     than two days is not a flow-log record, and admitting it would count
//     every day it covers as a day seen.
const (
	MinTime int64 = 1420070400 // 2015-01-01T00:00:00Z
	MaxTime int64 = 4102444800 // 2100-01-01T00:00:00Z
	MaxSpan int64 = 2 * 86400
)

// flowField names the value CheckValues found impossible.
type flowField uint8

const (
	ffNone flowField = iota
	ffStart
	ffEnd
	ffDestPort
	ffNumFlows
	ffBytes
	ffPackets
)

var flowFieldNames = [...]string{"", "start_time", "end_time", "dest_port", "num_flows", "bytes_in", "packets_in"}

// ValueError is an impossible value in a flow record.
type ValueError struct {
	// Field is the flow-log field (start_time, end_time, dest_port,
	// num_flows, bytes_in, packets_in).
	Field string
	Msg   string
}

func (e *ValueError) Error() string { return e.Field + ": " + e.Msg }

// CheckValues reports the first value in f that no real flow can have: a
// start or end time outside [MinTime, MaxTime) (zero, negative, far in the
// future), an end before the start, a window longer than MaxSpan, a
// negative flow, byte or packet count, or, when portStated, destination
// port 0 on a protocol with ports (TCP, UDP, SCTP, UDPLite).
//
// portStated says the record stated the destination port. Enterprise flow
// logs write null when the port was aggregated away (level 3), which the
// allowlist records as "every port of the protocol"; an explicit 0 is not
// a port anyone connects to, and taking it as "every port" would open all
// of them. Goldmane (and Whisker, which shows Goldmane flows) never
// aggregates ports, so a missing port there is a zero port.
//
// Decoders check the raw counters (bytes_in, num_flows_started, ...) for
// negative values as they read them; CheckValues sees only their sums.
// Every decoder calls it on every record (see checkFlow).
func (f *Flow) CheckValues(portStated bool) error {
	if field, msg := f.badValue(portStated); field != ffNone {
		return &ValueError{Field: flowFieldNames[field], Msg: msg}
	}
	return nil
}

// valuesOK is the fast path of CheckValues: a handful of comparisons.
func (f *Flow) valuesOK(portStated bool) bool {
	return f.Start >= MinTime && f.End >= f.Start && f.End < MaxTime && f.End-f.Start <= MaxSpan &&
		f.NumFlows|f.Bytes|f.Packets >= 0 && // sign bit clear in all three
		(!portStated || f.Dest.Port != 0 || !f.Proto.HasPorts())
}

// badValue returns the first impossible value and why (ffNone when all are
// plausible).
func (f *Flow) badValue(portStated bool) (flowField, string) {
	if f.valuesOK(portStated) {
		return ffNone, ""
	}
	if m := timeProblem(f.Start); m != "" {
		return ffStart, m
	}
	if m := timeProblem(f.End); m != "" {
		return ffEnd, m
	}
	if f.End < f.Start {
		return ffEnd, fmtTime(f.End) + " is before start_time " + fmtTime(f.Start)
	}
	if f.End-f.Start > MaxSpan {
		return ffEnd, fmtTime(f.End) + " is " + (time.Duration(f.End-f.Start) * time.Second).String() + " after start_time " + fmtTime(f.Start) +
			": one flow-log record covers one export window, at most 2 days"
	}
	if f.NumFlows < 0 {
		return ffNumFlows, strconv.FormatInt(f.NumFlows, 10) + " is negative"
	}
	if f.Bytes < 0 {
		return ffBytes, "byte count " + strconv.FormatInt(f.Bytes, 10) + " is negative (bytes_in + bytes_out overflows)"
	}
	if f.Packets < 0 {
		return ffPackets, "packet count " + strconv.FormatInt(f.Packets, 10) + " is negative (packets_in + packets_out overflows)"
	}
	return ffDestPort, "0 on " + f.Proto.String() + ": no connection goes to port 0 " +
		"(a port the flow log did not record is null or absent, never 0)"
}

// timeProblem describes why t is not a plausible flow-log time ("" if it is).
func timeProblem(t int64) string {
	switch {
	case t == 0:
		return "0: missing or zero"
	case t < 0:
		return strconv.FormatInt(t, 10) + " is negative"
	case t < MinTime:
		return fmtTime(t) + " is before 2015-01-01: older than any Calico flow log"
	case t >= MaxTime:
		return fmtTime(t) + " is after 2100-01-01: far in the future"
	}
	return ""
}

// fmtTime renders epoch seconds with their UTC time, for messages.
func fmtTime(t int64) string {
	s := strconv.FormatInt(t, 10)
	if t > -62135596800 && t < 253402300800 { // years 1..9999
		s += " (" + time.Unix(t, 0).UTC().Format(time.RFC3339) + ")"
	}
	return s
}

// negativeCount is the recErr of a negative counter field.
func negativeCount(off int, field string, v int64) *recErr {
	return errValue(off, field, ReasonBadValue, strconv.FormatInt(v, 10)+" is negative")
}

// fieldOffsets are the byte offsets, within a record, of the values
// CheckValues judges, so that a problem points at the field (-1: absent).
type fieldOffsets struct {
	start, end, destPort int
}

func (o *fieldOffsets) reset() { *o = fieldOffsets{-1, -1, -1} }

func (o *fieldOffsets) of(field flowField) int {
	switch field {
	case ffStart:
		return o.start
	case ffEnd:
		return o.end
	case ffDestPort:
		return o.destPort
	}
	return -1
}

// checkFlow is what every record decoder calls last: it turns an
// impossible value into the record's problem. names maps the checked
// fields to the decoder's spelling (nil: the Enterprise names).
func checkFlow(f *Flow, portStated bool, offs *fieldOffsets, names *[len(flowFieldNames)]string) *recErr {
	if f.valuesOK(portStated) {
		return nil
	}
	field, msg := f.badValue(portStated)
	name := flowFieldNames[field]
	if names != nil {
		name = names[field]
	}
	off := offs.of(field)
	if off < 0 {
		off = 0
	}
	return errValue(off, name, ReasonBadValue, msg)
}
