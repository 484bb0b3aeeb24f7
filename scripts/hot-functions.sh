#!/usr/bin/env bash
# Makes build/hot-functions.txt: the functions the engine runs, from a start and probe
# ticks at 1,000 HTTP providers under callgrind, for the linker to place together (see
# build/code_layout.rs). Three runs, because their crates are built with different features
# and so have different symbol names: the probe_engine bench's engine, and `steward serve`
# (release), each probing 1,000 loopback endpoints every 30 s for about 70 s; and the tray
# app (release) with its window shown on 50 providers, on the desktop test's throwaway
# desktop, counting only what runs once start-up has settled (from 45 s to 145 s): what
# the app keeps running while shown, which stays resident after its start-up page-out.
#
# Usage: scripts/hot-functions.sh     (10-15 minutes on 2 cores; run it when the engine's
# code changes much, and after any change to its dependencies, which renames every
# function of the crate; a stale list costs memory, never a failed build)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
ensure_apt valgrind python3 "${APT_BUILD[@]}" "${APT_DESKTOP_TEST[@]}"

work=$(mktemp -d /tmp/steward-hot.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

log "building the probe_engine bench, steward and steward-desktop (release)"
build_ui
bench=$(cargo bench --locked --bench probe_engine --no-run 2>&1 \
  | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
cargo build --locked --release --workspace --bins
[ -x "$bench" ] || { echo "no bench executable found" >&2; exit 1; }

log "the bench's engine at 1,000 providers under callgrind"
STEWARD_BENCH_ROLE=engine STEWARD_BENCH_N=1000 valgrind --tool=callgrind --demangle=no \
  --dump-instr=no --callgrind-out-file="$work/bench.cg" "$bench" >"$work/bench.log" 2>&1

log "steward serve at 1,000 providers under callgrind"
# The bench's endpoint server: it prints its ports, and serves until its stdin closes.
mkfifo "$work/stdin"
STEWARD_BENCH_ROLE=server STEWARD_BENCH_N=1000 "$bench" <"$work/stdin" >"$work/ports" &
pids+=($!)
exec 9>"$work/stdin"
for _ in $(seq 100); do [ -s "$work/ports" ] && break; sleep 0.1; done
port=$(cut -d, -f1 "$work/ports")
{ printf '[probe]\ninterval = "30s"\ntimeout = "3s"\n\n'
  for i in $(seq 0 999); do
    printf '[[providers]]\nid = "p%d"\nkind = "http"\nurl = "http://127.0.0.1:%d/health/%d"\nnode = "node%d"\nservice = "svc%d"\n\n' \
      "$i" "$port" "$i" $((i % 20)) "$i"
  done
} >"$work/steward.toml"
STEWARD_DATA_DIR="$work/data" STEWARD_TOKEN=hot-functions-token-0123456789 \
  valgrind --tool=callgrind --demangle=no --dump-instr=no --callgrind-out-file="$work/serve.cg" \
  target/release/steward serve --config "$work/steward.toml" --listen 127.0.0.1:0 \
  >"$work/serve.log" 2>&1 &
serve=$!
pids+=($serve)
sleep 75
kill -TERM "$serve"
wait "$serve" || true
exec 9>&-

log "the tray app, window shown, 50 providers, under callgrind from 45 s to 145 s"
(
  # The desktop test's session (Xvfb, a bus, a panel with a systray); its own PIDs.
  RUN=$work/desktop
  PIDS=()
  say() { log "$*"; }
  trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
  . tests/desktop/session.sh
  app_dirs
  start_desktop
  port=$(free_port)
  start python3 tests/desktop/service.py "$port"
  healthy_fleet "$port" 50 >"$RUN/steward.toml"
  STEWARD_DATA_DIR="$RUN/app-data" valgrind --tool=callgrind --demangle=no --dump-instr=no \
    --instr-atstart=no --callgrind-out-file="$work/desktop.cg" \
    target/release/steward-desktop --config "$RUN/steward.toml" >"$work/desktop.log" 2>&1 &
  app=$!
  PIDS+=($app)
  sleep 45
  callgrind_control -i on "$app" >/dev/null
  sleep 100
  kill -TERM "$app"
  wait "$app" || true
)

log "the executed functions of each program, by their linker names"
python3 - "$work" "$bench" target/release/steward target/release/steward-desktop \
  >build/hot-functions.txt <<'PY'
import re, subprocess, sys
work = sys.argv[1]
programs = {"bench.cg": sys.argv[2], "serve.cg": sys.argv[3], "desktop.cg": sys.argv[4]}
names = set()
for out, program in programs.items():
    defined = set(subprocess.run(["nm", "--defined-only", "-j", program], capture_output=True,
                                 text=True, check=True).stdout.split())
    objects, functions, current = {}, {}, None
    for line in open(f"{work}/{out}", errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"c?(ob|fn)=\((\d+)\)(?: (.*))?$", line)
        if not m:
            continue
        kind, ident, name = m.groups()
        table = objects if kind == "ob" else functions
        if name:
            table[ident] = name
        if line.startswith("ob="):
            current = objects.get(ident)
        elif line.startswith("fn=") and current and current.split("/")[-1] == program.split("/")[-1]:
            fn = re.sub(r"'\d+$", "", functions.get(ident, ""))
            if fn in defined:
                names.add(fn)
    print(f"{program}: {len(names)} functions so far", file=sys.stderr)
print("\n".join(sorted(names)))
PY
log "build/hot-functions.txt: $(wc -l <build/hot-functions.txt) functions"
