#!/usr/bin/env bash
# CPU of one probe_engine bench binary at 10,000 providers, measured from outside with
# `perf stat -e task-clock` over the steady 60 s (the ticks at 30 s and 60 s), so two
# builds (e.g. before and after a change, built with the same profile) can be compared
# run by run, alternately, on a quiet machine. Not a test.
#   benches/perf_ab.sh target/release/deps/probe_engine-<hash> LABEL
set -euo pipefail
BIN=$1
LABEL=$2
OUT=$(mktemp -d /tmp/perf-ab.XXXXXX)
cd "$OUT"
setsid "$BIN" 10000 >"$OUT/bench.out" 2>&1 &
LEADER=$!
sleep 25
perf stat -x, -e task-clock,context-switches -p "$LEADER" -- sleep 60 2>"$OUT/stat"
# The bench and its endpoint server are one session: stop both.
kill -TERM -- "-$LEADER" 2>/dev/null || true
sleep 1
kill -KILL -- "-$LEADER" 2>/dev/null || true
echo "== $LABEL"
awk -F, '{printf "%-18s %s\n", $3, $1}' "$OUT/stat"
rm -rf "$OUT"
