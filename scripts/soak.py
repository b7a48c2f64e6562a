#!/usr/bin/env python3
"""Soak and memory runs of a real `paravent serve` (scripts/soak.sh, scripts/streams-memory.sh).

One asyncio process plays both ends: a mock OpenAI-compatible provider that echoes the
user's message back (whole, or streamed in small SSE deltas, slowly when the model name
says `slow-MS`), and the clients. The provider checks every request it receives for the
values the clients planted (a leak is any of them arriving in clear); each client checks
that its answer carries its own values back (re-identified) and no pseudonym token.

    soak.py soak BIN MINUTES        concurrent streamed and non-streamed requests, clients
                                    that disconnect mid-stream, a reload every few seconds
                                    (SIGHUP, then a config change, in turn); then leaks,
                                    answers, RSS, fds and `paravent audit verify`
    soak.py streams BIN COUNT       COUNT concurrent slow streams at once; peak RSS

Prints the figures and exits non-zero when a check fails. Only the standard library;
everything listens on 127.0.0.1; the process and its scratch directory go at the end.
"""

import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TOKEN = re.compile(r"\[[A-Z_]+_[0-9A-Fa-f]{6}\]")
# The values the clients plant (see `one`): any of them in a request the provider
# receives is a leak.
VALUES = re.compile(r"jean\.dupont\d+@example\.fr|06 \d\d \d\d 34 56|FR76 3000 6000 0112 3456 7890 189")
SECRET = "a soak test secret of 32 bytes or more, synthetic"


# ---- the mock provider ----

class Provider:
    def __init__(self):
        self.requests = 0
        self.leaks = 0
        self.cancelled = 0

    async def handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                text = body.decode("utf-8", "replace")
                if VALUES.search(text):
                    self.leaks += 1
                req = json.loads(body)
                prompt = req["messages"][-1]["content"]
                answer = "Reçu : " + prompt
                model = req.get("model", "m")
                delay = int(model.split("slow-")[1]) / 1000 if "slow-" in model else 0
                if req.get("stream"):
                    if not await self.stream(writer, answer, delay):
                        self.cancelled += 1
                        return
                else:
                    out = json.dumps({"id": "c1", "object": "chat.completion", "model": model,
                                      "choices": [{"index": 0, "finish_reason": "stop",
                                                   "message": {"role": "assistant", "content": answer}}],
                                      "usage": {"prompt_tokens": 10, "completion_tokens": 10,
                                                "total_tokens": 20}}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\n\r\n" % len(out) + out)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError,
                asyncio.CancelledError):
            # A client gone, or the run over (connections still open are cancelled).
            pass
        finally:
            writer.close()

    async def stream(self, writer, answer, delay):
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        pieces = [answer[i:i + 7] for i in range(0, len(answer), 7)]
        events = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        try:
            for ev in events:
                data = b"data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk",
                                               "model": "m", **ev}).encode() + b"\n\n"
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()
                if delay:
                    await asyncio.sleep(delay)
                if writer.is_closing():
                    return False
            done = b"data: [DONE]\n\n"
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
            await writer.drain()
            return True
        except ConnectionError:
            return False


# ---- the clients ----

