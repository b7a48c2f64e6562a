#!/usr/bin/env bash
# Memory under many slow streams: COUNT (default 1000) streamed chat completions open at
# once through a release `paravent serve`, each answer echoed by a mock provider in
# small events half a second apart (about 8 s a stream), every one checked re-identified.
# Prints the idle and peak resident memory; fails over 200 MB. Figure:
# docs/OPERATIONS.md, "Soak and memory".
#
# Usage: scripts/streams-memory.sh [COUNT]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --quiet --bin paravent
exec python3 scripts/soak.py streams "${CARGO_TARGET_DIR:-$root/target}/release/paravent" "${1:-1000}"
