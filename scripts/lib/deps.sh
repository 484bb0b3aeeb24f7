# Shared by scripts/run.sh and scripts/test.sh: install what a fresh Debian/Ubuntu
# machine with Rust and Node lacks. Sourced, not run.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_apt PKG...: installs the packages that are not installed yet.
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

APT_BUILD=(build-essential pkg-config file libssl-dev libwebkit2gtk-4.1-dev
  libayatana-appindicator3-dev librsvg2-dev libxdo-dev)
APT_DESKTOP_TEST=(xvfb dbus dunst xfce4-panel openbox wmctrl webkit2gtk-driver imagemagick
  x11-utils xdotool libglib2.0-bin desktop-file-utils)
APT_BROWSER_TEST=(chromium)
APT_BUS_TEST=(redis-server)
# The gateway's test with the official Python clients (tests/gateway_clients/run.sh).
APT_GATEWAY_TEST=(python3-venv)
# GET /metrics scraped by a real prometheus and checked by promtool (tests/metrics.rs).
APT_METRICS_TEST=(prometheus)
# A real Alertmanager sending its webhook to Steward (tests/alertmanager.rs).
APT_ALERTS_TEST=(prometheus-alertmanager)

ensure_rust_components() {
  command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
  if command -v rustup >/dev/null; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  fi
}

# build_ui: installs ui/'s packages when the lock file changed since the last install,
# then builds. `npm install` rather than `npm ci`: npm 11 writes lock files without the
# other platforms' optional packages (rollup's), which `npm ci` then rejects; with the lock
# present, `npm install` installs exactly the locked versions.
build_ui() {
  command -v npm >/dev/null || { echo "node and npm are required" >&2; exit 1; }
  local stamp=ui/node_modules/.steward-lock
  if [ ! -f "$stamp" ] || ! cmp -s ui/package-lock.json "$stamp"; then
    log "npm install (ui/, from the lock file)"
    (cd ui && npm install --no-audit --no-fund --loglevel=error)
    cp ui/package-lock.json "$stamp"
  fi
  log "building the UI"
  (cd ui && npm run --silent build)
}
