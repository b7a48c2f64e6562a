#!/usr/bin/env python3
"""Score Paravent's detector against the labelled development corpus.

Scoring follows /work/shared/data/README.md ("How to score") to the letter:

1. findings are converted from UTF-8 byte offsets to character offsets,
   their entity names are mapped to corpus types, and their spans are
   trimmed of whitespace at both ends;
2. a finding matches a gold span when the types are compatible (equal, or
   DATE vs DATE_OF_BIRTH) and, for *exact*, start and end are equal, for
   *overlap*, they share at least one character;
3. recall of T = gold spans of T matched by some finding / gold spans of T
   (every source counts);
4. precision of T = findings of T matching some gold span / findings of T,
   counting only findings in sources that annotate T exhaustively;
5. micro scores add the counts of 3 and 4 over a set of types;
6. any-type recall: gold spans overlapped by a finding of any type;
7. no score threshold.

Usage:
  python3 scripts/score_corpus.py                  # runs target/{release,debug}/paravent
  python3 scripts/score_corpus.py --findings out.jsonl --format json
  python3 scripts/score_corpus.py --lang fr --dump-errors /tmp/errs

Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "data" / "dev-corpus.jsonl"

# Corpus types, in display order.
TYPES = [
    "PERSON", "EMAIL", "PHONE", "IBAN", "CREDIT_CARD", "FR_NIR", "IP_ADDRESS",
    "URL", "LOCATION", "ADDRESS", "DATE_OF_BIRTH", "DATE", "ORGANIZATION",
    "OTHER",
]
# Paravent entity names that map to a corpus type of the same name; every
# other entity (FR_SIREN, FR_SIRET, FR_VAT, FR_RIB, US_SSN, UK_NINO, SECRET,
# CUSTOM, ...) maps to OTHER.
SAME_NAME = set(TYPES) - {"OTHER"}

DIRECT_IDENTIFIERS = [
    "PERSON", "EMAIL", "PHONE", "IBAN", "CREDIT_CARD", "FR_NIR", "IP_ADDRESS",
    "URL", "ADDRESS", "DATE_OF_BIRTH",
]
HEADLINE = [t for t in TYPES if t not in ("OTHER", "ORGANIZATION")]
MICRO_SETS = [
    ("direct_identifiers", "micro: direct identifiers", DIRECT_IDENTIFIERS),
    ("all_but_other_and_organization", "micro: all but OTHER and ORGANIZATION", HEADLINE),
]

# Types each source annotates exhaustively (README, "Sources").  A finding of
# type T in source S counts for precision only if T is listed for S.
EXHAUSTIVE = {
    "en_presidio_synth": {
        "PERSON", "ADDRESS", "LOCATION", "ORGANIZATION", "CREDIT_CARD", "DATE",
        "PHONE", "EMAIL", "URL", "IBAN", "IP_ADDRESS", "OTHER",
    },
    "en_wikigold": {"PERSON", "LOCATION", "ORGANIZATION"},
    "fr_eds_pseudo": {
        "PERSON", "DATE", "DATE_OF_BIRTH", "PHONE", "EMAIL", "FR_NIR",
        "ADDRESS", "OTHER",
    },
    "fr_eds_pseudo_faker": {
        "PERSON", "DATE", "DATE_OF_BIRTH", "PHONE", "EMAIL", "FR_NIR",
        "ADDRESS", "OTHER",
    },
    "fr_echr_manual": {"PERSON", "LOCATION", "ORGANIZATION", "DATE", "OTHER"},
}

LANGS = ["fr", "en"]
CONTEXT_CHARS = 40


# --------------------------------------------------------------------------
# Small helpers


# An unchecked identifier (`ID_NUMBER`: a value of an identifier's shape whose check
# fails, docs/DETECTION.md) stands for the identifier whose rule found it: the corpus
# labels placeholder NIRs with no valid key as FR_NIR. By rule-id prefix.
UNCHECKED_BY_RULE = [
    ("fr.nir", "FR_NIR"),
    ("core.iban", "IBAN"),
    ("core.credit-card", "CREDIT_CARD"),
]


def map_entity(entity: str, rule: str = "") -> str:
    """Map a Paravent entity name to a corpus type (an ID_NUMBER by its rule)."""
    name = str(entity).strip().upper()
    if name == "ID_NUMBER":
        for prefix, corpus_type in UNCHECKED_BY_RULE:
            if str(rule).startswith(prefix):
                return corpus_type
    return name if name in SAME_NAME else "OTHER"


def compatible(a: str, b: str) -> bool:
    """Types are compatible when equal, or one is DATE and the other DATE_OF_BIRTH."""
    return a == b or {a, b} == {"DATE", "DATE_OF_BIRTH"}


def exact(fs: int, fe: int, gs: int, ge: int) -> bool:
    return fs == gs and fe == ge


def overlap(fs: int, fe: int, gs: int, ge: int) -> bool:
    # Empty spans (a finding that was only whitespace) overlap nothing.
    return fs < ge and gs < fe and fs < fe and gs < ge


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Trim whitespace at both ends of text[start:end]; an all-blank span
    becomes empty (start == end)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _utf8_len(ch: str) -> int:
    o = ord(ch)
    if o < 0x80:
        return 1
    if o < 0x800:
        return 2
    if o < 0x10000:
        return 3  # includes lone surrogates (encoded with surrogatepass)
    return 4


class ByteCharIndex:
    """Converts UTF-8 byte offsets of `text` to character offsets.

    Built once per text: O(len(text)) then O(1) per conversion.  ASCII texts
    take a fast path (identity).  Offsets that fall inside a multi-byte
    character are rounded outward (start down, end up) and counted as
    misaligned; offsets past the end are clamped and counted as out of range.
    """

    __slots__ = ("nbytes", "nchars", "char_of_byte", "boundary")

    def __init__(self, text: str):
        self.nchars = len(text)
        if text.isascii():
            self.nbytes = len(text)
            self.char_of_byte = None
            self.boundary = None
            return
        char_of_byte: list[int] = []
        boundary = bytearray()
        for i, ch in enumerate(text):
            n = _utf8_len(ch)
            char_of_byte.extend([i] * n)
            boundary.append(1)
            boundary.extend(b"\0" * (n - 1))
        char_of_byte.append(len(text))
        boundary.append(1)
        self.nbytes = len(char_of_byte) - 1
        self.char_of_byte = char_of_byte
        self.boundary = boundary

    def to_char(self, b: int, is_end: bool, warn: "Warnings | None" = None) -> int:
        if b < 0 or b > self.nbytes:
            if warn is not None:
                warn.add("finding offset out of range (clamped)")
            b = min(max(b, 0), self.nbytes)
        if self.char_of_byte is None:
            return b
        c = self.char_of_byte[b]
        if not self.boundary[b]:
            if warn is not None:
                warn.add("finding offset inside a UTF-8 character (rounded outward)")
            if is_end:
                c += 1
        return c


def byte_to_char(text: str, b: int) -> int:
    """Convenience: character offset of UTF-8 byte offset `b` of `text`."""
    return ByteCharIndex(text).to_char(b, is_end=False)


class Warnings:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.examples: dict[str, str] = {}

    def add(self, what: str, example: str | None = None) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        if example is not None and what not in self.examples:
            self.examples[what] = example

    def lines(self) -> list[str]:
        out = []
        for k, n in sorted(self.counts.items()):
            ex = self.examples.get(k)
            out.append(f"{k}: {n}" + (f" (e.g. {ex})" if ex else ""))
        return out


# --------------------------------------------------------------------------
# Data


@dataclass
class Gold:
    start: int
    end: int
    type: str
    orig_type: str = ""


@dataclass
class Finding:
    start: int  # character offsets, trimmed
    end: int
    type: str  # corpus type
    entity: str = ""
    rule: str = ""
    score: object = None


@dataclass
class Doc:
    id: str
    lang: str
    source: str
    text: str
    gold: list[Gold] = field(default_factory=list)


def load_corpus(path: Path) -> list[Doc]:
    docs = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
                docs.append(Doc(
                    id=str(d["id"]), lang=d["lang"], source=d["source"], text=d["text"],
                    gold=[Gold(int(s["start"]), int(s["end"]), s["type"], s.get("orig_type", ""))
                          for s in d.get("spans", [])],
                ))
            except (ValueError, KeyError, TypeError) as e:
                sys.exit(f"error: {path}:{lineno}: bad corpus line: {e}")
    return docs


def parse_findings_output(lines, known_ids: set[str], warn: Warnings) -> dict[str, list[dict]]:
    """Parse paravent `scan --jsonl` output lines into {id: [raw finding, ...]}."""
    out: dict[str, list[dict]] = {}
    for lineno, line in enumerate(lines, 1):
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        line = line.strip()
        if not line:
            continue
        try:
            d = json.loads(line)
        except ValueError as e:
            warn.add("unparsable findings line (skipped)", f"line {lineno}: {e}")
            continue
        if not isinstance(d, dict) or "id" not in d:
            warn.add("findings line without id (skipped)", f"line {lineno}")
            continue
        doc_id = str(d["id"])
        if doc_id not in known_ids:
            warn.add("findings for an id not in the corpus (ignored)", doc_id)
            continue
        fs = d.get("findings") or []
        if doc_id in out:
            warn.add("id reported more than once (findings merged)", doc_id)
            out[doc_id].extend(fs)
        else:
            out[doc_id] = list(fs)
    return out


def convert_findings(text: str, raw: list[dict], warn: Warnings | None = None,
                     index: ByteCharIndex | None = None) -> list[Finding]:
    """Byte offsets -> character offsets, entity -> type, whitespace trimmed."""
    idx = index or ByteCharIndex(text)
    out = []
    for f in raw:
        try:
            bs, be = int(f["start"]), int(f["end"])
            entity = str(f["entity"])
        except (KeyError, TypeError, ValueError):
            if warn is not None:
                warn.add("malformed finding (skipped)", json.dumps(f, ensure_ascii=False)[:120])
            continue
        if be < bs:
            if warn is not None:
                warn.add("finding with end < start (skipped)", json.dumps(f, ensure_ascii=False)[:120])
            continue
        cs = idx.to_char(bs, is_end=False, warn=warn)
        ce = idx.to_char(be, is_end=True, warn=warn)
        cs, ce = trim(text, cs, ce)
        if cs >= ce and warn is not None:
            warn.add("finding empty after trimming (counted, matches nothing)")
        out.append(Finding(cs, ce, map_entity(entity, str(f.get("rule", ""))), entity, str(f.get("rule", "")), f.get("score")))
    return out


# --------------------------------------------------------------------------
# Scoring

COUNT_KEYS = ("gold", "found", "counted", "tp_gold_exact", "tp_gold_overlap",
              "tp_found_exact", "tp_found_overlap", "any_type")


def new_counts() -> dict[str, dict[str, int]]:
    return {t: dict.fromkeys(COUNT_KEYS, 0) for t in TYPES}


@dataclass
class DocResult:
    # per gold span: (matched exact, matched overlap, overlapped by any finding)
    gold_flags: list[tuple[bool, bool, bool]]
    # per finding: (counted for precision, matched exact, matched overlap)
    finding_flags: list[tuple[bool, bool, bool]]


def score_doc(doc: Doc, findings: list[Finding]) -> DocResult:
    exhaustive = EXHAUSTIVE.get(doc.source, set())
    gold_flags = []
    for g in doc.gold:
        ex = ov = anyt = False
        for f in findings:
            if overlap(f.start, f.end, g.start, g.end):
                anyt = True
                if compatible(f.type, g.type):
                    ov = True
                    if exact(f.start, f.end, g.start, g.end):
                        ex = True
                        break
        gold_flags.append((ex, ov, anyt))
    finding_flags = []
    for f in findings:
        ex = ov = False
        for g in doc.gold:
            if compatible(f.type, g.type) and overlap(f.start, f.end, g.start, g.end):
                ov = True
                if exact(f.start, f.end, g.start, g.end):
                    ex = True
                    break
        finding_flags.append((f.type in exhaustive, ex, ov))
    return DocResult(gold_flags, finding_flags)


def accumulate(counts: dict, doc: Doc, findings: list[Finding], res: DocResult) -> None:
    for g, (ex, ov, anyt) in zip(doc.gold, res.gold_flags):
        c = counts.setdefault(g.type, dict.fromkeys(COUNT_KEYS, 0))
        c["gold"] += 1
        c["tp_gold_exact"] += ex
        c["tp_gold_overlap"] += ov
        c["any_type"] += anyt
    for f, (counted, ex, ov) in zip(findings, res.finding_flags):
        c = counts.setdefault(f.type, dict.fromkeys(COUNT_KEYS, 0))
        c["found"] += 1
        if counted:
            c["counted"] += 1
            c["tp_found_exact"] += ex
            c["tp_found_overlap"] += ov


def ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def metrics(c: dict[str, int]) -> dict:
    row = {"gold": c["gold"], "found": c["found"], "counted": c["counted"]}
    for mode in ("exact", "overlap"):
        p = ratio(c[f"tp_found_{mode}"], c["counted"])
        r = ratio(c[f"tp_gold_{mode}"], c["gold"])
        row[mode] = {
            "tp_found": c[f"tp_found_{mode}"], "tp_gold": c[f"tp_gold_{mode}"],
            "precision": p, "recall": r, "f1": f1(p, r),
        }
    row["any_type"] = {"matched": c["any_type"], "recall": ratio(c["any_type"], c["gold"])}
    return row


def micro(counts: dict, types: list[str]) -> dict:
    total = dict.fromkeys(COUNT_KEYS, 0)
    for t in types:
        for k in COUNT_KEYS:
            total[k] += counts[t][k]
    return metrics(total)


def group_report(counts: dict, texts: int) -> dict:
    return {
        "texts": texts,
        "types": {t: metrics(counts[t]) for t in TYPES},
        "micro": {key: micro(counts, ts) for key, _, ts in MICRO_SETS},
    }


# --------------------------------------------------------------------------
# Error dumps


def context(text: str, start: int, end: int) -> str:
    left = text[max(0, start - CONTEXT_CHARS):start]
    right = text[end:end + CONTEXT_CHARS]
    return f"{left}⟦{text[start:end]}⟧{right}"


def finding_brief(text: str, f: Finding) -> dict:
    return {"type": f.type, "entity": f.entity, "rule": f.rule,
            "start": f.start, "end": f.end, "value": text[f.start:f.end]}


def collect_errors(errors: dict, doc: Doc, findings: list[Finding], res: DocResult) -> None:
    """errors[(lang, type, kind)] -> list of records; kind in fn, fp, boundary."""
    text = doc.text
    for g, (ex, ov, _anyt) in zip(doc.gold, res.gold_flags):
        if ov and ex:
            continue
        rec = {"id": doc.id, "source": doc.source, "type": g.type, "orig_type": g.orig_type,
               "start": g.start, "end": g.end, "value": text[g.start:g.end],
               "context": context(text, g.start, g.end)}
        overlapping = [f for f in findings if overlap(f.start, f.end, g.start, g.end)]
        if not ov:
            # false negative (overlap): show findings of other types that touched it
            rec["found_as"] = [finding_brief(text, f) for f in overlapping]
            errors.setdefault((doc.lang, g.type, "fn"), []).append(rec)
        else:
            # found, but no finding has exactly its boundaries
            rec["findings"] = [finding_brief(text, f) for f in overlapping
                               if compatible(f.type, g.type)]
            errors.setdefault((doc.lang, g.type, "boundary"), []).append(rec)
    for f, (counted, _ex, ov) in zip(findings, res.finding_flags):
        if not counted or ov:
            continue
        rec = {"id": doc.id, "source": doc.source, "type": f.type, "entity": f.entity,
               "rule": f.rule, "score": f.score, "start": f.start, "end": f.end,
               "value": text[f.start:f.end], "context": context(text, f.start, f.end),
               "gold_overlap": [{"type": g.type, "start": g.start, "end": g.end,
                                 "value": text[g.start:g.end]}
                                for g in doc.gold if overlap(f.start, f.end, g.start, g.end)]}
        errors.setdefault((doc.lang, f.type, "fp"), []).append(rec)


def dump_errors(directory: Path, errors: dict, langs: list[str]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for lang in langs:
        for t in TYPES:
            for kind in ("fn", "fp", "boundary"):
                path = directory / f"{lang}.{t}.{kind}.jsonl"
                recs = errors.get((lang, t, kind))
                if not recs:
                    if path.exists():  # stale file from an earlier run
                        path.unlink()
                    continue
                with open(path, "w", encoding="utf-8") as fh:
                    for r in recs:
                        fh.write(json.dumps(r, ensure_ascii=False) + "\n")
                written.append(path)
    return written


# --------------------------------------------------------------------------
# Running paravent


def default_paravent() -> Path | None:
    for p in (REPO_ROOT / "target" / "release" / "paravent",
              REPO_ROOT / "target" / "debug" / "paravent"):
        if p.exists():
            return p
    return None


def run_paravent(cmd: list[str], docs: list[Doc]) -> tuple[bytes, float]:
    payload = "".join(json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) + "\n"
                      for d in docs).encode("utf-8", errors="surrogatepass")
    full = cmd + ["scan", "--jsonl", "-"]
    t0 = time.perf_counter()
    try:
        # stderr is inherited: paravent's error lines pass straight through.
        proc = subprocess.run(full, input=payload, stdout=subprocess.PIPE, stderr=None)
    except FileNotFoundError:
        sys.exit(f"error: cannot run {shlex.join(full)}: command not found")
    except PermissionError:
        sys.exit(f"error: cannot run {shlex.join(full)}: permission denied")
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"error: {shlex.join(full)} exited with status {proc.returncode}")
    return proc.stdout, elapsed


# --------------------------------------------------------------------------
# Formatting


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def round_tree(obj):
    if isinstance(obj, float):
        return round(obj, 3)
    if isinstance(obj, dict):
        return {k: round_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [round_tree(v) for v in obj]
    return obj


MD_HEADER = ("| type | gold | found | counted | exact P | exact R | exact F1 "
             "| overlap P | overlap R | overlap F1 | any-type R |\n"
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def md_row(label: str, row: dict) -> str:
    e, o = row["exact"], row["overlap"]
    cells = [label, str(row["gold"]), str(row["found"]), str(row["counted"]),
             fmt(e["precision"]), fmt(e["recall"]), fmt(e["f1"]),
             fmt(o["precision"]), fmt(o["recall"]), fmt(o["f1"]),
             fmt(row["any_type"]["recall"])]
    return "| " + " | ".join(cells) + " |"


def md_table(group: dict) -> str:
    lines = [MD_HEADER]
    for t in TYPES:
        row = group["types"][t]
        if row["gold"] or row["found"]:
            lines.append(md_row(t, row))
    for key, label, _ in MICRO_SETS:
        lines.append(md_row(f"**{label}**", group["micro"][key]))
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    out = ["# Paravent corpus score", ""]
    meta = report["meta"]
    out.append(f"- corpus: `{meta['corpus']}` ({meta['texts']} texts, {meta['chars']} characters)")
    if meta["filters"]:
        out.append("- filters: " + ", ".join(f"{k}={v}" for k, v in meta["filters"].items()))
    out.append(f"- findings: {meta['findings_from']} ({meta['findings']} findings)")
    if meta.get("elapsed_s") is not None:
        cps = meta.get("chars_per_s")
        out.append(f"- paravent wall time: {meta['elapsed_s']:.2f} s"
                   + (f" ({cps:,.0f} characters/s, process start included)" if cps else ""))
    if report["warnings"]:
        out.append("- warnings: " + "; ".join(report["warnings"]))
    out += ["", "## Summary (micro overlap F1)", "",
            "| lang | texts | direct identifiers | all but OTHER and ORGANIZATION (headline) |",
            "|---|---:|---:|---:|"]
    for lang, s in report["summary"].items():
        out.append(f"| {lang} | {s['texts']} | {fmt(s['direct_identifiers_overlap_f1'])} "
                   f"| {fmt(s['headline_overlap_f1'])} |")
    out += ["",
            "gold: gold spans; found: all findings of the type; counted: findings in sources "
            "that annotate the type exhaustively (the precision denominator); "
            "any-type R: gold spans overlapped by a finding of any type. "
            "DATE and DATE_OF_BIRTH match each other. '-': zero denominator.", ""]
    for lang, group in report["languages"].items():
        out += [f"## Language: {lang} ({group['texts']} texts)", "", md_table(group), ""]
    for source, group in report["sources"].items():
        exh = ", ".join(t for t in TYPES if t in EXHAUSTIVE.get(source, set())) or "none"
        out += [f"## Source: {source} ({group['texts']} texts)", "",
                f"Exhaustive types: {exh}.", "", md_table(group), ""]
    if report.get("error_dumps"):
        out += [f"Error dumps: {len(report['error_dumps'])} files in `{meta['dump_dir']}`.", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------
# Main


def build_report(docs: list[Doc], raw_by_id: dict[str, list[dict]], warn: Warnings,
                 want_errors: bool = False) -> tuple[dict, dict]:
    by_lang: dict[str, dict] = {}
    by_source: dict[str, dict] = {}
    texts_lang: dict[str, int] = {}
    texts_source: dict[str, int] = {}
    errors: dict = {}
    n_findings = 0
    for doc in docs:
        findings = convert_findings(doc.text, raw_by_id.get(doc.id, []), warn)
        n_findings += len(findings)
        res = score_doc(doc, findings)
        accumulate(by_lang.setdefault(doc.lang, new_counts()), doc, findings, res)
        accumulate(by_source.setdefault(doc.source, new_counts()), doc, findings, res)
        texts_lang[doc.lang] = texts_lang.get(doc.lang, 0) + 1
        texts_source[doc.source] = texts_source.get(doc.source, 0) + 1
        if want_errors:
            collect_errors(errors, doc, findings, res)
    for c in list(by_lang.values()) + list(by_source.values()):
        unknown = set(c) - set(TYPES)
        if unknown:
            sys.exit(f"error: corpus has unknown span types {sorted(unknown)}")
    lang_order = [l for l in LANGS if l in by_lang] + sorted(set(by_lang) - set(LANGS))
    source_order = ([s for s in EXHAUSTIVE if s in by_source]
                    + sorted(set(by_source) - set(EXHAUSTIVE)))
    languages = {l: group_report(by_lang[l], texts_lang[l]) for l in lang_order}
    sources = {s: group_report(by_source[s], texts_source[s]) for s in source_order}
    summary = {l: {"texts": g["texts"],
                   "direct_identifiers_overlap_f1": g["micro"]["direct_identifiers"]["overlap"]["f1"],
                   "headline_overlap_f1": g["micro"]["all_but_other_and_organization"]["overlap"]["f1"]}
               for l, g in languages.items()}
    report = {"meta": {"findings": n_findings}, "summary": summary,
              "languages": languages, "sources": sources}
    return report, errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=None,
                    help=f"labelled corpus JSONL (default: {DEFAULT_CORPUS})")
    ap.add_argument("--paravent", default=None,
                    help="paravent command (split like a shell line; default: "
                         "target/release/paravent, else target/debug/paravent); "
                         "run as '<CMD> scan --jsonl -'")
    ap.add_argument("--findings", type=Path, default=None,
                    help="read 'paravent scan --jsonl' output from this file instead of running paravent")
    ap.add_argument("--save-findings", type=Path, default=None,
                    help="also save paravent's raw output here (re-score later with --findings)")
    ap.add_argument("--format", choices=("md", "json"), default="md")
    ap.add_argument("--out", type=Path, default=None, help="write the report here (default: stdout)")
    ap.add_argument("--dump-errors", type=Path, default=None, metavar="DIR",
                    help="write false negatives/positives per language and type as JSONL into DIR")
    ap.add_argument("--only-source", action="append", default=None, metavar="SOURCE",
                    help="score only this source (repeatable or comma-separated)")
    ap.add_argument("--lang", choices=LANGS, default=None, help="score only this language")
    args = ap.parse_args(argv)

    if args.findings is not None and args.paravent is not None:
        ap.error("--findings and --paravent are mutually exclusive")

    corpus_path = args.corpus or DEFAULT_CORPUS
    if not corpus_path.is_file():
        sys.exit(f"error: corpus not found: {corpus_path} "
                 "(pass --corpus PATH; the default is ../shared/data/dev-corpus.jsonl "
                 "relative to the repository root)")
    all_docs = load_corpus(corpus_path)
    all_ids = {d.id for d in all_docs}

    docs = all_docs
    filters: dict[str, str] = {}
    if args.lang:
        docs = [d for d in docs if d.lang == args.lang]
        filters["lang"] = args.lang
    if args.only_source:
        wanted = {s.strip() for v in args.only_source for s in v.split(",") if s.strip()}
        known = {d.source for d in all_docs}
        unknown = wanted - known
        if unknown:
            sys.exit(f"error: unknown source(s) {sorted(unknown)}; corpus has {sorted(known)}")
        docs = [d for d in docs if d.source in wanted]
        filters["source"] = ",".join(sorted(wanted))
    if not docs:
        sys.exit("error: no texts left after filtering")
    doc_ids = {d.id for d in docs}

    warn = Warnings()
    elapsed = None
    if args.findings is not None:
        if not args.findings.is_file():
            sys.exit(f"error: findings file not found: {args.findings}")
        with open(args.findings, "rb") as fh:
            raw_lines = fh.read().splitlines()
        findings_from = f"file `{args.findings}`"
    else:
        if args.paravent is not None:
            cmd = shlex.split(args.paravent)
            if not cmd:
                sys.exit("error: empty --paravent command")
        else:
            exe = default_paravent()
            if exe is None:
                sys.exit("error: no paravent binary at target/release/paravent or "
                         "target/debug/paravent (run 'cargo build --release', "
                         "or pass --paravent CMD or --findings FILE)")
            cmd = [str(exe)]
        stdout, elapsed = run_paravent(cmd, docs)
        if args.save_findings is not None:
            args.save_findings.write_bytes(stdout)
        raw_lines = stdout.splitlines()
        findings_from = f"`{shlex.join(cmd)} scan --jsonl -`"

    parsed = parse_findings_output(raw_lines, all_ids, warn)
    raw_by_id = {k: v for k, v in parsed.items() if k in doc_ids}
    if args.findings is None:
        missing = doc_ids - set(parsed)
        for m in sorted(missing):
            warn.add("text with no output line from paravent (scored as no findings)", m)
    elif not raw_by_id:
        warn.add("findings file has no line for any scored text")

    report, errors = build_report(docs, raw_by_id, warn, want_errors=args.dump_errors is not None)
    chars = sum(len(d.text) for d in docs)
    report["meta"].update({
        "corpus": str(corpus_path), "texts": len(docs), "chars": chars,
        "filters": filters, "findings_from": findings_from,
        "elapsed_s": elapsed,
        "chars_per_s": (chars / elapsed) if elapsed else None,
    })
    report["warnings"] = warn.lines()
    for line in report["warnings"]:
        print(f"warning: {line}", file=sys.stderr)

    if args.dump_errors is not None:
        langs = list(report["languages"])
        written = dump_errors(args.dump_errors, errors, langs)
        report["meta"]["dump_dir"] = str(args.dump_errors)
        report["error_dumps"] = [str(p) for p in written]

    if args.format == "json":
        text = json.dumps(round_tree(report), ensure_ascii=False, indent=2) + "\n"
    else:
        text = render_markdown(report) + "\n"
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
