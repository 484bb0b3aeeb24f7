#!/usr/bin/env bash
# The real-desktop test of the Steward tray app.
#
# Starts a throwaway desktop (Xvfb, its own D-Bus session bus, dbus-monitor logging
# Notify calls, openbox, dunst, xfce4-panel with only the systray plugin), builds and
# launches the real app through tauri-driver + WebKitWebDriver, and lets drive.py check
# the window, the tray menu over D-Bus, native notifications on a trip and a recovery,
# and a clean Quit. Everything it starts is stopped by PID on exit.
#
# Usage: tests/desktop/run.sh            (from anywhere; builds the debug app first)
#   SKIP_BUILD=1   use target/debug/steward-desktop as it is
#   STEWARD_DESKTOP_BIN=PATH   drive that binary instead (benches/tray_idle.sh: release)
#   KEEP_RUN=1     keep the temp dir (logs, config, data) after the run
# Needs the apt packages of docs/desktop-testing (xvfb dbus dunst xfce4-panel openbox
# wmctrl webkit2gtk-driver imagemagick x11-utils xdotool libglib2.0-bin); installs
# tauri-driver with cargo when it is missing.
# Screenshots: target/desktop-screenshots/desktop.png (and desktop-down.png).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STARTED=$(date +%s)
RUN=$(mktemp -d /tmp/steward-desktop.XXXXXX)
PIDS=()
RESULT=1

say() { printf '[desktop] %s\n' "$*"; }

