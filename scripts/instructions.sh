#!/usr/bin/env bash
# Instructions per proxied request: `paravent serve` (release build) under callgrind, in
# front of a tiny local upstream that answers benches/load/answer.json to every request.
# Two runs, one sending N requests and one sending M on one keep-alive connection; the
# difference of their totals divided by M − N is the steady-state cost of one request
# (start-up, the detector's build and the first request's lazy DFAs cancel out).
# Instruction counts are deterministic, so unlike wall-clock figures they hold on a
# shared machine. Everything listens on 127.0.0.1 and is stopped at the end.
#
# Usage: scripts/instructions.sh [N] [M]          (default 5 205)
#   PROMPT=file     the request body (default benches/load/prompt.json)
#   AUDIT=never|always   keep an audit trail with that fsync policy (default never;
#                   AUDIT=none: no trail)
#   KEEP=dir        keep the two callgrind outputs there (callgrind_annotate them)
#   NO_BUILD=1      use the release binary as it is
#   WORKERS=n       the runtime's worker threads (default 1: with more, which worker
#                   serves a request, and so which regex caches warm and which thread
#                   frees what another allocated, changes from run to run; the counts
#                   move by hundreds of thousands per request)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-5}"
m="${2:-205}"
if [ "$m" -le "$n" ]; then
    echo "instructions: M ($m) must be larger than N ($n)" >&2
    exit 2
fi
prompt="$(realpath "${PROMPT:-benches/load/prompt.json}")"
answer="$(realpath benches/load/answer.json)"
audit="${AUDIT:-never}"
command -v valgrind >/dev/null || { echo "instructions: valgrind is needed" >&2; exit 2; }

target="${CARGO_TARGET_DIR:-$root/target}"
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --quiet --bin paravent
fi
bin="$target/release/paravent"

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

# The upstream: HTTP/1.1 with keep-alive, the fixed answer for every POST.
cat > "$tmp/upstream.py" <<'PY'
import http.server, sys
body = open(sys.argv[2], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.do_POST()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
# The client: COUNT requests one after another on one keep-alive connection; each must
# be answered 200.
cat > "$tmp/client.py" <<'PY'
import http.client, sys
port, count, prompt = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(count):
    c.request("POST", "/v1/chat/completions", prompt,
              {"content-type": "application/json", "authorization": "Bearer sk-instructions"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"instructions: Paravent answered {r.status}")
PY
up_port="$(free_port)"
python3 "$tmp/upstream.py" "$up_port" "$answer" &
pids+=($!)

wait_for() { # port pid: polls /healthz until it answers or the process has gone
    for _ in $(seq 1 1200); do
        if curl -s -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null; then return 0; fi
        if ! kill -0 "$2" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "instructions: nothing listens on port $1" >&2
    exit 1
}
wait_for "$up_port" "${pids[0]}"

run() { # count -> prints the total instructions of a serve that answered `count` requests
    local count="$1" dir="$tmp/run-$1" port
    mkdir -p "$dir"
    port="$(free_port)"
    cat > "$dir/paravent.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
default_provider = "openai"

[providers.openai]
base_url = "http://127.0.0.1:$up_port"
api = "openai"
TOML
    if [ "$audit" != none ]; then
        printf '[audit]\npath = "%s/trail.jsonl"\nfsync = "%s"\n' "$dir" "$audit" >> "$dir/paravent.toml"
    fi
    TOKIO_WORKER_THREADS="${WORKERS:-1}" PARAVENT_SECRET="instructions-secret-0123456789abcdef" valgrind --tool=callgrind \
        --callgrind-out-file="$dir/callgrind.out" "$bin" serve --config "$dir/paravent.toml" \
        --log warn 2> "$dir/serve.log" &
    local pid=$!
    pids+=("$pid")
    wait_for "$port" "$pid"
    python3 "$tmp/client.py" "$port" "$count" "$prompt"
    kill -TERM "$pid"
    wait "$pid" || true
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$dir/callgrind.out" "$KEEP/callgrind.$count.out"; fi
    awk '/^(summary|totals):/ {print $2; exit}' "$dir/callgrind.out"
}

first="$(run "$n")"
second="$(run "$m")"
echo "prompt: $(wc -c < "$prompt") bytes; audit trail: $audit; ${WORKERS:-1} worker(s); runs of $n and $m requests"
echo "instructions: $first ($n requests), $second ($m requests)"
awk -v a="$first" -v b="$second" -v n="$n" -v m="$m" \
    'BEGIN { printf "instructions per request: %.0f\n", (b - a) / (m - n) }'
