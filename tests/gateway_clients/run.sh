#!/usr/bin/env bash
# The LLM gateway with the official `openai` and `anthropic` Python clients
# (tests/gateway_clients/test_clients.py), installed into a virtualenv under target/.
# STEWARD_BIN: the `steward` binary (default target/debug/steward).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=$ROOT/target/gateway-clients-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c "import openai, anthropic" 2>/dev/null; then
  "$VENV/bin/pip" install -q --disable-pip-version-check openai anthropic
fi
"$VENV/bin/python" -c "import openai, anthropic; print(f'clients: openai {openai.__version__}, anthropic {anthropic.__version__}')"
STEWARD_BIN=${STEWARD_BIN:-$ROOT/target/debug/steward} exec "$VENV/bin/python" "$HERE/test_clients.py"
