#!/usr/bin/env bash
# Load test: wrk against Paravent and against a plain nginx reverse proxy, both in front
# of the same fast local upstream (nginx answering a fixed JSON chat completion), with
# a ~2 KB French prompt full of personal data (benches/load/prompt.json).
#
# Prints requests per second (2 threads, 50 connections) for the upstream direct, nginx
# and Paravent, Paravent's ratio to nginx, median latencies with one connection, and the
# CPU time Paravent spent per request in its one-connection run (user and system).
# Everything listens on 127.0.0.1 and is stopped at the end. A benchmark, not a test:
# the figures go to docs/PROXY-PERFORMANCE.md.
#
# Usage: scripts/loadtest.sh [DURATION_SECONDS]     (default 10)
#   AUDIT=always|never   keep an audit trail with that fsync policy (default: no trail)
#   BIN=path             measure that paravent binary, built elsewhere (another commit's
#                        worktree), instead of building this checkout's
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
duration="${1:-10}"
# The request body (PROMPT=file to measure another one, e.g. without personal data).
prompt="$(realpath "${PROMPT:-benches/load/prompt.json}")"
latency_duration="${LATENCY_DURATION:-5}"
audit="${AUDIT:-}"

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "loadtest: installing $2" >&2
        apt-get install -y "$2" >/dev/null 2>&1 || {
            apt-get update >/dev/null 2>&1 && apt-get install -y "$2" >/dev/null
        }
    fi
}
need wrk wrk
need nginx nginx

# Building with another CARGO_TARGET_DIR would put this checkout's code in that
# directory's binary: another commit is measured with BIN, never rebuilt here.
if [ -n "${BIN:-}" ]; then
    bin="$(realpath "$BIN")"
else
    cargo build --release --quiet --bin paravent
    bin="${CARGO_TARGET_DIR:-$root/target}/release/paravent"
fi

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
# nginx workers (another user) read its configuration there.
chmod 755 "$tmp"
up_port="$(free_port)"
nginx_port="$(free_port)"
pv_port="$(free_port)"

answer="$(tr -d '\n' < benches/load/answer.json | sed "s/'/\\\\'/g")"
cat > "$tmp/nginx.conf" <<NGINX
worker_processes auto;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    client_body_buffer_size 64k;
    keepalive_requests 1000000;
    upstream fixed { server 127.0.0.1:$up_port; keepalive 64; }
    # The fast upstream: a fixed JSON chat completion for any request.
    server {
        listen 127.0.0.1:$up_port;
        default_type application/json;
        location / { return 200 '$answer'; }
    }
    # The reference: nginx as a plain reverse proxy in front of it.
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://fixed;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGINX
nginx -p "$tmp" -c "$tmp/nginx.conf" -g 'daemon off;' &
pids+=($!)

cat > "$tmp/paravent.toml" <<TOML
[server]
listen = "127.0.0.1:$pv_port"
default_provider = "openai"

[providers.openai]
base_url = "http://127.0.0.1:$up_port"
api = "openai"
TOML
if [ -n "$audit" ]; then
    printf '[audit]\npath = "audit/trail.jsonl"\nfsync = "%s"\n' "$audit" >> "$tmp/paravent.toml"
fi
PARAVENT_SECRET="loadtest-secret-0123456789abcdef" "$bin" serve --config "$tmp/paravent.toml" \
    --log warn 2> "$tmp/paravent.log" &
pids+=($!)
pv_pid=$!

wait_for() {
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "loadtest: nothing listens on port $1" >&2
    exit 1
}
wait_for "$up_port"; wait_for "$nginx_port"; wait_for "$pv_port"

# The request must be forwarded (200), not refused: check once, and that nothing of the
# prompt's personal data reaches the upstream is the integration tests' job.
code="$(curl -s -o "$tmp/check.json" -w '%{http_code}' -H 'content-type: application/json' \
    --data-binary "@$prompt" "http://127.0.0.1:$pv_port/v1/chat/completions")"
if [ "$code" != 200 ]; then
    echo "loadtest: Paravent answered $code:" >&2; cat "$tmp/check.json" >&2; exit 1
fi

cat > "$tmp/post.lua" <<LUA
local f = assert(io.open("$prompt", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-loadtest"
LUA

path=/v1/chat/completions
rps() { # port threads connections seconds
    wrk -t"$2" -c"$3" -d"$4"s -s "$tmp/post.lua" "http://127.0.0.1:$1$path" \
        | awk '/Requests\/sec/ {print $2}'
}
median_us() { # port (wrk's whole output is kept in $tmp/latency.PORT)
    wrk -t1 -c1 -d"${latency_duration}"s --latency -s "$tmp/post.lua" "http://127.0.0.1:$1$path" \
        | tee "$tmp/latency.$1" | awk '$1 == "50%" {
            v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v);
            if (unit == "ms") v *= 1000; else if (unit == "s") v *= 1000000;
            printf "%.0f", v }'
}

# Warm up (connection pools, caches), then measure.
rps "$pv_port" 2 50 2 >/dev/null
rps "$nginx_port" 2 50 2 >/dev/null
direct="$(rps "$up_port" 2 50 "$duration")"
nginx_rps="$(rps "$nginx_port" 2 50 "$duration")"
pv_rps="$(rps "$pv_port" 2 50 "$duration")"
direct_lat="$(median_us "$up_port")"
nginx_lat="$(median_us "$nginx_port")"
# Paravent's CPU time (user, system: clock ticks of /proc/PID/stat) over its
# one-connection run, per request: with one connection nothing overlaps, so this is
# what each request costs it.
cpu_ticks() { awk '{print $14, $15}' "/proc/$pv_pid/stat"; }
read -r user0 sys0 < <(cpu_ticks)
pv_lat="$(median_us "$pv_port")"
read -r user1 sys1 < <(cpu_ticks)
pv_requests="$(awk '/requests in/ {print $1}' "$tmp/latency.$pv_port")"

echo "audit trail: ${audit:-none}${audit:+ (fsync $audit)}"
echo "prompt: $(wc -c < "$prompt") bytes; wrk -t2 -c50 -d${duration}s; latency: wrk -t1 -c1 -d${latency_duration}s"
printf '%-28s %12s %18s\n' "target" "req/s" "median µs (1 conn)"
printf '%-28s %12s %18s\n' "upstream direct" "$direct" "$direct_lat"
printf '%-28s %12s %18s\n' "nginx reverse proxy" "$nginx_rps" "$nginx_lat"
printf '%-28s %12s %18s\n' "paravent" "$pv_rps" "$pv_lat"
awk -v p="$pv_rps" -v n="$nginx_rps" -v pl="$pv_lat" -v nl="$nginx_lat" -v dl="$direct_lat" 'BEGIN {
    printf "ratio paravent/nginx req/s: %.2f (aim >= 0.60)\n", p / n;
    printf "latency added by paravent over direct: %d µs (aim < 150); over nginx: %d µs\n", pl - dl, pl - nl;
}'
awk -v n="$pv_requests" -v hz="$(getconf CLK_TCK)" -v u="$((user1 - user0))" -v s="$((sys1 - sys0))" 'BEGIN {
    if (n > 0) printf "paravent CPU per request (1 connection): %.0f µs user + %.0f µs system\n", u / hz / n * 1e6, s / hz / n * 1e6;
}'
