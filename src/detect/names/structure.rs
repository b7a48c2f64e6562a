//! Names read from the structure around a name already found, or from a kinship word.
//!
//! Three general shapes of text name people without any list knowing them:
//!
//! - an enumeration whose other members are names: `Jean Dupont, Wojtek
//!   Zabrzeski and Ingrid Sólrúnardóttir` (one found by a rule makes the others names),
//!   `They had three: Brannoc, Mary and Anna`;
//! - a dialogue whose other speakers are names: lines that open with `Word:` and some
//!   speech, one of whose speakers a rule found (`Ubbo: Where were you?\nNicole: …`);
//! - a kinship word right before a capitalised word: `my kid Brannoc`, `her son
//!   Eadric`, `one brother, Wendelin`.
//!
//! A member is taken only when its words are capitalised, none is a stop word, an
//! honorific, a word that names things (`Street`, `Orchestra`) or a place and nothing
//! else, and no other rule found it. A member of an enumeration must end at a separator
//! (`Date de naissance`, `Tel :` are no members) and not be written with an initial
//! (`SMITH J., R. JONES, H. BROWN`: such lists are mostly references to
//! published authors); half the members must be names a rule found, or one found on its
//! own by a strong rule (a full name, an honorific) when the member has two words or
//! more. An enumeration right after a house number and a street word (`14, rue Lucie
//! Marchal, Vernouillet`) is an address. Findings are `person.propagated` (they carry what a rule found
//! to its neighbours). Pure.

use super::{
    Candidate, FIRST, HONORIFIC, How, LABEL, LAST, MAX_NAME_WORDS, NOT_BEFORE, Names, PARTICLE,
    PLACE, RuleMeta, STOP, Shape, Tok,
};

/// Kinship and closeness words after which a capitalised word is a person's name.
const KIN: &[&str] = &[
    "son",
    "daughter",
    "kid",
    "child",
    "brother",
    "sister",
    "wife",
    "husband",
    "mother",
    "father",
    "mom",
    "mum",
    "dad",
    "uncle",
    "aunt",
    "cousin",
    "nephew",
    "niece",
    "grandson",
    "granddaughter",
    "grandmother",
    "grandfather",
    "fiance",
    "fiancee",
    "fils",
    "fille",
    "frere",
    "soeur",
    "mari",
    "epouse",
    "mere",
    "pere",
    "oncle",
    "tante",
    "neveu",
];

/// One run of capitalised words (`Teofil Lenartowicz`): token range `a..b`.
#[derive(Clone, Copy)]
struct Run {
    a: usize,
    b: usize,
}

