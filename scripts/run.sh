#!/usr/bin/env bash
# Runs Steward. With a display: the tray app. Without one: `steward serve`, printing the
# URL of the web UI. With no config yet (a fresh machine), it runs the demo (--demo) so
# there is something to watch; pass your own arguments to override, e.g.
#   ./scripts/run.sh --config ~/steward.toml
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh

ensure_apt "${APT_BUILD[@]}"
ensure_rust_components
build_ui

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  config="${STEWARD_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/steward/config.toml}"
  if [ ! -f "$config" ]; then
    log "no config at $config yet: starting the demo"
    args=(--demo)
  fi
fi

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  log "building the tray app (release; the first build takes ~10 minutes on 2 cores)"
  cargo build --release -p steward-desktop
  exec target/release/steward-desktop "${args[@]}"
else
  log "no display: running headless (steward serve)"
  cargo build --release -p steward --bin steward
  serve_args=()
  for a in "${args[@]}"; do serve_args+=("$a"); done
  exec target/release/steward serve "${serve_args[@]}"
fi
