#!/usr/bin/env bash
# Idle cost of the release tray app with 50 providers: RSS, PSS and CPU over 60 s, for the
# app and its WebKit processes: with the window shown; hidden to the tray after having
# been shown (the window closed: its web view is destroyed); and started hidden
# (`--hidden`, a login start). Then the time from Open (tray menu) to the dashboard
# painted with live data, from the desktop test run against the release binary.
# Runs under the same throwaway desktop as the desktop test. Not a test: it prints tables
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

(cd "$ROOT" && cargo build --release --workspace --bins >&2)
APP=$ROOT/target/release/steward-desktop

app_dirs
start_desktop

PORT=$(free_port)
# A healthy service: `python3 -m http.server` refused some of a tick's 50 connections.
start python3 "$ROOT/tests/desktop/service.py" "$PORT"
healthy_fleet "$PORT" 50 >"$RUN/steward.toml"

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
kib() { # field of /proc/PID/status or smaps_rollup, in KiB
    awk -v f="$2:" '$1 == f {print $2}' "$1" 2>/dev/null || echo 0
}
measure() { # label, how ("shown", "hide", "hidden"), extra args...
    local label=$1 how=$2
    shift 2
    STEWARD_DATA_DIR=$RUN/data-$how "$APP" --config "$RUN/steward.toml" "$@" >"$RUN/app-$how.log" 2>&1 &
    local app=$!
    sleep 15 # start-up, first tick, page load
    if [[ $how == hide ]]; then
        wmctrl -c Steward
        # The web process ends at once; 5 s later (src-tauri/src/trim.rs) the network
        # process, and the pages the window's code used are given back.
        sleep 12
    fi
    local pids=($(family "$app"))
    local t0=0 t1=0
    local -A start=()
    for p in "${pids[@]}"; do
        start[$p]=$(ticks "$p")
        t0=$((t0 + start[$p]))
    done
    sleep "$SECS"
    local hz
    hz=$(getconf CLK_TCK)
    pids=($(family "$app"))
    local rss=0 pss=0 detail=""
    for p in "${pids[@]}"; do
        local t
        t=$(ticks "$p")
        t1=$((t1 + t))
        local r q name
        r=$(kib "/proc/$p/status" VmRSS)
        q=$(kib "/proc/$p/smaps_rollup" Pss)
        name=$(basename "$(readlink "/proc/$p/exe" 2>/dev/null || echo "?")")
        rss=$((rss + r))
        pss=$((pss + q))
        # A process started during the window counts from its start.
        local pcpu
        pcpu=$(awk -v d=$((t - ${start[$p]:-0})) -v hz="$hz" -v s="$SECS" 'BEGIN {printf "%.2f", d / hz / s * 100}')
        detail+="$name $((r / 1024)) / $((q / 1024)) MiB, ${pcpu} %; "
    done
    local cpu
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$SECS" 'BEGIN {printf "%.2f", d / hz / s * 100}')
    printf '| %s | %s MiB | %s MiB | %s %% | %s |\n' "$label" $((rss / 1024)) $((pss / 1024)) "$cpu" "${detail%; }"
    kill -TERM "$app"
    wait "$app" 2>/dev/null || true
}
echo "| window | RSS total | PSS total | CPU (of one core, ${SECS} s) | per process (RSS / PSS, CPU) |"
echo "| --- | --- | --- | --- | --- |"
measure "shown" shown
measure "hidden after Hide (window closed)" hide
measure "started hidden (--hidden)" hidden --hidden

# Open → dashboard painted with live data: the desktop test, on the release binary (it
# clicks the tray's Open and waits, through WebDriver, for the row with the engine's data
# and one animation frame; the WebDriver round trips are included).
echo
echo "| Open → dashboard painted (release, WebDriver) |"
echo "| --- |"
STEWARD_DESKTOP_BIN=$APP SKIP_BUILD=1 "$ROOT/tests/desktop/run.sh" 2>&1 |
    sed -n 's/.*\(tray Open\|second launch\): Open to the dashboard painted with live data in \([0-9]*\) ms.*/| \1: \2 ms |/p'
