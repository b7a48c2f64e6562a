#!/usr/bin/env bash
# Whole-process throughput of `paravent scan --jsonl` (issue 13): builds an input of
# {"id", "text"} lines repeated from the JSON-lines texts given, up to a size (16 MiB by
# default), then times the whole process (start-up, detector build, scan, output) and
# prints MiB/s (median of the runs) with the CPU seconds it used.
#
#   scripts/scan-throughput.sh [--mib N] [--runs N] [--threads N] [--bin PATH] FILE.jsonl...
#
# --keep PATH also writes the built input there (to run other tools on it).
#
# Each input line needs a string "text" (other fields are dropped); ids are renumbered
# so that every line of the repeated input is distinct. The built input lives in a
# temporary directory, removed on exit. Build the binary first:
# `cargo build --release --bin paravent`. Wall-clock figures depend on what else the
# machine runs: compare runs made back to back, and read the CPU seconds too.
set -euo pipefail

mib=16
runs=5
threads=
bin=target/release/paravent
keep=
files=()
while [ $# -gt 0 ]; do
    case "$1" in
        --mib) mib=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) files+=("$1"); shift ;;
    esac
done
if [ ${#files[@]} -eq 0 ]; then
    echo "usage: $0 [--mib N] [--runs N] [--threads N] [--bin PATH] FILE.jsonl..." >&2
    exit 2
fi
if [ ! -x "$bin" ]; then
    echo "$bin not found: cargo build --release --bin paravent" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work/input.jsonl" "$mib" "${files[@]}" <<'EOF'
import json, sys
out_path, mib, paths = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
target = int(mib * (1 << 20))
texts = []
for p in paths:
    with open(p, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                text = json.loads(line).get("text")
                if isinstance(text, str):
                    texts.append(text)
if not texts:
    sys.exit("no line with a string \"text\" in the files given")
size, n = 0, 0
with open(out_path, "w", encoding="utf-8") as out:
    while True:
        line = json.dumps({"id": n, "text": texts[n % len(texts)]}, ensure_ascii=False) + "\n"
        b = len(line.encode("utf-8"))
        if size + b > target:
            break
        out.write(line)
        size += b
        n += 1
print(f"input: {n} lines, {size} bytes ({size / (1 << 20):.2f} MiB), from {len(texts)} texts")
EOF

if [ -n "$keep" ]; then
    cp "$work/input.jsonl" "$keep"
fi

python3 - "$bin" "$work/input.jsonl" "$runs" "$threads" <<'EOF'
import os, resource, statistics, subprocess, sys, time
binary, path, runs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
size = os.path.getsize(path)
# Without --threads the binary's default (one scanning thread per processor; a binary
# from before the threads took no such flag).
cmd = [binary, "scan", "--jsonl"] + (["--threads", threads] if threads else []) + [path]
walls, cpus = [], []
for i in range(runs + 1):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if i == 0:
        continue  # warm-up: the page cache and the binary
    walls.append(wall)
    cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
med = statistics.median(walls)
print(f"scan --jsonl{' --threads ' + threads if threads else ''}: wall median {med:.3f} s (min {min(walls):.3f}, "
      f"max {max(walls):.3f}), {size / (1 << 20) / med:.1f} MiB/s; "
      f"CPU median {statistics.median(cpus):.3f} s over {runs} runs")
EOF
