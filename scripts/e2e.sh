#!/usr/bin/env bash
# End-to-end tests: the official `openai` and `anthropic` Python SDKs (and raw HTTP for
# Gemini and Ollama) against a real `paravent serve` and a mock provider, all on
# 127.0.0.1. Creates .venv with the pinned packages of tests/e2e/requirements.txt,
# builds the binary, runs pytest. Exits non-zero on any failure, and when no test ran.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="${PARAVENT_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    if ! "$python" -m venv "$venv" 2>/dev/null; then
        # Debian ships venv's pip bootstrap separately.
        rm -rf "$venv"
        apt-get install -y python3-venv >/dev/null 2>&1 || {
            apt-get update >/dev/null && apt-get install -y python3-venv >/dev/null
        }
        "$python" -m venv "$venv"
    fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r tests/e2e/requirements.txt

cargo build --quiet --bin paravent
target="${CARGO_TARGET_DIR:-$root/target}"
export PARAVENT_BIN="${PARAVENT_BIN:-$target/debug/paravent}"

set +e
"$venv/bin/python" -m pytest -q tests/e2e "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
    echo "e2e: no test was collected" >&2
    exit 1
fi
exit "$code"