impl Names {
    /// Names from enumerations, dialogues and kinship words (module docs).
    pub(super) fn around_found_names(
        &self,
        text: &str,
        toks: &[Tok<'_>],
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        let runs = self.cap_runs(text, toks);
        if runs.is_empty() {
            return;
        }
        // Person findings a neighbour may lean on: every person rule but the surname
        // guess and the statistical layer.
        let weak = [self.meta(How::Surname), self.meta(How::Model)];
        let person =
            |c: &Candidate| c.entity.as_ref().unwrap_or(&metas[c.meta].entity).as_str() == "PERSON";
        let spans = |keep: &dyn Fn(&Candidate) -> bool| {
            Spans::new(out.iter().filter(|c| keep(c)).map(|c| (c.start, c.end)))
        };
        let seeds = spans(&|c| person(c) && !weak.contains(&c.meta));
        let strong_seeds =
            spans(&|c| person(c) && !weak.contains(&c.meta) && metas[c.meta].priority >= 55);
        let any_person = spans(&|c| person(c));
        // A run a person rule touched, or another rule found whole (`London`).
        let others = spans(&|c| !person(c));
        let span = |r: &Run| (toks[r.a].s, toks[r.b - 1].e);
        let seeded = |r: &Run| {
            let (s, e) = span(r);
            seeds.covers(s, e)
        };
        let touched = |r: &Run| {
            let (s, e) = span(r);
            any_person.overlaps(s, e) || others.covers(s, e)
        };
        let mut found: Vec<(usize, usize)> = Vec::new();

        // Enumerations: runs separated by `,`, `and`, `et`, `&`.
        let mut i = 0;
        while i < runs.len() {
            let mut j = i + 1;
            while j < runs.len() && list_gap(&text[span(&runs[j - 1]).1..span(&runs[j]).0]) {
                j += 1;
            }
            let list = &runs[i..j];
            if list.len() >= 2 {
                let n_seeded = list.iter().filter(|r| seeded(r)).count();
                let strong = list.iter().any(|r| {
                    let (s, e) = span(r);
                    strong_seeds.covers(s, e)
                });
                let after_article = {
                    let a = list[0].a;
                    a > 0 && toks[a - 1].flags & super::ARTICLE != 0
                };
                // Half the members names, or one a rule found on its own for names of
                // two words or more (`Jean Dupont, Wojtek Zabrzeski`).
                let half = n_seeded >= 2 && 2 * n_seeded >= list.len();
                if (half || (n_seeded >= 1 && strong))
                    && !after_article
                    && !after_street(text, span(&list[0]).0)
                {
                    for r in list {
                        let ok = half || r.b - r.a >= 2;
                        if ok
                            && !touched(r)
                            && self.may_be_name(toks, r)
                            && ends_member(text, span(r).1)
                            && !toks[r.a..r.b].iter().any(|t| t.shape == Shape::Initial)
                            && !(r.b - r.a == 1
                                && toks[r.a].flags & (FIRST | LAST) == 0
                                && super::sentence_start(text, toks[r.a].s))
                        {
                            found.push(span(r));
                        }
                    }
                }
            }
            i = j;
        }

        // Dialogues: `Word: speech` at line starts.
        let speakers: Vec<&Run> = runs
            .iter()
            .filter(|r| self.is_speaker(text, toks, r))
            .collect();
        if speakers.len() >= 2 && speakers.iter().any(|r| seeded(r)) {
            for r in speakers {
                if !touched(r) && self.may_be_name(toks, r) {
                    found.push(span(r));
                }
            }
        }

        // Kinship words: `my kid Brannoc`, `one brother, Wendelin`.
        for r in &runs {
            if r.a == 0 {
                continue;
            }
            let kin = &toks[r.a - 1];
            let gap = text[kin.e..toks[r.a].s].trim_matches([' ', '\t']);
            if kin.shape == Shape::Lower
                && (gap.is_empty() || gap == ",")
                && KIN.contains(&kin.folded)
                && !touched(r)
                && self.may_be_name(toks, r)
            {
                found.push(span(r));
            }
        }

        found.sort_unstable();
        found.dedup();
        for (s, e) in found {
            self.push(out, metas, How::Propagated, s, e);
        }
    }

    /// Maximal runs of capitalised or upper-case words one name long at most, joined by
    /// spaces on one line (a lower-case particle inside: `Eduardo de Souza`).
    fn cap_runs(&self, text: &str, toks: &[Tok<'_>]) -> Vec<Run> {
        let cap = |t: &Tok<'_>| matches!(t.shape, Shape::Cap | Shape::Upper | Shape::Initial);
        let mut runs = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            if !cap(&toks[i]) {
                i += 1;
                continue;
            }
            let mut b = i + 1;
            while b < toks.len()
                && super::joined(text, &toks[b - 1], &toks[b])
                && (cap(&toks[b])
                    || (toks[b].shape == Shape::Lower
                        && toks[b].flags & PARTICLE != 0
                        && b + 1 < toks.len()
                        && cap(&toks[b + 1])))
            {
                b += 1;
            }
            if b - i <= MAX_NAME_WORDS {
                runs.push(Run { a: i, b });
            }
            i = b;
        }
        runs
    }

    /// A run that may be a name: its ends are no stop words, no word in it names a
    /// thing, it is not an upper-case acronym alone, nor a place and nothing else.
    fn may_be_name(&self, toks: &[Tok<'_>], r: &Run) -> bool {
        let words = &toks[r.a..r.b];
        let first = &words[0];
        let last = &words[words.len() - 1];
        if first.flags & STOP != 0 || last.flags & STOP != 0 {
            return false;
        }
        if words
            .iter()
            .any(|t| t.flags & (NOT_BEFORE | LABEL | HONORIFIC) != 0 || t.shape == Shape::Other)
        {
            return false;
        }
        if words.len() == 1 {
            let t = first;
            if t.shape != Shape::Cap || t.e - t.s < 3 {
                return false;
            }
            if t.flags & PLACE != 0 && t.flags & FIRST == 0 {
                return false;
            }
        }
        true
    }

    /// `Ubbo: Where were you?`: a run alone at the start of a line, then a colon and speech
    /// (a letter or a quote, not a number: `Mobile: 0612…` is a label).
    fn is_speaker(&self, text: &str, toks: &[Tok<'_>], r: &Run) -> bool {
        let (s, e) = (toks[r.a].s, toks[r.b - 1].e);
        let before = text[..s].trim_end_matches([' ', '\t']);
        if !(before.is_empty() || before.ends_with(['\n', '\r'])) {
            return false;
        }
        let Some(rest) = text[e..].trim_start_matches([' ', '\t']).strip_prefix(':') else {
            return false;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        rest.starts_with(|c: char| c.is_alphabetic() || matches!(c, '"' | '“' | '«' | '\''))
    }
}

/// Spans sorted by start, with the furthest end reached so far: whether one covers or
/// overlaps a range in a binary search, so that a long text stays linear.
struct Spans {
    starts: Vec<usize>,
    reach: Vec<usize>,
}

impl Spans {
    fn new(spans: impl Iterator<Item = (usize, usize)>) -> Spans {
        let mut v: Vec<(usize, usize)> = spans.collect();
        v.sort_unstable();
        let mut furthest = 0;
        let reach = v
            .iter()
            .map(|&(_, e)| {
                furthest = furthest.max(e);
                furthest
            })
            .collect();
        Spans {
            starts: v.iter().map(|&(s, _)| s).collect(),
            reach,
        }
    }

    /// One span starts at or before `s` and ends at or after `e`.
    fn covers(&self, s: usize, e: usize) -> bool {
        let n = self.starts.partition_point(|&x| x <= s);
        n > 0 && self.reach[n - 1] >= e
    }

    /// One span shares a byte with `s..e`.
    fn overlaps(&self, s: usize, e: usize) -> bool {
        let n = self.starts.partition_point(|&x| x < e);
        n > 0 && self.reach[n - 1] > s
    }
}

/// What separates two members of an enumeration: `, `, ` and `, `, and `, ` & `, ` et `.
fn list_gap(gap: &str) -> bool {
    if gap.contains('\n') {
        return false;
    }
    let g = gap.trim();
    matches!(g, "," | "and" | ", and" | "&" | "et" | ", et") && gap.len() <= 7
}

/// A member of an enumeration ends at a separator, a possessive or the end of its line,
/// not before more words (`Date de naissance`, `Secretary of`) nor a colon (`Tel :`).
fn ends_member(text: &str, end: usize) -> bool {
    let after = text[end..].trim_start_matches([' ', '\t']);
    after.is_empty()
        || after.starts_with([
            ',', '.', ';', ')', '(', '\n', '\r', '\'', '’', '"', '?', '!',
        ])
        || after.starts_with("and ")
        || after.starts_with("et ")
}

/// `14, rue Lucie Marchal, Vernouillet`: an enumeration that opens with a street named
/// after a person, after a house number, is an address.
fn after_street(text: &str, start: usize) -> bool {
    let before = text[..start]
        .trim_end_matches([' ', '\t'])
        .trim_end_matches(char::is_lowercase)
        .trim_end_matches([' ', '\t'])
        .trim_end_matches(',')
        .trim_end_matches([' ', '\t']);
    before.ends_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use crate::detect::Detector;

    fn persons(text: &str) -> Vec<&str> {
        Detector::builtin()
            .scan(text)
            .into_iter()
            .filter(|f| f.entity.as_str() == "PERSON")
            .map(|f| &text[f.start..f.end])
            .collect()
    }

    #[test]
    fn an_enumeration_with_a_name_found_makes_its_other_members_names() {
        let text = "Speakers: Jean Dupont, Wojtek Zabrzeski and Ingrid Sólrúnardóttir.";
        assert_eq!(
            persons(text),
            ["Jean Dupont", "Wojtek Zabrzeski", "Ingrid Sólrúnardóttir"]
        );
    }

    #[test]
    fn a_speaker_of_a_dialogue_is_a_name_when_another_speaker_is_one() {
        let text = "Ubbo: Where were you?\nNicole: At home.";
        assert_eq!(persons(text), ["Ubbo", "Nicole"]);
    }

    #[test]
    fn a_capitalised_word_after_a_kinship_word_is_a_name() {
        assert_eq!(
            persons("I would like to add my son Brannoc to the policy."),
            ["Brannoc"]
        );
        assert_eq!(
            persons("She had one brother, Brannoc, who died young."),
            ["Brannoc"]
        );
    }

    #[test]
    fn labels_places_and_an_address_beside_a_name_stay_what_they_are() {
        let text = "Patient : Henri VAUTRIN, Téléphone : 01 45 67 89 10.";
        assert!(!persons(text).contains(&"Téléphone"), "{:?}", persons(text));
        let text = "Envoyé au 14, rue Lucie Marchal, Vernouillet, Tel : 01 02 03 04 05";
        assert!(
            !persons(text).contains(&"Vernouillet"),
            "{:?}",
            persons(text)
        );
        let text = "Ubbo: see you.\nNicole: fine.\nMobile: 0612 44 07 19";
        assert!(!persons(text).contains(&"Mobile"), "{:?}", persons(text));
        let text = "Nicole Martin, Jean Dupont, the Pretenders and London.";
        let found = persons(text);
        assert!(
            !found.contains(&"London") && !found.contains(&"Pretenders"),
            "{found:?}"
        );
    }
}
