#!/usr/bin/env bash
# The Debian package, for real: builds it (scripts/package.sh --debug, from the test run's
# own debug build), checks its file list, Depends and .desktop entry, installs it with
# dpkg, runs the installed `steward serve` (the embedded UI, the data-dir lock) and the
# installed tray app on a throwaway desktop (installed.py), then removes it with dpkg -r.
# Runs as root (or with sudo). Everything it starts is stopped by PID on exit.
#
# Usage: tests/package/run.sh      (SKIP_BUILD=1: use the .deb built last)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STARTED=$(date +%s)
RUN=$(mktemp -d /tmp/steward-package.XXXXXX)
PIDS=()
RESULT=1
INSTALLED=0
say() { printf '[package] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
fail() { say "FAIL: $*"; exit 1; }
ok() { say "ok: $*"; }

cleanup() {
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
    sleep 0.5
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if ((INSTALLED)); then as_root dpkg -r steward >/dev/null 2>&1 || true; fi
    if ((RESULT != 0)); then
        for log in app.log serve.log serve2.log; do
            [[ -s $RUN/$log ]] || continue
            say "---- last lines of $log ----"
            tail -n 30 "$RUN/$log" | sed 's/^/    /'
        done
    fi
    rm -rf "$RUN"
    echo "$( ((RESULT == 0)) && echo PASS || echo FAIL) package test ($(($(date +%s) - STARTED))s)"
    exit "$RESULT"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- build and inspect ----------------------------------------------------------------------
if [[ ${SKIP_BUILD:-} != 1 ]]; then
    t=$(date +%s)
    "$ROOT/scripts/package.sh" --debug >"$RUN/package.log" 2>&1 || { tail -30 "$RUN/package.log"; fail "scripts/package.sh --debug"; }
    say "built the package in $(($(date +%s) - t))s"
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/src-tauri/Cargo.toml" | head -1)
DEB=$ROOT/target/debug/bundle/deb/steward_${version}_amd64.deb
[[ -f $DEB ]] || fail "no $DEB"

files=$(dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./||')
for want in usr/bin/steward-desktop usr/bin/steward usr/share/applications/Steward.desktop \
    usr/lib/systemd/user/steward.service usr/share/doc/steward/README.md; do
    grep -qx "$want" <<<"$files" || fail "the package has no /$want"
done
for size in 16x16 24x24 32x32 48x48 64x64 128x128 256x256 512x512; do
    grep -qx "usr/share/icons/hicolor/$size/apps/steward-desktop.png" <<<"$files" ||
        fail "no $size icon"
done
ok "file list: both binaries, the .desktop entry, the user unit, the README, 8 icon sizes"
if grep -q '^usr/share/steward\|ui/dist' <<<"$files"; then fail "UI files outside the binaries"; fi
ok "no UI files beside the binaries (the UI is embedded)"
depends=$(dpkg-deb -f "$DEB" Depends)
for dep in libwebkit2gtk-4.1-0 libayatana-appindicator3-1 libgtk-3-0; do
    grep -qw -- "$dep" <<<"$depends" || fail "Depends lacks $dep: $depends"
done
ok "Depends: $depends"
[[ $(dpkg-deb -f "$DEB" Package) == steward ]] || fail "the package is not named steward"
mkdir -p "$RUN/unpacked"
dpkg-deb -x "$DEB" "$RUN/unpacked"
desktop-file-validate "$RUN/unpacked/usr/share/applications/Steward.desktop" || fail "desktop-file-validate"
grep -qx 'Exec=steward-desktop' "$RUN/unpacked/usr/share/applications/Steward.desktop" || fail "the entry's Exec"
ok "desktop-file-validate accepts the .desktop entry"

# ---- install -------------------------------------------------------------------------------
as_root dpkg -i "$DEB" >"$RUN/dpkg.log" 2>&1 || { cat "$RUN/dpkg.log"; fail "dpkg -i"; }
INSTALLED=1
ok "dpkg -i $(basename "$DEB")"
[[ -x /usr/bin/steward && -x /usr/bin/steward-desktop ]] || fail "the binaries are not installed"
verify=$(systemd-analyze verify /usr/lib/systemd/user/steward.service 2>&1 || true)
[[ -z $verify ]] || fail "systemd-analyze verify: $verify"
ok "systemd-analyze verify accepts the user unit"

# ---- the installed CLI: steward serve, from /, with no source tree in sight -----------------
. "$ROOT/tests/desktop/session.sh"
mkdir -p "$RUN"/{config,data,cache,runtime,steward-data}
chmod 700 "$RUN/runtime"
export XDG_CONFIG_HOME=$RUN/config XDG_DATA_HOME=$RUN/data XDG_CACHE_HOME=$RUN/cache
export XDG_RUNTIME_DIR=$RUN/runtime STEWARD_DATA_DIR=$RUN/steward-data NO_AT_BRIDGE=1 GDK_BACKEND=x11
unset STEWARD_CONFIG STEWARD_UI_DIR STEWARD_TOKEN STEWARD_DEMO WAYLAND_DISPLAY || true
SERVICE_PORT=$(free_port)
start python3 -m http.server "$SERVICE_PORT" --bind 127.0.0.1 --directory "$RUN/unpacked" >/dev/null 2>&1
printf '[probe]\ninterval = "1s"\ntimeout = "1s"\n\n[[providers]]\nid = "web"\nkind = "http"\nurl = "http://127.0.0.1:%s/"\nnode = "box"\nservice = "web"\n' \
    "$SERVICE_PORT" >"$RUN/steward.toml"
(cd / && exec /usr/bin/steward serve --config "$RUN/steward.toml" --listen 127.0.0.1:0 \
    --address-file "$RUN/address" >"$RUN/serve.log" 2>&1) &
PIDS+=($!)
SERVE_PID=$!
wait_until 60 "steward serve writes its address" test -s "$RUN/address"
base="http://$(cat "$RUN/address")"
page=$(curl -fsS "$base/")
grep -q '<title>Steward</title>' <<<"$page" || fail "GET / is not the UI: ${page:0:200}"
asset=$(grep -o 'assets/index-[^"]*\.js' <<<"$page" | head -1)
curl -fsS -o /dev/null "$base/$asset" || fail "GET /$asset"
ok "the installed steward serve answers the embedded UI ($base/, /$asset)"
token=$(cat "$RUN/steward-data/token")
curl -fsS -H "Authorization: Bearer $token" "$base/api/status" | grep -q '"overall"' || fail "GET /api/status"
ok "its API answers with the token it wrote"
if (cd / && /usr/bin/steward serve --config "$RUN/steward.toml" --listen 127.0.0.1:0 >"$RUN/serve2.log" 2>&1); then
    fail "a second steward serve on the same data dir started"
fi
grep -q "already running on the data dir" "$RUN/serve2.log" || fail "the second serve's error: $(cat "$RUN/serve2.log")"
ok "a second steward serve on the same data dir refuses: $(grep -o 'another Steward[^:]*' "$RUN/serve2.log")"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || fail "steward serve did not exit cleanly on SIGTERM"
ok "steward serve stopped cleanly"

# ---- the installed tray app on a throwaway desktop -------------------------------------------
start_desktop
APP_CONFIG=$RUN/steward.toml APP_LOG=$RUN/app.log SERVICE_PORT=$SERVICE_PORT python3 "$HERE/installed.py" ||
    fail "the installed tray app"
grep -q "engine stopped" "$RUN/app.log" || fail "the app log shows no clean engine shutdown"
ok "the installed tray app: tray, engine, Open, Quit"

# ---- remove --------------------------------------------------------------------------------
as_root dpkg -r steward >"$RUN/dpkg.log" 2>&1 || { cat "$RUN/dpkg.log"; fail "dpkg -r"; }
INSTALLED=0
[[ ! -e /usr/bin/steward-desktop && ! -e /usr/bin/steward && ! -e /usr/lib/systemd/user/steward.service ]] ||
    fail "files left after dpkg -r"
ok "dpkg -r steward removes it"
RESULT=0
