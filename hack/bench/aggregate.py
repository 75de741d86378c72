#!/usr/bin/env python3
"""Yardstick for `make bench-observe`: the plain Python way to aggregate Calico
Enterprise flow-log lines into per-namespace egress keys (json + dict), no
validation, no store. calico-plan's observe does this and much more; this
script is what its speed is compared against."""
import json
import sys

counts = {}
with open(sys.argv[1], "rb") as f:
    for line in f:
        r = json.loads(line)
        if r.get("reporter") != "src":
            continue
        k = (r["source_namespace"], r["source_name_aggr"], r["dest_type"],
             r["dest_namespace"], r["dest_name_aggr"], r["proto"],
             r["dest_port"], r["action"])
        c = counts.get(k)
        if c is None:
            counts[k] = [r["num_flows"], r["bytes_out"], r["start_time"], r["end_time"]]
        else:
            c[0] += r["num_flows"]
            c[1] += r["bytes_out"]
            c[2] = min(c[2], r["start_time"])
            c[3] = max(c[3], r["end_time"])
print(len(counts), "keys", file=sys.stderr)
