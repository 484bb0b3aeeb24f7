#!/usr/bin/env bash
# Idle cost of the release tray app with 50 providers: RSS and CPU over 60 s, for the app
# and its WebKit processes, once with the window shown and once hidden to the tray.
# Runs under the same throwaway desktop as the desktop test. Not a test: it prints a table
# for docs/benchmarks.md.   Usage: benches/tray_idle.sh [SECONDS]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=${1:-60}
RUN=$(mktemp -d /tmp/steward-idle.XXXXXX)
PIDS=()
say() { printf '[idle] %s\n' "$*" >&2; }
cleanup() {
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
    sleep 1
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$RUN"
}
trap cleanup EXIT
. "$ROOT/tests/desktop/session.sh"

(cd "$ROOT" && cargo build --release -p steward-desktop >&2)
APP=$ROOT/target/release/steward-desktop

mkdir -p "$RUN"/{config,data,cache,runtime}
chmod 700 "$RUN/runtime"
export XDG_CONFIG_HOME=$RUN/config XDG_DATA_HOME=$RUN/data XDG_CACHE_HOME=$RUN/cache
export XDG_RUNTIME_DIR=$RUN/runtime NO_AT_BRIDGE=1 GDK_BACKEND=x11
start_desktop

PORT=$(free_port)
start python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$RUN" >/dev/null 2>&1
{
    printf '[probe]\ninterval = "30s"\ntimeout = "3s"\n\n'
    for i in $(seq 1 50); do
        printf '[[providers]]\nid = "svc%d"\nkind = "http"\nurl = "http://127.0.0.1:%d/?p=%d"\nnode = "node%d"\nservice = "svc%d"\n\n' \
            "$i" "$PORT" "$i" $((i % 5)) "$i"
    done
} >"$RUN/steward.toml"

ticks() { # utime+stime of a pid, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
family() { # the app and its descendants (WebKit web and network processes)
    local pids=("$1") i=0
    while ((i < ${#pids[@]})); do
        for c in $(cat /proc/"${pids[i]}"/task/*/children 2>/dev/null); do pids+=("$c"); done
        i=$((i + 1))
    done
    echo "${pids[@]}"
}
measure() { # label, extra args...
    local label=$1
    shift
    STEWARD_DATA_DIR=$RUN/data-$label "$APP" --config "$RUN/steward.toml" "$@" >"$RUN/app-$label.log" 2>&1 &
    local app=$!
    sleep 15 # start-up, first tick, page load
    local pids=($(family "$app"))
    local t0=0 t1=0
    for p in "${pids[@]}"; do t0=$((t0 + $(ticks "$p"))); done
    sleep "$SECS"
    local rss=0 detail=""
    for p in "${pids[@]}"; do
        t1=$((t1 + $(ticks "$p")))
        local kb name
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        name=$(cat "/proc/$p/comm" 2>/dev/null || echo "?")
        rss=$((rss + kb))
        detail+="$name $((kb / 1024)) MiB; "
    done
    local hz
    hz=$(getconf CLK_TCK)
    local cpu
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$SECS" 'BEGIN {printf "%.2f", d / hz / s * 100}')
    printf '| %s | %s MiB | %s %% | %s |\n' "$label" $((rss / 1024)) "$cpu" "${detail%; }"
    kill -TERM "$app"
    wait "$app" 2>/dev/null || true
}
echo "| window | RSS total | CPU (of one core, ${SECS} s) | per process |"
echo "| --- | --- | --- | --- |"
measure shown
measure hidden --hidden
