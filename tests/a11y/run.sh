#!/usr/bin/env bash
# The HTML audit report's accessibility check (RGAA 4 / WCAG 2.1 AA with axe-core):
# writes a sealed sample chain (examples/audit_sample.rs), renders it with the real
# binary (`paravent audit report --format html`, in English and in French), and the
# self-test's report (`paravent selftest --out`), and runs
# axe-core on it in Debian's headless Chromium. Installs what is missing first: Debian's chromium (apt-get) and
# this directory's npm packages (npm ci, from package-lock.json). Exit 1 on any
# violation. Run by scripts/test.sh; alone: bash tests/a11y/run.sh
# (`--install` installs what is missing and stops).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null
fi
command -v npm >/dev/null || {
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm >/dev/null
}
if [ ! -f tests/a11y/node_modules/.package-lock.json ] ||
    ! cmp -s tests/a11y/package-lock.json tests/a11y/node_modules/.paravent-lock; then
    (cd tests/a11y && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error &&
        cp package-lock.json node_modules/.paravent-lock)
fi
node --version >/dev/null
/usr/bin/env "${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -1
[ "${1:-}" = "--install" ] && exit 0

target="${CARGO_TARGET_DIR:-target}"
out="$target/a11y"
mkdir -p "$out"
cargo build --quiet --bin paravent --example audit_sample
"$target/debug/examples/audit_sample" "$out/sample.jsonl"
"$target/debug/paravent" audit report "$out/sample.jsonl" --format html --out "$out/report.html"
# A period with no request renders other sections ("none in this period").
"$target/debug/paravent" audit report "$out/sample.jsonl" --format html --from 2027-01-01 --out "$out/report-empty.html"
# Two months of traffic: a long chart, forty principals, truncated id lists.
"$target/debug/examples/audit_sample" "$out/bulk.jsonl" 3000
"$target/debug/paravent" audit report "$out/bulk.jsonl" --format html --out "$out/report-bulk.html"
# A year (a chain of 30,000 requests, about 80 a day): months first, each month's days
# folded in <details>.
"$target/debug/examples/audit_sample" "$out/year.jsonl" 30000 82
"$target/debug/paravent" audit report "$out/year.jsonl" --format html --out "$out/report-year.html"
# The French report (lang="fr", longer words, grouped thousands).
"$target/debug/paravent" audit report "$out/sample.jsonl" --format html --lang fr --out "$out/report-fr.html"
"$target/debug/paravent" audit report "$out/bulk.jsonl" --format html --lang fr --out "$out/report-bulk-fr.html"
# The self-test's report (`paravent selftest --out`), passing and failing.
"$target/debug/paravent" selftest --out "$out/selftest.html" >/dev/null
sed 's/^disable = \[\]/disable = ["core.email"]/' config/paravent.toml >"$out/selftest-failing.toml"
"$target/debug/paravent" selftest --config "$out/selftest-failing.toml" --out "$out/selftest-failing.html" >/dev/null || true
# The checked sample exercises every row of the evidence section (none says "no data").
grep -q '<h2 id="evidence">' "$out/report.html"
if grep -q 'No data in this period' "$out/report.html"; then
    echo "$out/report.html: an evidence row has no data: the sample chain misses a field" >&2
    exit 1
fi
node tests/a11y/axe.mjs "$out/report.html" "$out/report-empty.html" "$out/report-bulk.html" \
    "$out/report-year.html" "$out/report-fr.html" "$out/report-bulk-fr.html" \
    "$out/selftest.html" "$out/selftest-failing.html"
