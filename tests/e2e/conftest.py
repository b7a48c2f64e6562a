"""Fixtures: the mock provider (in a thread) and a `paravent serve` subprocess in front
of it, both on 127.0.0.1 ephemeral ports, stopped at the end of the session."""

import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from mock_provider import MockProvider  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# Synthetic personal data (no real person).
NAME = "Jean Dupont"
EMAIL = "jean.dupont@example.fr"
PHONE = "06 12 34 56 78"
IBAN = "FR76 3000 6000 0112 3456 7890 189"
PROMPT = (f"Bonjour, je suis {NAME}, mon email est {EMAIL} et mon téléphone {PHONE}. "
          f"Mon IBAN est {IBAN}.")
VALUES = [NAME, EMAIL, PHONE, IBAN, "Dupont", "jean.dupont"]
VIRTUAL_KEY = "pv-e2e-virtual-key-0123456789"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def binary():
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    return os.environ.get("PARAVENT_BIN", str(Path(target) / "debug" / "paravent"))


@pytest.fixture(scope="session")
def mock():
    m = MockProvider().start()
    yield m
    m.stop()


@pytest.fixture(scope="session")
def paravent(mock):
    """Starts `paravent serve`; yields its base URL (http://127.0.0.1:PORT)."""
    bin_path = binary()
    key_hash = subprocess.run([bin_path, "key", "hash", VIRTUAL_KEY], check=True,
                              capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "paravent.toml"
        config.write_text(f"""
[server]
listen = "127.0.0.1:0"
default_provider = "openai"

[providers.openai]
base_url = "{mock.base_url}"
api = "openai"

[providers.anthropic]
base_url = "{mock.base_url}"
api = "anthropic"
auth = "virtual"
key_env = "E2E_REAL_ANTHROPIC_KEY"

[providers.gemini]
base_url = "{mock.base_url}"
api = "gemini"

[providers.ollama]
base_url = "{mock.base_url}"
api = "ollama"

[[keys.virtual]]
hash = "{key_hash}"
user = "e2e"

# A route target: the same mock under a path prefix, as a local OpenAI-compatible model.
[providers.local]
base_url = "{mock.base_url}/local"
api = "openai"
jurisdiction = "local"

# A route for test_policy_route_sends_to_the_local_model (no other test sends a NINO).
[[policy.rules]]
id = "e2e-nino-local"
entity = ["UK_NINO"]
action = "route"
route_to = "local"
model = "llama-local"

# A policy block for test_policy_block_is_a_permission_error (no other test sends an SSN).
[[policy.rules]]
id = "e2e-no-ssn"
entity = ["US_SSN"]
action = "block"
message = "US social security numbers may not be sent; ask the DPO."
""")
        env = dict(os.environ, E2E_REAL_ANTHROPIC_KEY="sk-ant-real-key-for-e2e",
                   RUST_LOG="info")
        env.pop("PARAVENT_SECRET", None)
        proc = subprocess.Popen([bin_path, "serve", "--config", str(config)],
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                env=env, text=True)
        log = []
        started = threading.Event()
        found = {}

        def drain():
            # Reads the whole log (so the process never blocks on a full pipe) and
            # notes the address it listens on.
            for line in proc.stderr:
                log.append(line)
                m = re.search(r"listen=(127\.0\.0\.1:\d+)", ANSI.sub("", line))
                if m and not started.is_set():
                    found["url"] = f"http://{m.group(1)}"
                    started.set()
            started.set()

        threading.Thread(target=drain, daemon=True).start()
        started.wait(timeout=30)
        url = found.get("url")
        if url is None:
            proc.kill()
            proc.wait()
            raise RuntimeError("paravent did not start:\n" + "".join(log))
        try:
            yield {"url": url, "log": log, "secret_file": Path(tmp) / "paravent.secret"}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def proxy(paravent, mock):
    """A clean mock record for each test."""
    mock.clear()
    return paravent


def assert_no_leak(mock, values=VALUES):
    for body in mock.bodies():
        for v in values:
            assert v not in body, f"{v!r} reached the provider: {body}"
