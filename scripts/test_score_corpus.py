#!/usr/bin/env python3
"""Tests for scripts/score_corpus.py (stdlib unittest, no corpus needed).

Run: python3 -m unittest scripts/test_score_corpus.py
  or python3 scripts/test_score_corpus.py
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import score_corpus as sc  # noqa: E402


def b(text: str, i: int) -> int:
    """Byte offset of character i (the README's reference formula)."""
    return len(text[:i].encode("utf-8"))


def finding(text: str, start: int, end: int, entity: str, rule: str = "r") -> dict:
    """A paravent finding for text[start:end] (character offsets in, bytes out)."""
    return {"start": b(text, start), "end": b(text, end), "entity": entity,
            "nature": "n", "sensitivity": "s", "rule": rule, "score": 0.5}


def span(text: str, value: str, typ: str, nth: int = 0) -> dict:
    start = -1
    for _ in range(nth + 1):
        start = text.index(value, start + 1)
    return {"start": start, "end": start + len(value), "type": typ, "value": value,
            "orig_type": typ}


class Env:
    """A temporary corpus + findings file, scored through main()."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.docs: list[dict] = []
        self.outputs: list[dict] = []

    def add(self, id_, source, lang, text, spans, findings):
        self.docs.append({"id": id_, "lang": lang, "source": source, "text": text,
                          "spans": spans})
        self.outputs.append({"id": id_, "findings": findings})

    def write(self) -> tuple[Path, Path]:
        corpus = self.dir / "corpus.jsonl"
        corpus.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in self.docs),
                          encoding="utf-8")
        found = self.dir / "findings.jsonl"
        found.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in self.outputs),
                         encoding="utf-8")
        return corpus, found

    def run(self, *extra: str, write: bool = True) -> dict:
        corpus, found = self.write() if write else (self.dir / "corpus.jsonl",
                                                     self.dir / "findings.jsonl")
        out = self.dir / "report.json"
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = sc.main(["--corpus", str(corpus), "--findings", str(found),
                          "--format", "json", "--out", str(out), *extra])
        self.stderr = err.getvalue()
        assert rc == 0
        return json.loads(out.read_text(encoding="utf-8"))

    def close(self):
        self.tmp.cleanup()


class ByteCharTest(unittest.TestCase):
    TEXT = "Élodie Müller né à Besançon 😀 — tél ０６ x"

    def test_every_boundary_round_trips(self):
        idx = sc.ByteCharIndex(self.TEXT)
        for i in range(len(self.TEXT) + 1):
            self.assertEqual(idx.to_char(b(self.TEXT, i), is_end=False), i)
            self.assertEqual(idx.to_char(b(self.TEXT, i), is_end=True), i)
        self.assertEqual(sc.byte_to_char(self.TEXT, b(self.TEXT, 7)), 7)

    def test_ascii_fast_path(self):
        idx = sc.ByteCharIndex("plain ascii")
        self.assertIsNone(idx.char_of_byte)
        self.assertEqual(idx.to_char(6, is_end=False), 6)

    def test_misaligned_offsets_round_outward_and_warn(self):
        text = "aé b"  # 'é' is bytes 1..2
        idx = sc.ByteCharIndex(text)
        warn = sc.Warnings()
        self.assertEqual(idx.to_char(2, is_end=False, warn=warn), 1)
        self.assertEqual(idx.to_char(2, is_end=True, warn=warn), 2)
        self.assertEqual(sum(warn.counts.values()), 2)

    def test_out_of_range_clamped(self):
        warn = sc.Warnings()
        self.assertEqual(sc.ByteCharIndex("é").to_char(10, is_end=True, warn=warn), 1)
        self.assertTrue(warn.counts)

    def test_convert_findings_accented(self):
        text = "Le patient Éric Dupré, né le 12/03/1960 à Orléans."
        raw = [finding(text, text.index("Éric"), text.index(","), "PERSON"),
               finding(text, text.index("Orléans"), text.index("Orléans") + 7, "LOCATION")]
        fs = sc.convert_findings(text, raw)
        self.assertEqual([text[f.start:f.end] for f in fs], ["Éric Dupré", "Orléans"])
        # A byte offset used as a character offset would be off by the accents.
        self.assertNotEqual(raw[1]["start"], text.index("Orléans"))


class TrimAndMappingTest(unittest.TestCase):
    def test_trim(self):
        text = "  \tJean Dupont \n x"
        self.assertEqual(sc.trim(text, 0, 15), (3, 14))
        self.assertEqual(text[3:14], "Jean Dupont")
        self.assertEqual(sc.trim(text, 0, 3), (3, 3))  # all blank -> empty

    def test_convert_trims_and_maps(self):
        text = "Tél :  06 12 34 56 78 \u00a0; SIREN 732829320"
        raw = [finding(text, 5, 23, "PHONE"),
               finding(text, text.index("732"), len(text), "FR_SIREN"),
               finding(text, 3, 6, "SECRET")]  # " : " -> ':' only
        fs = sc.convert_findings(text, raw)
        self.assertEqual(text[fs[0].start:fs[0].end], "06 12 34 56 78")
        self.assertEqual((fs[1].type, fs[1].entity), ("OTHER", "FR_SIREN"))
        self.assertEqual(text[fs[2].start:fs[2].end], ":")

    def test_entity_mapping(self):
        for t in ["PERSON", "EMAIL", "PHONE", "IBAN", "CREDIT_CARD", "FR_NIR", "IP_ADDRESS",
                  "URL", "LOCATION", "ADDRESS", "DATE_OF_BIRTH", "DATE", "ORGANIZATION"]:
            self.assertEqual(sc.map_entity(t), t)
        for t in ["FR_SIREN", "FR_SIRET", "FR_VAT", "FR_RIB", "US_SSN", "UK_NINO", "SECRET",
                  "CUSTOM", "SOMETHING_NEW"]:
            self.assertEqual(sc.map_entity(t), "OTHER")

    def test_whitespace_only_finding_matches_nothing(self):
        text = "Jean   Dupont"
        doc = sc.Doc("d", "fr", "fr_eds_pseudo", text, [sc.Gold(0, 13, "PERSON")])
        fs = sc.convert_findings(text, [finding(text, 4, 7, "PERSON")])
        self.assertEqual(fs[0].start, fs[0].end)
        res = sc.score_doc(doc, fs)
        self.assertEqual(res.gold_flags, [(False, False, False)])
        self.assertEqual(res.finding_flags, [(True, False, False)])


class MatchingTest(unittest.TestCase):
    def test_overlap_and_exact_predicates(self):
        self.assertTrue(sc.exact(2, 5, 2, 5))
        self.assertFalse(sc.exact(2, 5, 2, 6))
        self.assertTrue(sc.overlap(0, 3, 2, 6))
        self.assertFalse(sc.overlap(0, 2, 2, 6))  # touching is not overlapping
        self.assertFalse(sc.overlap(6, 8, 2, 6))

    def test_compatible(self):
        self.assertTrue(sc.compatible("DATE", "DATE_OF_BIRTH"))
        self.assertTrue(sc.compatible("DATE_OF_BIRTH", "DATE"))
        self.assertTrue(sc.compatible("PERSON", "PERSON"))
        self.assertFalse(sc.compatible("PERSON", "LOCATION"))
        self.assertFalse(sc.compatible("DATE", "OTHER"))

    def test_exact_vs_overlap_end_to_end(self):
        env = Env()
        try:
            t1 = "M. Fredin est né à Göteborg."
            # gold "M. Fredin"; finding only "Fredin": overlap yes, exact no.
            env.add("a-1", "fr_echr_manual", "fr", t1,
                    [span(t1, "M. Fredin", "PERSON"), span(t1, "Göteborg", "LOCATION")],
                    [finding(t1, 3, 9, "PERSON"),
                     finding(t1, t1.index("Göteborg"), t1.index("Göteborg") + 8, "LOCATION")])
            rep = env.run()
            fr = rep["languages"]["fr"]["types"]
            self.assertEqual(fr["PERSON"]["exact"]["recall"], 0.0)
            self.assertEqual(fr["PERSON"]["overlap"]["recall"], 1.0)
            self.assertEqual(fr["PERSON"]["exact"]["precision"], 0.0)
            self.assertEqual(fr["PERSON"]["overlap"]["precision"], 1.0)
            self.assertEqual(fr["LOCATION"]["exact"]["f1"], 1.0)
            self.assertEqual(fr["LOCATION"]["overlap"]["f1"], 1.0)
        finally:
            env.close()

    def test_wrong_type_does_not_match_but_counts_for_any_type(self):
        env = Env()
        try:
            t = "Paris est grand."
            env.add("x-1", "fr_echr_manual", "fr", t, [span(t, "Paris", "LOCATION")],
                    [finding(t, 0, 5, "PERSON")])
            rep = env.run()
            ty = rep["languages"]["fr"]["types"]
            self.assertEqual(ty["LOCATION"]["overlap"]["recall"], 0.0)
            self.assertEqual(ty["LOCATION"]["any_type"]["recall"], 1.0)
            self.assertEqual(ty["PERSON"]["counted"], 1)
            self.assertEqual(ty["PERSON"]["overlap"]["precision"], 0.0)
            self.assertIsNone(ty["PERSON"]["overlap"]["recall"])  # no PERSON gold
            self.assertIsNone(ty["PERSON"]["overlap"]["f1"])
        finally:
            env.close()

    def test_date_and_date_of_birth_match_each_other(self):
        env = Env()
        try:
            t = "Né le 12/03/1960, vu le 04/05/2021."
            env.add("e-1", "fr_eds_pseudo", "fr", t,
                    [span(t, "12/03/1960", "DATE_OF_BIRTH"), span(t, "04/05/2021", "DATE")],
                    [finding(t, 6, 16, "DATE"),                       # DATE finds DOB gold
                     finding(t, t.index("04/05"), t.index("04/05") + 10, "DATE_OF_BIRTH")])
            rep = env.run()
            ty = rep["languages"]["fr"]["types"]
            for typ in ("DATE", "DATE_OF_BIRTH"):
                self.assertEqual(ty[typ]["exact"]["recall"], 1.0, typ)
                self.assertEqual(ty[typ]["exact"]["precision"], 1.0, typ)
        finally:
            env.close()

    def test_multiple_findings_on_one_gold(self):
        # Recall counts gold spans once; precision counts each finding.
        text = "Rue de la Paix 75002 Paris"
        doc = sc.Doc("d", "fr", "fr_eds_pseudo", text, [sc.Gold(0, 26, "ADDRESS")])
        fs = [sc.Finding(0, 14, "ADDRESS"), sc.Finding(15, 20, "ADDRESS"),
              sc.Finding(21, 26, "LOCATION")]
        counts = sc.new_counts()
        sc.accumulate(counts, doc, fs, sc.score_doc(doc, fs))
        self.assertEqual(counts["ADDRESS"]["gold"], 1)
        self.assertEqual(counts["ADDRESS"]["tp_gold_overlap"], 1)
        self.assertEqual(counts["ADDRESS"]["tp_found_overlap"], 2)
        self.assertEqual(counts["ADDRESS"]["tp_gold_exact"], 0)
        # LOCATION is not exhaustive in eds-pseudo: found but not counted.
        self.assertEqual(counts["LOCATION"]["found"], 1)
        self.assertEqual(counts["LOCATION"]["counted"], 0)


class PrecisionScopeTest(unittest.TestCase):
    def test_precision_only_in_exhaustive_sources(self):
        env = Env()
        try:
            # eds-pseudo: LOCATION and ORGANIZATION are not exhaustive.
            t1 = "Patient vu à Lyon, hôpital Saint-Louis, par Dr Martin."
            env.add("eds-1", "fr_eds_pseudo", "fr", t1, [span(t1, "Martin", "PERSON")],
                    [finding(t1, t1.index("Lyon"), t1.index("Lyon") + 4, "LOCATION"),
                     finding(t1, t1.index("Saint"), t1.index("Saint") + 11, "ORGANIZATION"),
                     finding(t1, t1.index("Dr"), t1.index("Dr") + 2, "PERSON"),  # FP, counted
                     finding(t1, t1.index("Martin"), t1.index("Martin") + 6, "PERSON")])
            # ECHR: LOCATION exhaustive, so a spurious LOCATION counts; EMAIL does not.
            t2 = "La Cour siège à Strasbourg, écrire à a@b.fr."
            env.add("echr-1", "fr_echr_manual", "fr", t2, [],
                    [finding(t2, t2.index("Strasbourg"), t2.index("Strasbourg") + 10, "LOCATION"),
                     finding(t2, t2.index("a@b"), t2.index("a@b") + 6, "EMAIL")])
            rep = env.run()
            fr = rep["languages"]["fr"]["types"]
            self.assertEqual((fr["LOCATION"]["found"], fr["LOCATION"]["counted"]), (2, 1))
            self.assertEqual(fr["LOCATION"]["overlap"]["precision"], 0.0)
            self.assertEqual((fr["ORGANIZATION"]["found"], fr["ORGANIZATION"]["counted"]), (1, 0))
            self.assertIsNone(fr["ORGANIZATION"]["overlap"]["precision"])
            self.assertEqual((fr["EMAIL"]["found"], fr["EMAIL"]["counted"]), (1, 0))
            self.assertEqual(fr["PERSON"]["counted"], 2)
            self.assertEqual(fr["PERSON"]["overlap"]["precision"], 0.5)
            self.assertEqual(fr["PERSON"]["overlap"]["recall"], 1.0)
            src = rep["sources"]
            self.assertEqual(src["fr_eds_pseudo"]["types"]["LOCATION"]["counted"], 0)
            self.assertEqual(src["fr_echr_manual"]["types"]["LOCATION"]["counted"], 1)
            # Recall counts in every source, exhaustive or not.
            t3 = "Né à Nantes."
            env.add("eds-2", "fr_eds_pseudo", "fr", t3, [span(t3, "Nantes", "LOCATION")], [])
            rep = env.run()
            self.assertEqual(rep["languages"]["fr"]["types"]["LOCATION"]["gold"], 1)
            self.assertEqual(rep["languages"]["fr"]["types"]["LOCATION"]["overlap"]["recall"], 0.0)
        finally:
            env.close()

    def test_date_of_birth_finding_not_counted_where_only_date_is_exhaustive(self):
        # ECHR lists DATE, not DATE_OF_BIRTH, as exhaustive: to the letter of
        # the README, a DATE_OF_BIRTH finding there is not counted for precision.
        text = "Né le 3 mai 1950."
        doc = sc.Doc("d", "fr", "fr_echr_manual", text, [])
        fs = [sc.Finding(6, 16, "DATE_OF_BIRTH"), sc.Finding(6, 16, "DATE")]
        res = sc.score_doc(doc, fs)
        self.assertEqual([c for c, _, _ in res.finding_flags], [False, True])


class MicroTest(unittest.TestCase):
    def test_micro_adds_counts(self):
        counts = sc.new_counts()
        counts["PERSON"].update(gold=10, found=8, counted=8, tp_gold_overlap=6,
                                tp_found_overlap=6, tp_gold_exact=4, tp_found_exact=4,
                                any_type=7)
        counts["EMAIL"].update(gold=2, found=4, counted=4, tp_gold_overlap=2,
                               tp_found_overlap=2, tp_gold_exact=2, tp_found_exact=2,
                               any_type=2)
        counts["LOCATION"].update(gold=5, found=5, counted=0, tp_gold_overlap=5,
                                  tp_found_overlap=0, any_type=5)
        counts["ORGANIZATION"].update(gold=100, found=100, counted=100)  # excluded
        counts["OTHER"].update(gold=100, found=100, counted=100)  # excluded
        d = sc.micro(counts, sc.DIRECT_IDENTIFIERS)
        self.assertEqual((d["gold"], d["counted"]), (12, 12))
        self.assertAlmostEqual(d["overlap"]["precision"], 8 / 12)
        self.assertAlmostEqual(d["overlap"]["recall"], 8 / 12)
        self.assertAlmostEqual(d["exact"]["recall"], 6 / 12)
        self.assertAlmostEqual(d["any_type"]["recall"], 9 / 12)
        h = sc.micro(counts, sc.HEADLINE)  # adds LOCATION, not ORG/OTHER
        self.assertEqual((h["gold"], h["counted"]), (17, 12))
        p, r = 8 / 12, 13 / 17
        self.assertAlmostEqual(h["overlap"]["f1"], 2 * p * r / (p + r))

    def test_micro_sets(self):
        self.assertNotIn("LOCATION", sc.DIRECT_IDENTIFIERS)
        self.assertNotIn("DATE", sc.DIRECT_IDENTIFIERS)
        self.assertEqual(set(sc.HEADLINE), set(sc.TYPES) - {"OTHER", "ORGANIZATION"})

    def test_zero_denominators(self):
        row = sc.metrics(dict.fromkeys(sc.COUNT_KEYS, 0))
        self.assertIsNone(row["overlap"]["precision"])
        self.assertIsNone(row["overlap"]["recall"])
        self.assertIsNone(row["overlap"]["f1"])
        self.assertEqual(sc.fmt(None), "-")
        self.assertEqual(sc.fmt(2 / 3), "0.667")
        self.assertEqual(sc.f1(0.0, 0.0), 0.0)

    def test_summary_uses_micro_overlap_f1(self):
        env = Env()
        try:
            t = "Jean Dupont, né le 01/02/1970, à Lille."
            env.add("s-1", "fr_eds_pseudo", "fr", t,
                    [span(t, "Jean Dupont", "PERSON"), span(t, "01/02/1970", "DATE_OF_BIRTH"),
                     span(t, "Lille", "LOCATION")],
                    [finding(t, 0, 11, "PERSON")])
            te = "Call John at 555-0100."
            env.add("p-1", "en_presidio_synth", "en", te,
                    [span(te, "John", "PERSON"), span(te, "555-0100", "PHONE")],
                    [finding(te, 5, 9, "PERSON"), finding(te, 13, 21, "PHONE"),
                     finding(te, 0, 4, "PHONE")])
            rep = env.run()
            fr, en = rep["summary"]["fr"], rep["summary"]["en"]
            # fr direct: gold PERSON+DOB = 2, 1 found; P = 1/1, R = 1/2 -> 0.667
            self.assertEqual(fr["direct_identifiers_overlap_f1"], 0.667)
            # fr headline adds LOCATION gold: R = 1/3, P = 1 -> 0.5
            self.assertEqual(fr["headline_overlap_f1"], 0.5)
            # en: P = 2/3, R = 1 -> 0.8
            self.assertEqual(en["direct_identifiers_overlap_f1"], 0.8)
            self.assertEqual(rep["languages"]["en"]["micro"]["direct_identifiers"]["counted"], 3)
        finally:
            env.close()


class CliTest(unittest.TestCase):
    def make_env(self) -> Env:
        env = Env()
        t = "Écrire à Zoé Lefèvre : zoe@exemple.fr ; né le 1/1/1990."
        env.add("fr_eds_pseudo-1", "fr_eds_pseudo", "fr", t,
                [span(t, "Zoé Lefèvre", "PERSON"), span(t, "zoe@exemple.fr", "EMAIL"),
                 span(t, "1/1/1990", "DATE_OF_BIRTH")],
                [finding(t, t.index("Zoé"), t.index("Zoé") + 3, "PERSON", "names.first"),
                 finding(t, t.index("Écrire"), t.index("Écrire") + 6, "PERSON", "names.bad"),
                 finding(t, t.index("zoe@"), t.index(" ;"), "EMAIL", "email")])
        te = "Wikipedia says Paris is big."
        env.add("en_wikigold-1", "en_wikigold", "en", te, [span(te, "Paris", "LOCATION")],
                [finding(te, te.index("Paris"), te.index("Paris") + 5, "URL")])
        return env

    def test_markdown_report(self):
        env = self.make_env()
        try:
            corpus, found = env.write()
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                sc.main(["--corpus", str(corpus), "--findings", str(found)])
            md = buf.getvalue()
            self.assertIn("## Summary", md)
            self.assertIn("## Language: fr", md)
            self.assertIn("## Source: en_wikigold", md)
            self.assertIn("micro: direct identifiers", md)
            self.assertIn("micro: all but OTHER and ORGANIZATION", md)
            # URL in wikigold: found 1, counted 0, precision '-'
            self.assertRegex(md, r"\| URL \| 0 \| 1 \| 0 \| - \| - \| - \| - \| - \| - \| - \|")
            self.assertIn("| PERSON | 1 | 2 | 2 | 0.000 | 0.000 | 0.000 | 0.500 | 1.000 | 0.667 | 1.000 |",
                          md)
        finally:
            env.close()

    def test_filters(self):
        env = self.make_env()
        try:
            rep = env.run("--lang", "en")
            self.assertEqual(list(rep["languages"]), ["en"])
            self.assertEqual(list(rep["sources"]), ["en_wikigold"])
            rep = env.run("--only-source", "fr_eds_pseudo")
            self.assertEqual(list(rep["languages"]), ["fr"])
            self.assertEqual(rep["meta"]["texts"], 1)
        finally:
            env.close()

    def test_dump_errors(self):
        env = self.make_env()
        try:
            errs = env.dir / "errs"
            errs.mkdir()
            (errs / "fr.OTHER.fn.jsonl").write_text("stale\n")
            env.run("--dump-errors", str(errs))
            names = sorted(p.name for p in errs.iterdir())
            self.assertNotIn("fr.OTHER.fn.jsonl", names)  # stale file removed
            self.assertIn("fr.PERSON.fp.jsonl", names)
            self.assertIn("fr.PERSON.boundary.jsonl", names)
            self.assertIn("fr.DATE_OF_BIRTH.fn.jsonl", names)
            self.assertIn("en.LOCATION.fn.jsonl", names)
            self.assertNotIn("en.URL.fp.jsonl", names)  # URL not counted in wikigold
            self.assertNotIn("fr.EMAIL.fn.jsonl", names)
            fp = [json.loads(l) for l in (errs / "fr.PERSON.fp.jsonl").read_text().splitlines()]
            self.assertEqual(len(fp), 1)
            self.assertEqual((fp[0]["value"], fp[0]["rule"]), ("Écrire", "names.bad"))
            self.assertTrue(fp[0]["context"].startswith("⟦Écrire⟧ à Zoé"))
            fn = [json.loads(l) for l in (errs / "fr.DATE_OF_BIRTH.fn.jsonl").read_text().splitlines()]
            self.assertEqual(fn[0]["value"], "1/1/1990")
            self.assertIn("né le ⟦1/1/1990⟧.", fn[0]["context"])
            en = [json.loads(l) for l in (errs / "en.LOCATION.fn.jsonl").read_text().splitlines()]
            self.assertEqual(en[0]["found_as"][0]["type"], "URL")
        finally:
            env.close()

    def test_context_is_40_chars(self):
        text = "x" * 100 + "NAME" + "y" * 100
        self.assertEqual(sc.context(text, 100, 104), "x" * 40 + "⟦NAME⟧" + "y" * 40)

    def test_runs_paravent_command(self):
        env = self.make_env()
        try:
            corpus, found = env.write()
            fake = env.dir / "fake_paravent.py"
            # Replays the crafted findings; checks args and the {"id","text"} input.
            fake.write_text(textwrap.dedent(f"""
                import json, sys
                assert sys.argv[1:] == ["scan", "--jsonl", "-"], sys.argv
                out = {{}}
                for l in open({str(found)!r}, encoding="utf-8"):
                    d = json.loads(l); out[d["id"]] = d
                for line in sys.stdin.buffer:
                    d = json.loads(line)
                    assert set(d) == {{"id", "text"}}
                    print(json.dumps(out[d["id"]]))
            """), encoding="utf-8")
            saved = env.dir / "saved.jsonl"
            out = env.dir / "r.json"
            sc.main(["--corpus", str(corpus), "--paravent", f"{sys.executable} {fake}",
                     "--format", "json", "--out", str(out), "--save-findings", str(saved)])
            via_cmd = json.loads(out.read_text())
            via_file = env.run()
            self.assertEqual(via_cmd["languages"], via_file["languages"])
            self.assertIsNotNone(via_cmd["meta"]["elapsed_s"])
            self.assertEqual(len(saved.read_text().splitlines()), 2)
        finally:
            env.close()

    def test_missing_corpus_is_a_clear_error(self):
        with self.assertRaises(SystemExit) as cm:
            sc.main(["--corpus", "/nonexistent/corpus.jsonl", "--findings", "/dev/null"])
        self.assertIn("corpus not found", str(cm.exception.code))

    def test_unknown_ids_and_garbage_lines_warn(self):
        env = self.make_env()
        try:
            env.outputs.append({"id": "nope", "findings": []})
            corpus, found = env.write()
            with open(found, "a") as fh:
                fh.write("not json\n")
            rep = env.run(write=False)
            joined = " ".join(rep["warnings"])
            self.assertIn("not in the corpus", joined)
            self.assertIn("unparsable", joined)
        finally:
            env.close()


if __name__ == "__main__":
    unittest.main()
