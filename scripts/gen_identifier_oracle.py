#!/usr/bin/env python3
"""Writes tests/it/detect/oracle_identifiers.tsv: generated identifiers and look-alikes.

Every value is generated here from a fixed seed and checked with python-stdnum (NIR,
SIREN, SIRET, VAT, IBAN, Luhn) or phonenumbers (phones), used as oracles: a *valid*
value passes the oracle, a *look-alike* is the same value with one digit changed or two
adjacent digits swapped and fails it. Nothing comes from any corpus.

Each line: `type <TAB> variant <TAB> sentence`, the value marked `[[…]]` in the
sentence. `variant` is `valid` or `lookalike`, with `-context` when a label word
announces the value (`NIR :`, `IBAN :`…). The Rust test (tests/it/detect/oracle.rs)
asserts that valid values are found with their span (at least 98 % per type) and that
look-alikes are reported under a checksum entity at most 2 % of the time.

Usage (python-stdnum and phonenumbers in the interpreter's environment):
  python3 -m venv /tmp/oracle-venv && /tmp/oracle-venv/bin/pip install python-stdnum phonenumbers
  /tmp/oracle-venv/bin/python scripts/gen_identifier_oracle.py
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import phonenumbers
from stdnum import iban, luhn, numdb
from stdnum.fr import nir, siren, siret, tva

OUT = Path(__file__).resolve().parent.parent / "tests" / "it" / "detect" / "oracle_identifiers.tsv"
PER_TYPE = 30
rng = random.Random(20261205)

NEUTRAL_FR = [
    "Le numéro {} figure dans le courrier de ce matin.",
    "Merci de vérifier {} avant l'envoi.",
    "{} apparaît deux fois dans le tableau.",
    "Voici ce que j'ai noté : {}.",
]
NEUTRAL_EN = [
    "Please double-check {} before sending.",
    "The number {} appears twice in the sheet.",
    "I wrote down {} yesterday.",
]
LABELS = {
    "FR_NIR": ["N° de sécurité sociale : {}", "NIR : {}", "numéro de sécu {} (formulaire)"],
    "CREDIT_CARD": ["Carte bancaire : {}", "card number {} expires soon", "paiement par carte {}"],
    "IBAN": ["IBAN : {}", "Virement sur l'IBAN {} demain.", "Please pay to IBAN {}."],
    "FR_SIREN": ["SIREN : {}", "immatriculée au RCS de Lyon sous le numéro {}"],
    "FR_SIRET": ["SIRET : {}", "n° SIRET {} sur la facture"],
    "FR_VAT": ["TVA intracommunautaire : {}", "n° de TVA {}"],
}


def sentence(value: str, context: bool, typ: str) -> str:
    if context:
        template = rng.choice(LABELS[typ])
    else:
        template = rng.choice(NEUTRAL_FR + NEUTRAL_EN)
    return template.format(f"[[{value}]]")


def digits(n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def mutate(compact: str, is_valid) -> str | None:
    """One digit changed or two adjacent different digits swapped; None when every
    attempt still passes the oracle (the caller draws another value)."""
    pos = [i for i, c in enumerate(compact) if c.isdigit()]
    for _ in range(50):
        s = list(compact)
        if rng.random() < 0.5:
            i = rng.choice(pos)
            s[i] = rng.choice([d for d in "0123456789" if d != s[i]])
        else:
            pairs = [i for i in pos if i + 1 in pos and s[i] != s[i + 1]]
            if not pairs:
                continue
            i = rng.choice(pairs)
            s[i], s[i + 1] = s[i + 1], s[i]
        out = "".join(s)
        if not is_valid(out):
            return out
    return None


def group(value: str, sizes: list[int], sep: str = " ") -> str:
    out, at = [], 0
    for size in sizes:
        out.append(value[at:at + size])
        at += size
    if at < len(value):
        out.append(value[at:])
    return sep.join(p for p in out if p)


# --- generators: each returns (compact value, printed forms) -------------------------

def gen_nir():
    while True:
        sex = rng.choice("12")
        year = digits(2)
        month = f"{rng.randint(1, 12):02d}"
        dept = rng.choice([f"{rng.randint(1, 95):02d}", "2A", "2B"])
        if dept == "20":
            continue
        commune, order = digits(3), digits(3)
        body = sex + year + month + dept + commune + order
        value = body + nir.calc_check_digits(body)
        if nir.is_valid(value):
            return value


def print_nir(v: str) -> str:
    style = rng.random()
    if style < 0.4:
        return group(v, [1, 2, 2, 2, 3, 3, 2])
    if style < 0.55:
        return " ".join(v)  # digit by digit, as in boxes
    return v


CARD_NETWORKS = [
    # (prefixes, lengths)
    (["4"], [13, 16, 19]),  # Visa
    ([str(p) for p in range(51, 56)], [16]),  # Mastercard
    ([str(p) for p in range(2221, 2721)], [16]),  # Mastercard 2-series
    (["34", "37"], [15]),  # Amex
    (["36", "38", "39"] + [str(p) for p in range(300, 306)], [14]),  # Diners
    (["6011", "65"] + [str(p) for p in range(644, 650)], [16, 19]),  # Discover
    ([str(p) for p in range(3528, 3590)], [16, 19]),  # JCB
    (["62"], [16, 19]),  # UnionPay
]


def gen_card():
    prefixes, lengths = rng.choice(CARD_NETWORKS)
    prefix = rng.choice(prefixes)
    length = rng.choice(lengths)
    while True:
        body = prefix + digits(length - len(prefix) - 1)
        value = body + luhn.calc_check_digit(body)
        if len(set(value[:-1])) > 1:
            return value


def print_card(v: str) -> str:
    if rng.random() < 0.6 and len(v) == 16:
        return group(v, [4, 4, 4, 4], rng.choice([" ", "-"]))
    if len(v) == 15 and rng.random() < 0.5:
        return group(v, [4, 6, 5])
    return v


def gen_card_off_range():
    """Luhn-valid numbers that no network issues (prefixes 1, 7, 8, 9; Amex prefix with
    16 digits; Mastercard with 15): never a card."""
    while True:
        prefix, length = rng.choice([("1", 16), ("7", 16), ("8", 16), ("9", 16), ("34", 16), ("37", 16), ("53", 15)])
        body = prefix + digits(length - len(prefix) - 1)
        value = body + luhn.calc_check_digit(body)
        if luhn.is_valid(value):
            return value


def iban_countries() -> list[tuple[str, str]]:
    """(country, BBAN structure) of every country in stdnum's copy of the registry."""
    path = Path(numdb.__file__).parent / "iban.dat"
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r'^([A-Z]{2}) country="[^"]*" bban="([^"]+)"', line)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


