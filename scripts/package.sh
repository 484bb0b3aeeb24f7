#!/usr/bin/env bash
# Builds Steward's Debian package with Tauri's bundler (through the npm CLI, offline):
#   target/release/bundle/deb/steward_<version>_amd64.deb
# holding /usr/bin/steward-desktop (the tray app), /usr/bin/steward (the CLI: serve,
# check, proposals), the .desktop entry, the icons at the hicolor sizes, a systemd user
# unit (/usr/lib/systemd/user/steward.service) and the README. The UI is embedded in both
# binaries.
#
# Usage: scripts/package.sh [--debug]
#   --debug   a debug build (target/debug/bundle/deb/…): what the package test installs,
#             built from the test run's own debug artifacts in a fraction of the time.
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh

profile=release
cargo_profile=(--release)
tauri_profile=()
case "${1:-}" in
  "") ;;
  --debug) profile=debug cargo_profile=() tauri_profile=(--debug) ;;
  *) echo "usage: scripts/package.sh [--debug]" >&2; exit 2 ;;
esac

ensure_apt "${APT_BUILD[@]}"
ensure_rust_components
build_ui # also installs the tauri CLI (ui/ devDependency)

log "building the binaries (steward, steward-desktop; $profile; as the tests build them: one build of each crate)"
cargo build --locked "${cargo_profile[@]}" --workspace --bins

# The bundler builds the app itself (adding tauri/custom-protocol, which the app's
# Cargo.toml enables already: no second build of tauri), then packs it with the files
# tauri.conf.json lists. The CLI comes from this profile's target dir.
log "building the tray app and the package (steward-desktop, $profile)"
override=$(printf '{"bundle":{"linux":{"deb":{"files":{"/usr/bin/steward":"../target/%s/steward"}}}}}' "$profile")
ui/node_modules/.bin/tauri build "${tauri_profile[@]}" --bundles deb --config "$override" -- --locked

version=$(sed -n 's/^version = "\(.*\)"/\1/p' src-tauri/Cargo.toml | head -1)
deb=target/$profile/bundle/deb/Steward_${version}_amd64.deb
want=target/$profile/bundle/deb/steward_${version}_amd64.deb
# Debian package files are named after the package (lowercase), not the product.
[ -f "$deb" ] && [ "$deb" != "$want" ] && mv -f "$deb" "$want"
[ -f "$want" ] || { echo "no package at $want" >&2; ls "target/$profile/bundle/deb" >&2; exit 1; }
log "package: $want ($(du -h "$want" | cut -f1))"
echo "$want"
