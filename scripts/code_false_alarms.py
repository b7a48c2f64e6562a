#!/usr/bin/env python3
"""False alarms on real source code: findings per MB, by entity.

Source code holds no personal data to speak of, so every PHONE, CREDIT_CARD, IBAN,
FR_NIR, FR_SIREN, FR_SIRET, ID_NUMBER or special-category finding in it is a false alarm
(developers paste code into prompts all day). This scans source that every machine
building Paravent has offline: the Rust crates under ~/.cargo/registry/src and the
Python standard library (/usr/lib/python3*). Files are picked in a fixed pseudo-random
order (a hash of their path) up to a cap, so two runs on one machine read the same files.

Usage:
  python3 scripts/code_false_alarms.py                 # target/{release,debug}/paravent
  python3 scripts/code_false_alarms.py --mb 40 --bin target/release/paravent
  python3 scripts/code_false_alarms.py --json          # one JSON object, for CI

Prints, for every entity found, its count and count per MB; the entities the target
(at most 1 per MB) applies to are marked, and the exit status is 1 when one is above it
(with --check). Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGETED = ["PHONE", "CREDIT_CARD", "IBAN", "FR_NIR", "FR_SIREN", "FR_SIRET", "ID_NUMBER"]
TARGET_PER_MB = 1.0
CHUNK_BYTES = 64 * 1024


def sources() -> list[tuple[str, str]]:
    """(kind, path) of every candidate file."""
    out = []
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    for p in glob.glob(str(home / "registry" / "src" / "*" / "*" / "**" / "*.rs"), recursive=True):
        out.append(("rust", p))
    for d in sorted(glob.glob("/usr/lib/python3*/")):
        for p in glob.glob(os.path.join(d, "**", "*.py"), recursive=True):
            out.append(("python", p))
    return out


def pick(files: list[tuple[str, str]], cap: int) -> list[tuple[str, str, str]]:
    """Half the cap from each kind, in hash order of the path; tests and generated
    tables included (they are code people paste too)."""
    chosen = []
    for kind in ("rust", "python"):
        of_kind = sorted(
            (p for k, p in files if k == kind),
            key=lambda p: hashlib.blake2b(p.encode(), digest_size=8).digest(),
        )
        budget = cap // 2
        for p in of_kind:
            try:
                text = Path(p).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            size = len(text.encode())
            if size > budget:
                continue
            chosen.append((kind, p, text))
            budget -= size
            if budget < 1024:
                break
    return chosen


def find_binary(arg: str | None) -> str:
    if arg:
        return arg
    for profile in ("release", "debug"):
        b = REPO_ROOT / "target" / profile / "paravent"
        if b.exists():
            return str(b)
    sys.exit("no paravent binary: cargo build --release first, or pass --bin")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=30.0, help="total size of code to scan (default 30)")
    ap.add_argument("--bin", help="paravent binary")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--check", action="store_true", help="exit 1 when a targeted entity is above 1 per MB")
    ap.add_argument("--show", metavar="ENTITY", help="print up to 20 findings of this entity with their line")
    args = ap.parse_args()

    chosen = pick(sources(), int(args.mb * 1024 * 1024))
    if not chosen:
        sys.exit("no source code found (~/.cargo/registry/src, /usr/lib/python3*)")
    # Chunks of about 64 KiB, cut on line ends so that no value is split in two.
    lines = []
    texts = {}
    for i, (kind, path, text) in enumerate(chosen):
        start = 0
        n = 0
        while start < len(text):
            end = min(len(text), start + CHUNK_BYTES)
            if end < len(text):
                nl = text.rfind("\n", start, end)
                if nl > start:
                    end = nl + 1
            cid = f"{i}.{n}"
            texts[cid] = (kind, path, text[start:end])
            lines.append(json.dumps({"id": cid, "text": text[start:end]}))
            start, n = end, n + 1
    total_bytes = sum(len(t.encode()) for _, _, t in texts.values())
    mb = total_bytes / (1024 * 1024)
    binary = find_binary(args.bin)
    proc = subprocess.run(
        [binary, "scan", "--jsonl"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return 2
    counts: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {"rust": Counter(), "python": Counter()}
    shown = 0
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        kind, path, text = texts[rec["id"]]
        raw = text.encode()
        for f in rec.get("findings", []):
            counts[f["entity"]] += 1
            by_kind[kind][f["entity"]] += 1
            if args.show and f["entity"] == args.show and shown < 20:
                shown += 1
                s, e = f["start"], f["end"]
                ls = raw.rfind(b"\n", 0, s) + 1
                le = raw.find(b"\n", e)
                le = len(raw) if le < 0 else le
                print(f"{path}: {raw[ls:le].decode(errors='replace').strip()[:160]}  <- {raw[s:e].decode(errors='replace')!r}")
    kinds_mb = {k: sum(len(t.encode()) for kk, _, t in texts.values() if kk == k) / (1024 * 1024) for k in by_kind}
    per_mb = {e: c / mb for e, c in counts.items()}
    over = [e for e in per_mb if (e in TARGETED or e.startswith(("HEALTH", "SPECIAL"))) and per_mb[e] > TARGET_PER_MB]
    if args.json:
        print(json.dumps({"mb": round(mb, 2), "files": len(chosen), "counts": dict(counts),
                          "per_mb": {e: round(v, 3) for e, v in per_mb.items()}, "over_target": over}))
    else:
        print(f"{len(chosen)} files, {mb:.1f} MB (rust {kinds_mb['rust']:.1f} MB, python {kinds_mb['python']:.1f} MB)")
        print(f"{'entity':<20} {'count':>7} {'per MB':>8}  rust/MB python/MB")
        for e, c in sorted(counts.items(), key=lambda x: -x[1]):
            mark = " *" if (e in TARGETED or e.startswith(("HEALTH", "SPECIAL"))) else ""
            r = by_kind["rust"][e] / max(kinds_mb["rust"], 1e-9)
            p = by_kind["python"][e] / max(kinds_mb["python"], 1e-9)
            print(f"{e:<20} {c:>7} {c / mb:>8.2f}  {r:7.2f} {p:9.2f}{mark}")
        for e in TARGETED:
            if e not in counts:
                print(f"{e:<20} {0:>7} {0:>8.2f}  (none) *")
        print(f"* targeted: at most {TARGET_PER_MB:g} per MB; over it: {', '.join(over) or 'none'}")
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
