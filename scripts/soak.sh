#!/usr/bin/env bash
# Soak run: a release `paravent serve` under many concurrent streamed and non-streamed
# requests full of values, clients that disconnect mid-stream, and a reload every five
# seconds (SIGHUP and a configuration change, in turn), against a mock provider that
# echoes. Afterwards: no value reached the provider, every answer came back
# re-identified, resident memory is back near its baseline, no file descriptor was
# kept, and `paravent audit verify` passes on the trail. Figures: docs/OPERATIONS.md,
# "Soak and memory". Not part of the suite (a run takes MINUTES plus a build).
#
# Usage: scripts/soak.sh [MINUTES]     (default 10; fractions allowed: 0.5)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
minutes="${1:-10}"
cargo build --release --quiet --bin paravent
exec python3 scripts/soak.py soak "${CARGO_TARGET_DIR:-$root/target}/release/paravent" "$minutes"