COUNTRIES = iban_countries()


def gen_bban(structure: str) -> str:
    out = []
    for count, kind in re.findall(r"([0-9]+)!([nac])", structure):
        for _ in range(int(count)):
            if kind == "n":
                out.append(rng.choice("0123456789"))
            elif kind == "a":
                out.append(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
            else:
                out.append(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    return "".join(out)


def gen_iban(country: str | None = None):
    cc, structure = (next(c for c in COUNTRIES if c[0] == country) if country else rng.choice(COUNTRIES))
    while True:
        bban = gen_bban(structure)
        check = iban.calc_check_digits(cc + "00" + bban)
        value = cc + check + bban
        if iban.is_valid(value) or valid_iban_no_country(value):
            return value


def valid_iban_no_country(v: str) -> bool:
    try:
        iban.validate(v, check_country=False)
        return True
    except Exception:
        return False


TAILS = [" BIC", " EUR", " 12", " (compte joint)", ", BIC", ""]


def print_iban(v: str) -> str:
    return group(v, [4] * 9) if rng.random() < 0.75 else v


def gen_siren():
    while True:
        body = digits(8)
        value = body + luhn.calc_check_digit(body)
        if siren.is_valid(value) and value != "000000000":
            return value


def gen_siret():
    while True:
        s = gen_siren()
        body = s + digits(4)
        value = body + luhn.calc_check_digit(body)
        if siret.is_valid(value):
            return value


def gen_vat():
    # Old-style numeric key: (12 + 3 × (SIREN mod 97)) mod 97, checked by stdnum below.
    while True:
        s = gen_siren()
        value = "FR%02d%s" % ((12 + 3 * (int(s) % 97)) % 97, s)
        if tva.is_valid(value):
            return value


def phone_values():
    """Valid numbers of several countries, international format (phonenumbers)."""
    out = []
    regions = ["FR", "GB", "DE", "ES", "IT", "BE", "CH", "US", "NL", "SE"]
    while len(out) < PER_TYPE:
        region = regions[len(out) % len(regions)]
        ex = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        national = str(ex.national_number)
        for _ in range(200):
            cand = national[:2] + digits(len(national) - 2)
            num = phonenumbers.parse("+" + str(ex.country_code) + cand)
            if phonenumbers.is_valid_number(num):
                out.append(phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
                break
    return out


def main() -> int:
    rows: list[tuple[str, str, str]] = []

    def add(typ, gen, printer, is_valid, compact_of=lambda x: x, lookalikes=True):
        for i in range(PER_TYPE):
            v = gen()
            ctx = i % 3 == 0
            rows.append((typ, "valid-context" if ctx else "valid", sentence(printer(v), ctx, typ)))
        if not lookalikes:
            return
        for i in range(PER_TYPE):
            v = gen()
            bad = mutate(compact_of(v), is_valid)
            if bad is None:
                continue
            ctx = i % 2 == 0
            rows.append((typ, "lookalike-context" if ctx else "lookalike", sentence(printer(bad), ctx, typ)))

    add("FR_NIR", gen_nir, print_nir, nir.is_valid)
    add("CREDIT_CARD", gen_card, print_card, lambda s: luhn.is_valid(s))
    for i in range(PER_TYPE // 2):
        v = gen_card_off_range()
        rows.append(("CREDIT_CARD", "lookalike", sentence(v, False, "CREDIT_CARD")))
    # IBAN: every country of the registry once, then the rest at random; some followed by
    # a short token (` BIC`, ` EUR`, ` 12`).
    ibans = [gen_iban(cc) for cc, _ in COUNTRIES]
    for i, v in enumerate(ibans):
        ctx = i % 3 == 0
        tail = TAILS[i % len(TAILS)]
        s = sentence(print_iban(v), ctx, "IBAN")
        s = s.replace("]]", "]]" + tail, 1)
        rows.append(("IBAN", "valid-context" if ctx else "valid", s))
    for i in range(PER_TYPE):
        v = gen_iban()
        bad = mutate(v[2:], lambda s, cc=v[:2]: valid_iban_no_country(cc + s))
        if bad is None:
            continue
        ctx = i % 2 == 0
        rows.append(("IBAN", "lookalike-context" if ctx else "lookalike", sentence(print_iban(v[:2] + bad), ctx, "IBAN")))
    # SIREN: the canonical 3-3-3 grouping without context, or any form after a label.
    add("FR_SIREN", gen_siren, lambda v: group(v, [3, 3, 3]), siren.is_valid)
    # SIRET: the canonical 3-3-3-5 grouping; an unbroken run of 14 digits only after a
    # label (a bare one is as likely a timestamp or an order number).
    add("FR_SIRET", gen_siret, lambda v: group(v, [3, 3, 3, 5]), siret.is_valid)
    add("FR_VAT", gen_vat, lambda v: v if rng.random() < 0.5 else group(v, [2, 2, 3, 3, 3]), tva.is_valid,
        compact_of=lambda v: v)
    for v in phone_values():
        rows.append(("PHONE", "valid", sentence(v, False, "PHONE")))

    with OUT.open("w", encoding="utf-8") as f:
        f.write("# Generated by scripts/gen_identifier_oracle.py (python-stdnum, phonenumbers); do not edit.\n")
        for typ, variant, s in rows:
            assert "\t" not in s and "\n" not in s
            f.write(f"{typ}\t{variant}\t{s}\n")
    print(f"{len(rows)} lines written to {OUT.relative_to(OUT.parent.parent.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