async def http(port, body, read_events=None):
    """POSTs `body` to Paravent's OpenAI route; returns (status, text). With
    `read_events`, closes the connection after that many streamed events."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode()
    writer.write(b"POST /openai/v1/chat/completions HTTP/1.1\r\nhost: paravent\r\n"
                 b"authorization: Bearer sk-soak\r\ncontent-type: application/json\r\n"
                 b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(data) + data)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    chunked = b"transfer-encoding: chunked" in head.lower()
    out = bytearray()
    events = 0
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                break
            out += await reader.readexactly(size)
            await reader.readexactly(2)
            events = out.count(b"\n\n")
            if read_events is not None and events >= read_events:
                writer.transport.abort()
                return status, None
    else:
        out += await reader.read()
    writer.close()
    return status, out.decode("utf-8")


def streamed_text(sse):
    text = []
    for block in sse.split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: ") and line != "data: [DONE]":
                ev = json.loads(line[6:])
                for c in ev.get("choices", []):
                    text.append(c.get("delta", {}).get("content") or "")
    return "".join(text)


class Stats:
    def __init__(self):
        self.ok = 0
        self.streams = 0
        self.dropped = 0
        self.failed = 0
        self.not_restored = 0
        self.first_failure = None

    def fail(self, why):
        self.failed += 1
        self.first_failure = self.first_failure or why


async def one(port, provider, stats, n, kind, slow_ms=0):
    """One request with values of its own: kind is `json`, `stream` or `drop`."""
    email = f"jean.dupont{n}@example.fr"
    phone = f"06 {n % 90 + 10} {n // 90 % 90 + 10} 34 56"
    iban = "FR76 3000 6000 0112 3456 7890 189"
    prompt = f"Bonjour, écrivez à {email} ou appelez le {phone} ; IBAN {iban}. Merci."
    model = f"gpt-4o-slow-{slow_ms}" if slow_ms else "gpt-4o-mini"
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    if kind != "json":
        body["stream"] = True
    try:
        status, text = await http(port, body, read_events=3 if kind == "drop" else None)
    except (ConnectionError, asyncio.IncompleteReadError) as e:
        stats.fail(f"{kind}: {type(e).__name__}")
        return
    if status != 200:
        stats.fail(f"{kind}: status {status}")
        return
    if kind == "drop":
        stats.dropped += 1
        return
    answer = streamed_text(text) if kind == "stream" else json.loads(text)["choices"][0]["message"]["content"]
    if email in answer and phone in answer and iban in answer and not TOKEN.search(answer):
        stats.ok += 1
        stats.streams += kind == "stream"
    else:
        stats.not_restored += 1


# ---- the process ----

class Paravent:
    def __init__(self, binary, config):
        self.proc = subprocess.Popen([binary, "serve", "--config", config,
                                      "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                                      "--log", "warn,paravent=info"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"Paravent is serving\. listen=127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        else:
            sys.exit("paravent serve did not start:\n" + "".join(self.log))
        # Its log is read as it comes (a full pipe would stop it): reloads counted, the
        # last lines kept for a failure.
        self.reloaded = 0
        self.reader = threading.Thread(target=self.drain, daemon=True)
        self.reader.start()

    def drain(self):
        for line in self.proc.stderr:
            self.reloaded += "Configuration reloaded." in line
            self.log.append(line)
            del self.log[:-200]

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        return code


def config_text(upstream_port, trail_dir, n=0):
    return (f"# reload {n}\n[server]\ndefault_provider = \"openai\"\nwatch_interval_ms = 500\n\n"
            f"[audit]\npath = \"{trail_dir}/paravent-{{instance}}.jsonl\"\nfsync = \"never\"\n\n"
            f"[pseudonyms]\nsecret = \"{SECRET}\"\n\n"
            f"[providers.openai]\nbase_url = \"http://127.0.0.1:{upstream_port}\"\napi = \"openai\"\n")


async def sampler(pv, peak, stop):
    while not stop.is_set():
        peak[0] = max(peak[0], pv.rss_kb())
        peak[1] = max(peak[1], pv.fds())
        await asyncio.sleep(0.2)


async def settle(pv, seconds=3):
    await asyncio.sleep(seconds)
    return pv.rss_kb(), pv.fds()


async def soak(binary, minutes, concurrency=48):
    tmp = tempfile.mkdtemp(prefix="paravent-soak-")
    provider = Provider()
    server = await asyncio.start_server(provider.handle, "127.0.0.1", 0, limit=1 << 20)
    up = server.sockets[0].getsockname()[1]
    trails = os.path.join(tmp, "trails")
    cfg = os.path.join(tmp, "paravent.toml")
    with open(cfg, "w") as f:
        f.write(config_text(up, trails))
    pv = Paravent(binary, cfg)
    stats = Stats()
    counter = [0]
    kinds = ["json", "json", "stream", "stream", "stream", "drop"]

    async def worker(deadline):
        while time.monotonic() < deadline:
            counter[0] += 1
            n = counter[0]
            await one(pv.port, provider, stats, n, kinds[n % len(kinds)], slow_ms=random.choice([0, 0, 5]))

    async def load(seconds):
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(worker(deadline) for _ in range(concurrency)))

    reloads = [0, 0]

    async def reloader(deadline):
        n = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(5)
            n += 1
            if n % 2:
                pv.proc.send_signal(signal.SIGHUP)
                reloads[0] += 1
            else:
                with open(cfg, "w") as f:
                    f.write(config_text(up, trails, n))
                reloads[1] += 1

    async def timeline(deadline):
        minute = 0
        while time.monotonic() < deadline - 30:
            await asyncio.sleep(30)
            minute += 0.5
            print(f"  {minute:4.1f} min: RSS {pv.rss_kb() / 1024:.1f} MB, {pv.fds()} fds, "
                  f"{counter[0]} requests", flush=True)

    try:
        # Warm up at full concurrency with reloads (connection pools, allocator arenas,
        # a generation compiled and dropped), then the baseline.
        await asyncio.gather(load(21), reloader(time.monotonic() + 21))
        reloads = [0, 0]
        base_rss, base_fds = await settle(pv)
        print(f"baseline after warm-up: RSS {base_rss / 1024:.1f} MB, {base_fds} fds, "
              f"{counter[0]} requests", flush=True)
        peak = [base_rss, base_fds]
        stop = asyncio.Event()
        sample = asyncio.create_task(sampler(pv, peak, stop))
        started = time.monotonic()
        before = counter[0]
        applied_before = pv.reloaded
        await asyncio.gather(load(minutes * 60), reloader(started + minutes * 60),
                             timeline(started + minutes * 60))
        took = time.monotonic() - started
        stop.set()
        await sample
        end_rss, end_fds = await settle(pv, 5)
        code = pv.stop()
        applied = pv.reloaded - applied_before
        verify = subprocess.run([binary, "audit", "verify", trails], capture_output=True, text=True)
        records = 0
        for name in os.listdir(trails):
            with open(os.path.join(trails, name)) as f:
                records += sum(1 for _ in f)
        n = counter[0] - before
        print(f"soak: {minutes} min, {n} requests ({n / took:.0f}/s, {concurrency} clients)")
        print(f"whole run, warm-up included: {stats.ok} answers checked ({stats.streams} streamed), "
              f"{stats.dropped} dropped mid-stream, {stats.failed} failed, "
              f"{stats.not_restored} not re-identified")
        print(f"provider: {provider.requests} requests, {provider.leaks} with a value in clear, "
              f"{provider.cancelled} streams cancelled by Paravent")
        print(f"reloads: {reloads[0]} SIGHUP + {reloads[1]} config changes sent, {applied} applied")
        print(f"RSS: baseline {base_rss / 1024:.1f} MB, peak {peak[0] / 1024:.1f} MB, "
              f"after {end_rss / 1024:.1f} MB; fds: baseline {base_fds}, peak {peak[1]}, after {end_fds}")
        print(f"audit: {records} lines; `paravent audit verify`: exit {verify.returncode}: "
              f"{verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr.strip()}")
        problems = []
        if stats.failed:
            problems.append(f"{stats.failed} requests failed (first: {stats.first_failure})")
        if stats.not_restored:
            problems.append(f"{stats.not_restored} answers not re-identified")
        if provider.leaks:
            problems.append(f"{provider.leaks} leaks")
        if applied < sum(reloads):
            problems.append(f"only {applied} reloads applied")
        if end_rss > base_rss * 1.25 + 16 * 1024:
            problems.append("RSS did not come back near its baseline")
        if end_fds > base_fds + 8:
            problems.append("file descriptors grew")
        if verify.returncode != 0 or code != 0:
            problems.append(f"audit verify exit {verify.returncode}, serve exit {code}")
        for p in problems:
            print("FAIL:", p)
        return 1 if problems else 0
    finally:
        if pv.proc.poll() is None:
            pv.proc.kill()
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)


async def streams(binary, count, slow_ms=500):
    tmp = tempfile.mkdtemp(prefix="paravent-streams-")
    provider = Provider()
    server = await asyncio.start_server(provider.handle, "127.0.0.1", 0, limit=1 << 20, backlog=2048)
    up = server.sockets[0].getsockname()[1]
    cfg = os.path.join(tmp, "paravent.toml")
    with open(cfg, "w") as f:
        f.write(config_text(up, os.path.join(tmp, "trails")))
    pv = Paravent(binary, cfg)
    stats = Stats()
    try:
        base = pv.rss_kb()
        peak = [base, 0]
        stop = asyncio.Event()
        sample = asyncio.create_task(sampler(pv, peak, stop))
        started = time.monotonic()
        await asyncio.gather(*(one(pv.port, provider, stats, n, "stream", slow_ms=slow_ms)
                               for n in range(count)))
        took = time.monotonic() - started
        stop.set()
        await sample
        pv.stop()
        print(f"{count} concurrent streams ({slow_ms} ms between events, ~{took:.0f} s each run): "
              f"{stats.streams} re-identified, {stats.failed} failed, {provider.leaks} leaks")
        print(f"RSS: idle {base / 1024:.1f} MB, peak {peak[0] / 1024:.1f} MB; peak fds {peak[1]}")
        ok = stats.streams == count and not provider.leaks and peak[0] < 200 * 1024
        if not ok:
            print("FAIL:", stats.first_failure or "over 200 MB or streams missing")
        return 0 if ok else 1
    finally:
        if pv.proc.poll() is None:
            pv.proc.kill()
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the child inherits it
    what, binary, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    if what == "soak":
        sys.exit(asyncio.run(soak(binary, float(arg))))
    if what == "streams":
        sys.exit(asyncio.run(streams(binary, int(arg))))
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
