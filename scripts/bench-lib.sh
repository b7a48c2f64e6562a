# Sourced by the benchmark scripts that start servers (loadtest.sh, instructions.sh):
# a temporary directory `$tmp`, the started processes' ids in `pids` (each stopped, and
# `$tmp` removed, when the script exits), and `free_port`, a free port on 127.0.0.1.

tmp="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
