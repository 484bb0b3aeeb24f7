# A throwaway desktop for tests and benchmarks: Xvfb, a session bus of its own with a
# log of every Notify call, openbox, dunst and xfce4-panel holding only the systray (the
# StatusNotifierItem host). Sourced; the caller defines say(), the PIDS array and $RUN,
# and stops everything in PIDS on exit.

# Starts a background command, records its PID.
start() {
    "$@" &
    PIDS+=($!)
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_until() { # seconds, description, command...
    local secs=$1 what=$2
    shift 2
    for ((n = 0; n < secs * 10; n++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    say "timed out waiting for $what"
    return 1
}

# start_desktop: brings the desktop up and exports DISPLAY and DBUS_SESSION_BUS_ADDRESS.
start_desktop() {
# ---- 1. the display -------------------------------------------------------------------------
D=99
while [[ -e /tmp/.X11-unix/X$D || -e /tmp/.X$D-lock ]]; do D=$((D + 1)); done
export DISPLAY=:$D
start Xvfb "$DISPLAY" -screen 0 1280x800x24 -nolisten tcp
wait_until 10 "Xvfb on $DISPLAY" xdpyinfo
say "Xvfb on $DISPLAY"

# ---- 2. a session bus of our own, and a log of every Notify call ----------------------------
dbus-daemon --session --fork --address="unix:path=$RUN/dbus.sock" \
    --print-address=1 --print-pid=1 >"$RUN/dbus.out"
export DBUS_SESSION_BUS_ADDRESS=$(sed -n 1p "$RUN/dbus.out")
PIDS+=("$(sed -n 2p "$RUN/dbus.out")")
start dbus-monitor --session "interface='org.freedesktop.Notifications',member='Notify'" \
    >"$RUN/notify.log" 2>&1

# ---- 3. window manager, notification daemon, tray host --------------------------------------
start openbox --sm-disable >"$RUN/openbox.log" 2>&1
start dunst >"$RUN/dunst.log" 2>&1
mkdir -p "$XDG_CONFIG_HOME/xfce4/xfconf/xfce-perchannel-xml"
cat >"$XDG_CONFIG_HOME/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="32"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray">
      <property name="square-icons" type="bool" value="true"/>
    </property>
  </property>
</channel>
XML
start xfce4-panel --disable-wm-check >"$RUN/panel.log" 2>&1
wait_until 20 "the tray host (org.kde.StatusNotifierWatcher)" \
    sh -c "gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
        --method org.freedesktop.DBus.NameHasOwner org.kde.StatusNotifierWatcher | grep -q true"
say "desktop up: openbox, dunst, xfce4-panel (systray)"
}

# app_dirs: the app's own config, data, cache and runtime dirs under $RUN (exported as the
# XDG dirs), and the settings it runs with on this desktop (X11, no accessibility bus).
app_dirs() {
    mkdir -p "$RUN"/{config,data,cache,runtime}
    chmod 700 "$RUN/runtime"
    export XDG_CONFIG_HOME=$RUN/config XDG_DATA_HOME=$RUN/data XDG_CACHE_HOME=$RUN/cache
    export XDG_RUNTIME_DIR=$RUN/runtime NO_AT_BRIDGE=1 GDK_BACKEND=x11
}

# healthy_fleet PORT N: a config (on stdout) of N HTTP providers on 5 nodes, probed every
# 30 s, all served by tests/desktop/service.py on PORT.
healthy_fleet() {
    local port=$1 n=$2 i
    printf '[probe]\ninterval = "30s"\ntimeout = "3s"\n\n'
    for i in $(seq 1 "$n"); do
        printf '[[providers]]\nid = "svc%d"\nkind = "http"\nurl = "http://127.0.0.1:%d/health?p=%d"\nnode = "node%d"\nservice = "svc%d"\n\n' \
            "$i" "$port" "$i" $((i % 5)) "$i"
    done
}
