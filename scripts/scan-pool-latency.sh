#!/usr/bin/env bash
# Latency of small chat requests while two large ones (about 2.9 MB each, full of values
# to find and repeat) are scanned: docs/PROXY-PERFORMANCE.md, "Small requests during
# large scans". Release build; a stub upstream (python3) answers every request with a
# small JSON. Usage: scripts/scan-pool-latency.sh [target/release/paravent]
set -euo pipefail
bin=${1:-target/release/paravent}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/upstream.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$dir/upstream.py" 18931 &
cat > "$dir/paravent.toml" <<'TOML'
[server]
default_provider = "openai"
[pseudonyms]
secret = "a latency measurement secret of 32 bytes"
[providers.openai]
base_url = "http://127.0.0.1:18931"
api = "openai"
[limits]
max_vault_entries = 100000
TOML
python3 - "$dir/big.json" <<'PY'
import json, sys
lines, i = [], 0
while sum(map(len, lines)) < 2_900_000:
    lines.append(f"Ligne {i} : M. Jean Dupont (jean.dupont@example.fr) rappelle au 06 {i//10000%100:02} {i//100%100:02} {i%100:02} 12 ; Dupont confirme.\n")
    i += 1
json.dump({"model": "m", "messages": [{"role": "user", "content": "".join(lines)}]}, open(sys.argv[1], "w"))
PY
echo '{"model":"m","messages":[{"role":"user","content":"Bonjour, une question courte."}]}' > "$dir/small.json"
"$bin" serve --config "$dir/paravent.toml" --listen 127.0.0.1:18932 2>"$dir/log" &
until curl -s -o /dev/null http://127.0.0.1:18932/healthz; do sleep 0.1; done
post() { curl -s -o /dev/null -w "%{http_code} %{time_total}\n" -H 'content-type: application/json' \
    -H 'authorization: Bearer sk-x' --data-binary @"$1" http://127.0.0.1:18932/openai/v1/chat/completions; }
echo "small alone: $(post "$dir/small.json")"
start=$(date +%s.%N)
post "$dir/big.json" > "$dir/big1" &
b1=$!
post "$dir/big.json" > "$dir/big2" &
b2=$!
sleep 0.3
: > "$dir/small"
while kill -0 $b1 2>/dev/null && kill -0 $b2 2>/dev/null; do
    post "$dir/small.json" >> "$dir/small"
done
wait $b1 $b2
echo "large: $(cat "$dir/big1") | $(cat "$dir/big2")"
echo "small during both large scans (n, median s, max s):"
awk '{print $2}' "$dir/small" | sort -n | awk '{a[NR]=$1} END {print NR, a[int((NR+1)/2)], a[NR]}'
