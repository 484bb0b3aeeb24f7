#!/usr/bin/env bash
# Runs every test Steward has, installing what a fresh machine lacks first:
# formatting, lints, the engine's unit and integration tests (real SQLite, real loopback
# servers), the shell's tests, the web UI in a real Chromium against `steward serve`, the
# LLM gateway with the official openai and anthropic Python clients, and
# the real tray app under Xvfb driven through WebDriver, and the Debian package installed
# with dpkg and run (then removed). A real Prometheus (promtool too) and Alertmanager
# come from apt for the /metrics and Alertmanager tests.
# Benchmarks are separate (see docs/benchmarks.md): nothing here asserts speed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
export CARGO_TERM_COLOR=never

started=$(date +%s)
step() { log "[$(( $(date +%s) - started ))s] $*"; }

step "system packages"
ensure_apt "${APT_BUILD[@]}" "${APT_DESKTOP_TEST[@]}" "${APT_BROWSER_TEST[@]}" "${APT_BUS_TEST[@]}" \
  "${APT_GATEWAY_TEST[@]}" "${APT_METRICS_TEST[@]}" "${APT_ALERTS_TEST[@]}"
ensure_rust_components

step "web UI: install, typecheck, build"
build_ui
(cd ui && npm run --silent typecheck)

step "formatting"
cargo fmt --all -- --check

step "the engine never depends on tauri"
if cargo tree -p steward -e normal,build --prefix none | grep -iE '^tauri'; then
  echo "FAIL: the engine crate depends on tauri" >&2
  exit 1
fi

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests (engine and shell)"
cargo test --workspace --locked

step "binaries for the browser and desktop tests"
cargo build --workspace --bins --locked

step "web UI in Chromium against steward serve"
STEWARD_BIN="$PWD/target/debug/steward" node --test tests/ui/

step "the LLM gateway with the official openai and anthropic Python clients"
STEWARD_BIN="$PWD/target/debug/steward" tests/gateway_clients/run.sh

step "the tray app under Xvfb"
tests/desktop/run.sh

step "the Debian package: build (debug), inspect, dpkg -i, run installed, dpkg -r"
SKIP_BUILD= tests/package/run.sh

step "all tests passed"
