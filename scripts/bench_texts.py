#!/usr/bin/env python3
"""Writes the detector benchmark's 64 KiB texts to files, for tools that read files
(callgrind over `examples/scan_repeat.rs`, docs/PERFORMANCE.md): the same generator as
`large()` in benches/detect.rs (a 64-bit LCG drawing the fixture's blocks, placeholders
filled), ported line for line.

    python3 scripts/bench_texts.py code OUT.txt     # scan/*/code_logs_64k
    python3 scripts/bench_texts.py prose OUT.txt    # scan/*/prose_64k
"""
import os
import sys

LARGE_BYTES = 64 * 1024
MASK = (1 << 64) - 1
FIXTURES = {"code": ("code.txt", 0x5EED_0002), "prose": ("prose.txt", 0x5EED_0001)}
MONTHS = ["janvier", "mars", "mai", "juin", "octobre", "décembre"]


class Lcg:
    def __init__(self, seed):
        self.state = seed

    def next(self):
        self.state = (self.state * 6_364_136_223_846_793_005 + 1_442_695_040_888_963_407) & MASK
        return self.state >> 33

    def below(self, n):
        return self.next() % n


def fill(block, rng):
    """The block with its `{placeholders}` filled; other braces are code, kept."""
    out = []
    rest = block
    while True:
        open_at = rest.find("{")
        if open_at < 0:
            break
        length = rest[open_at:].find("}")
        if length < 0:
            break
        key = rest[open_at + 1 : open_at + length]
        value = None
        if key == "n":
            value = str(1 + rng.below(9_999))
        elif key == "pct":
            value = str(1 + rng.below(60))
        elif key == "port":
            value = str(1_024 + rng.below(60_000))
        elif key == "dd":
            value = "%02d" % (1 + rng.below(28))
        elif key in ("mm", "ss"):
            value = "%02d" % rng.below(60)
        elif key == "ms":
            value = "%03d" % rng.below(1_000)
        elif key in ("b", "c"):
            value = str(rng.below(256))
        elif key == "date":
            month = MONTHS[rng.below(len(MONTHS))]
            value = "%d %s" % (1 + rng.below(28), month)
        if value is None:
            out.append(rest[: open_at + 1])
            rest = rest[open_at + 1 :]
        else:
            out.append(rest[:open_at])
            out.append(value)
            rest = rest[open_at + length + 1 :]
    out.append(rest)
    return "".join(out)


def large(fixture, seed):
    blocks = [b.rstrip() for b in fixture.split("\n\n")]
    blocks = [b for b in blocks if b]
    rng = Lcg(seed)
    text = b""
    while len(text) < LARGE_BYTES:
        block = blocks[rng.below(len(blocks))]
        text += fill(block, rng).encode() + b"\n\n"
    cut = LARGE_BYTES
    while (text[cut] & 0xC0) == 0x80:
        cut -= 1
    line_end = text[:cut].rfind(b"\n")
    return text[: line_end + 1] if line_end >= 0 else text[:cut]


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in FIXTURES:
        sys.exit(__doc__)
    name, seed = FIXTURES[sys.argv[1]]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with open(os.path.join(root, "benches", "fixtures", name), encoding="utf-8") as f:
        fixture = f.read()
    with open(sys.argv[2], "wb") as out:
        out.write(large(fixture, seed))


if __name__ == "__main__":
    main()