cleanup() {
    local pid
    # Stop in reverse order of start, by the PIDs recorded; TERM first, then KILL.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        kill -TERM "$pid" 2>/dev/null || true
    done
    for ((n = 0; n < 50; n++)); do
        local alive=0
        for pid in "${PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if ((RESULT != 0)); then
        for log in app.log tauri-driver.log notify.log panel.log; do
            [[ -s $RUN/$log ]] || continue
            say "---- last lines of $log ----"
            tail -n 40 "$RUN/$log" | sed 's/^/    /'
        done
    fi
    if [[ ${KEEP_RUN:-} == 1 ]]; then
        say "kept $RUN"
    else
        rm -rf "$RUN"
    fi
    local took=$(($(date +%s) - STARTED))
    if ((RESULT == 0)); then
        echo "PASS desktop test (${took}s)"
    else
        echo "FAIL desktop test (${took}s)"
    fi
    exit "$RESULT"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$HERE/session.sh"

# ---- build --------------------------------------------------------------------------------
if [[ ${SKIP_BUILD:-} != 1 ]]; then
    if [[ ! -f $ROOT/ui/dist/index.html ]]; then
        [[ -f $ROOT/ui/package.json ]] || { say "ui/ is not there: cannot build the UI"; exit 1; }
        say "building the UI"
        npm --prefix "$ROOT/ui" install --no-audit --no-fund
        npm --prefix "$ROOT/ui" run build
    fi
    say "building the app (cargo build -p steward-desktop)"
    t=$(date +%s)
    (cd "$ROOT" && cargo build -p steward-desktop)
    say "built in $(($(date +%s) - t))s"
fi
APP_BIN=${STEWARD_DESKTOP_BIN:-$ROOT/target/debug/steward-desktop}
[[ -x $APP_BIN ]] || { say "no $APP_BIN"; exit 1; }
if ! command -v tauri-driver >/dev/null; then
    export PATH=$HOME/.cargo/bin:$PATH
    command -v tauri-driver >/dev/null || {
        say "installing tauri-driver"
        cargo install tauri-driver --locked --version '^2'
    }
fi
for tool in Xvfb dbus-daemon dbus-monitor openbox dunst xfce4-panel WebKitWebDriver gdbus \
    xdpyinfo xdotool wmctrl import python3 desktop-file-validate; do
    command -v "$tool" >/dev/null || { say "missing $tool (see the apt list at the top)"; exit 1; }
done

# ---- an isolated session environment ------------------------------------------------------
mkdir -p "$RUN"/{config,data,cache,runtime,steward-data} "$ROOT/target/desktop-screenshots"
rm -f "$ROOT/target/desktop-screenshots"/desktop*.png # no stale pictures from an earlier run
chmod 700 "$RUN/runtime"
export XDG_CONFIG_HOME=$RUN/config XDG_DATA_HOME=$RUN/data XDG_CACHE_HOME=$RUN/cache
export XDG_RUNTIME_DIR=$RUN/runtime
export STEWARD_DATA_DIR=$RUN/steward-data
export STEWARD_LOG=${STEWARD_LOG:-steward=info,steward_desktop=info,warn}
export NO_AT_BRIDGE=1 GDK_BACKEND=x11
unset STEWARD_CONFIG STEWARD_DEMO WAYLAND_DISPLAY || true

start_desktop

# ---- 4. the monitored service's config, and the app's wrapper -------------------------------
SERVICE_PORT=$(free_port)
cat >"$RUN/steward.toml" <<TOML
[probe]
interval = "1s"
timeout = "500ms"
failure_threshold = 2
backoff = "3s"

[[providers]]
id = "web"
kind = "http"
url = "http://127.0.0.1:$SERVICE_PORT/health"
node = "testbox"
service = "http"

# Known to config but not probed: an approved restart for it runs at once (no re-check).
[[providers]]
id = "job"
kind = "tcp"
address = "127.0.0.1:9"
node = "testbox"
service = "backup"
enabled = false

[executor]
auto_execute = ["none"]
[executor.commands]
container_restart = ["/bin/echo", "restarting", "{service}"]
TOML
# "Open config file" runs the desktop's opener (xdg-open): this one records what it was
# asked to open instead of starting an editor on the test desktop.
mkdir -p "$RUN/bin"
cat >"$RUN/bin/xdg-open" <<SH
#!/bin/sh
printf '%s\n' "\$*" >>"$RUN/opened.log"
SH
chmod +x "$RUN/bin/xdg-open"
# WebKitWebDriver discards the app's output: the wrapper keeps it, and its PID.
cat >"$RUN/app.sh" <<SH
#!/bin/sh
echo \$\$ >"$RUN/app.pid"
export PATH="$RUN/bin:\$PATH"
exec "$APP_BIN" --config "$RUN/steward.toml" "\$@" >>"$RUN/app.log" 2>&1
SH
chmod +x "$RUN/app.sh"

# ---- 5. tauri-driver ------------------------------------------------------------------------
WD_PORT=$(free_port)
NATIVE_PORT=$(free_port)
start tauri-driver --port "$WD_PORT" --native-port "$NATIVE_PORT" >"$RUN/tauri-driver.log" 2>&1
TD_PID=${PIDS[-1]}
wait_until 20 "tauri-driver on port $WD_PORT" \
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $WD_PORT), 1)"
# tauri-driver's child (WebKitWebDriver) is ours too: stop it by PID as well.
for pid in $(pgrep -P "$TD_PID" || true); do PIDS+=("$pid"); done
say "tauri-driver on $WD_PORT (native $NATIVE_PORT)"

# ---- 6. drive ---------------------------------------------------------------------------
set +e
WD_PORT=$WD_PORT SERVICE_PORT=$SERVICE_PORT APP_WRAPPER=$RUN/app.sh APP_PID_FILE=$RUN/app.pid \
    APP_BIN=$APP_BIN APP_CONFIG=$RUN/steward.toml APP_LOG=$RUN/app.log OPENED_LOG=$RUN/opened.log \
    NOTIFY_LOG=$RUN/notify.log SHOTS=$ROOT/target/desktop-screenshots SERVICE_PY=$HERE/service.py \
    python3 "$HERE/drive.py"
RESULT=$?
set -e
# The app is started by WebKitWebDriver; make sure it is gone too (by its recorded PID).
if [[ -s $RUN/app.pid ]]; then
    APP_PID=$(cat "$RUN/app.pid")
    if kill -0 "$APP_PID" 2>/dev/null; then
        say "the app (pid $APP_PID) is still running; stopping it"
        PIDS+=("$APP_PID")
        ((RESULT == 0)) && RESULT=1
    fi
fi
if ((RESULT == 0)); then
    if grep -q "engine stopped" "$RUN/app.log"; then
        say "ok: the app shut the engine down cleanly on Quit"
    else
        say "the app log does not show a clean engine shutdown"
        RESULT=1
    fi
fi
