//! \[pure\] The wording of the HTML and Markdown reports, in English and in French: one
//! table per language ([`EN`], [`FR`]) that both renderers read, so they say the same
//! thing. The JSON report has no wording (its keys stay English in every language).
//!
//! French follows French typography: a no-break space before `:` and inside « »,
//! a narrow no-break space before `;`, the typographic apostrophe, thousands grouped by
//! a narrow no-break space and a decimal comma. Dates and times stay RFC 3339 (ISO 8601)
//! in both languages. What comes from the records (rule ids, entities, principals,
//! codes) is shown as it is; the fixed vocabularies of decisions, actions, natures and
//! sensitivities are translated with their code in parentheses: `bloquée (blocked)`.

use super::{Energy, ObservedGroup, Period, Report, Tokens, format_energy};

/// The language of the HTML and Markdown reports (`--lang`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Fr,
}

impl Lang {
    /// The BCP 47 code, for `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    pub(crate) fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }
}

/// The request groups, in order: (anchor id, dimension key); titles in [`Words`].
pub const GROUPS: [(&str, &str); 9] = [
    ("by-day", "day"),
    ("by-month", "month"),
    ("by-decision", "decision"),
    ("by-principal", "principal"),
    ("by-team", "team"),
    ("by-provider", "provider"),
    ("by-jurisdiction", "jurisdiction"),
    ("by-model", "model"),
    ("by-rule", "rule"),
];

/// The finding tables, in order: (anchor id, dimension key); titles in [`Words`].
pub const FINDINGS: [(&str, &str); 5] = [
    ("findings-entity", "entity"),
    ("findings-nature", "nature"),
    ("findings-sensitivity", "sensitivity"),
    ("findings-action", "action"),
    ("findings-rule", "rule"),
];

/// The tables of the observe-mode section, in order: (anchor id, dimension key); titles
/// in [`Words`].
pub const OBSERVED: [(&str, &str); 4] = [
    ("observed-entity", "entity"),
    ("observed-team", "team"),
    ("observed-provider", "provider"),
    ("observed-rule", "rule"),
];

/// No-break space (before `:`, inside « »).
const NBSP: char = '\u{a0}';
/// Narrow no-break space (before `;`, between thousands).
const NNBSP: char = '\u{202f}';

/// Every fixed string of the HTML and Markdown reports in one language.
pub struct Words {
    pub lang: Lang,
    pub not_reported: &'static str,
    pub no_team: &'static str,
    pub unreadable_time: &'static str,
    /// Titles of [`GROUPS`], same order.
    pub group_titles: [&'static str; 9],
    /// Titles of [`FINDINGS`], same order.
    pub finding_titles: [&'static str; 5],
    pub report_title: &'static str,
    pub skip: &'static str,
    pub header: &'static str,
    pub h1: &'static str,
    pub integrity_ok: &'static str,
    pub integrity_bad: &'static str,
    pub integrity_aria: &'static str,
    pub contents: &'static str,
    pub summary: &'static str,
    pub chart: &'static str,
    pub findings: &'static str,
    pub requests: &'static str,
    pub refusals: &'static str,
    pub routes: &'static str,
    pub repeated: &'static str,
    pub provenance: &'static str,
    pub s_requests: &'static str,
    pub s_forwarded: &'static str,
    pub s_routed: &'static str,
    pub s_blocked: &'static str,
    pub s_refused: &'static str,
    pub s_decision_not_reported: &'static str,
    pub s_findings: &'static str,
    pub s_bytes: &'static str,
    pub s_tokens: &'static str,
    pub s_energy: &'static str,
    pub s_outside: &'static str,
    pub s_unreadable: &'static str,
    pub s_skipped: &'static str,
    /// The Markdown summary table's headers.
    pub figure_value: [&'static str; 2],
    pub no_request: &'static str,
    pub none: &'static str,
    pub chart_title: &'static str,
    /// Columns after the first of a request group table.
    pub group_heads: [&'static str; 11],
    /// Columns after the first of a finding table.
    pub finding_heads: [&'static str; 4],
    pub findings_intro: &'static str,
    pub refusals_intro: &'static str,
    pub refusals_caption: &'static str,
    pub refusal_heads: [&'static str; 5],
    pub routes_caption: &'static str,
    pub route_heads: [&'static str; 4],
    pub repeated_intro: &'static str,
    pub no_repeated: &'static str,
    pub repeated_caption: &'static str,
    pub repeated_heads: [&'static str; 5],
    pub versions_caption: &'static str,
    pub version_head: &'static str,
    pub instances_caption: &'static str,
    pub instance_head: &'static str,
    /// The chains table: caption, heads (instance, chain, records, first, last, end,
    /// state), and its cells' words.
    pub chains_caption: &'static str,
    pub chain_heads: [&'static str; 7],
    pub chain_closed: &'static str,
    pub chain_open: &'static str,
    pub chain_verified: &'static str,
    pub chain_broken: &'static str,
    pub footer: &'static str,
    /// The observe-mode section: title, what it means, when empty.
    pub observed: &'static str,
    pub observed_intro: &'static str,
    pub no_observed: &'static str,
    /// Titles of [`OBSERVED`], same order.
    pub observed_titles: [&'static str; 4],
    /// Columns after the first of an observed table.
    pub observed_heads: [&'static str; 7],
}

pub const EN: Words = Words {
    lang: Lang::En,
    not_reported: "not reported",
    no_team: "no team",
    unreadable_time: "unreadable time",
    group_titles: [
        "Requests per day (UTC)",
        "Requests per month (UTC)",
        "Requests per decision",
        "Requests per principal",
        "Requests per team",
        "Requests per provider",
        "Requests per jurisdiction",
        "Requests per model",
        "Requests per deciding policy rule",
    ],
    finding_titles: [
        "Findings per entity",
        "Findings per nature",
        "Findings per sensitivity",
        "Findings per policy action",
        "Findings per policy rule",
    ],
    report_title: "Paravent audit report",
    skip: "Skip to the report",
    header: "Paravent · audit trail",
    h1: "Audit report",
    integrity_ok: "Integrity",
    integrity_bad: "Warning",
    integrity_aria: "Chain integrity",
    contents: "Contents",
    summary: "Summary",
    chart: "Requests over time",
    findings: "Findings",
    requests: "Requests",
    refusals: "Blocked and refused requests",
    routes: "Routed requests",
    repeated: "Values sent more than once",
    provenance: "Policy versions and instances",
    s_requests: "Requests",
    s_forwarded: "Forwarded",
    s_routed: "Routed",
    s_blocked: "Blocked by the policy",
    s_refused: "Refused (other reasons)",
    s_decision_not_reported: "Decision not reported",
    s_findings: "Findings",
    s_bytes: "Bytes in / out",
    s_tokens: "Tokens in / out",
    s_energy: "Estimated energy",
    s_outside: "Request records outside the period",
    s_unreadable: "Lines that are not audit records",
    s_skipped: "Files outside the period, not read (their first and last records checked)",
    figure_value: ["Figure", "Value"],
    no_request: "No request in this period.",
    none: "None in this period.",
    chart_title: "Requests per day",
    group_heads: [
        "Requests",
        "Forwarded",
        "Routed",
        "Blocked",
        "Refused",
        "Findings",
        "Bytes in",
        "Bytes out",
        "Tokens in",
        "Tokens out",
        "Energy (µWh)",
    ],
    finding_heads: ["Findings", "Requests", "Requests sent", "Requests stopped"],
    findings_intro: "A finding is one value detected in a request. “Requests sent” were forwarded or routed (values pseudonymised, redacted or allowed as the policy said); “requests stopped” were blocked or refused.",
    refusals_intro: "Blocked: refused by the policy. Refused: stopped for another reason (unknown endpoint, invalid body, limits, audit unavailable…). Nothing was sent for either.",
    refusals_caption: "Blocked and refused requests, by reason",
    refusal_heads: [
        "Decision",
        "Refusal code",
        "Rule",
        "Requests",
        "Request ids",
    ],
    routes_caption: "Routed requests: provider asked for, provider used, and the rule",
    route_heads: ["Asked for", "Sent to", "Rule", "Requests"],
    repeated_intro: "Values are compared by their keyed hashes in the records: the report tells that the same value went out in several requests without knowing or showing it.",
    no_repeated: "No value was sent in more than one request in this period.",
    repeated_caption: "Values sent in more than one request, per entity",
    repeated_heads: [
        "Entity",
        "Distinct values sent",
        "Values sent more than once",
        "Requests carrying them",
        "Most requests for one value",
    ],
    versions_caption: "Requests per policy version (BLAKE3 of the configuration)",
    version_head: "Policy version",
    instances_caption: "Requests per Paravent instance",
    instance_head: "Instance",
    observed: "What enforcement would have done",
    observed_intro: "Requests in observe mode were forwarded as the client sent them (counted above as forwarded); their records say what enforcement would have done. Read this before turning enforcement on: a block here is a request that would be refused, a value pseudonymised here is one the provider would no longer see.",
    no_observed: "No request was in observe mode in this period.",
    observed_titles: [
        "What enforcement would have done, per entity found",
        "What enforcement would have done, per team",
        "What enforcement would have done, per provider",
        "What enforcement would have done, per deciding policy rule",
    ],
    observed_heads: [
        "Observed requests",
        "Would forward",
        "Would route",
        "Would block",
        "Would refuse",
        "Values it would pseudonymise",
        "Values it would redact",
    ],
    chains_caption: "Audit chains (one per instance start)",
    chain_heads: [
        "Instance",
        "Chain",
        "Records",
        "First record",
        "Last record",
        "End",
        "Integrity",
    ],
    chain_closed: "closed (graceful stop)",
    chain_open: "open (running, crashed or cut)",
    chain_verified: "verified",
    chain_broken: "NOT verified",
    footer: "Figures are counts from the audit records: no record holds a value, a prompt or a key. Tokens are as the providers reported them; energy is an estimate (see the method in docs/AUDIT.md).",
};

pub const FR: Words = Words {
    lang: Lang::Fr,
    not_reported: "non communiqué",
    no_team: "sans équipe",
    unreadable_time: "horodatage illisible",
    group_titles: [
        "Requêtes par jour (UTC)",
        "Requêtes par mois (UTC)",
        "Requêtes par décision",
        "Requêtes par utilisateur",
        "Requêtes par équipe",
        "Requêtes par fournisseur",
        "Requêtes par juridiction",
        "Requêtes par modèle",
        "Requêtes par règle de la politique ayant décidé",
    ],
    finding_titles: [
        "Détections par entité",
        "Détections par nature",
        "Détections par sensibilité",
        "Détections par action de la politique",
        "Détections par règle de la politique",
    ],
    report_title: "Rapport d’audit Paravent",
    skip: "Aller au rapport",
    header: "Paravent · journal d’audit",
    h1: "Rapport d’audit",
    integrity_ok: "Intégrité",
    integrity_bad: "Avertissement",
    integrity_aria: "Intégrité de la chaîne",
    contents: "Sommaire",
    summary: "Synthèse",
    chart: "Évolution des requêtes",
    findings: "Détections",
    requests: "Requêtes",
    refusals: "Requêtes bloquées et refusées",
    routes: "Requêtes réacheminées",
    repeated: "Valeurs envoyées plusieurs fois",
    provenance: "Versions de la politique et instances",
    s_requests: "Requêtes",
    s_forwarded: "Transmises",
    s_routed: "Réacheminées",
    s_blocked: "Bloquées par la politique",
    s_refused: "Refusées (autres motifs)",
    s_decision_not_reported: "Décision non communiquée",
    s_findings: "Détections",
    s_bytes: "Octets entrants / sortants",
    s_tokens: "Jetons en entrée / en sortie",
    s_energy: "Énergie estimée",
    s_outside: "Enregistrements de requête hors période",
    s_unreadable: "Lignes qui ne sont pas des enregistrements d’audit",
    s_skipped: "Fichiers hors de la période, non lus (premier et dernier enregistrements vérifiés)",
    figure_value: ["Indicateur", "Valeur"],
    no_request: "Aucune requête sur cette période.",
    none: "Aucune sur cette période.",
    chart_title: "Requêtes par jour",
    group_heads: [
        "Requêtes",
        "Transmises",
        "Réacheminées",
        "Bloquées",
        "Refusées",
        "Détections",
        "Octets entrants",
        "Octets sortants",
        "Jetons en entrée",
        "Jetons en sortie",
        "Énergie (µWh)",
    ],
    finding_heads: [
        "Détections",
        "Requêtes",
        "Requêtes envoyées",
        "Requêtes arrêtées",
    ],
    findings_intro: "Une détection est une valeur repérée dans une requête. Les «\u{a0}requêtes envoyées\u{a0}» ont été transmises ou réacheminées (valeurs pseudonymisées, masquées ou laissées telles quelles selon la politique)\u{202f}; les «\u{a0}requêtes arrêtées\u{a0}» ont été bloquées ou refusées.",
    refusals_intro: "Bloquées\u{a0}: refusées par la politique. Refusées\u{a0}: arrêtées pour un autre motif (point d’accès inconnu, corps de requête invalide, limites, audit indisponible…). Dans les deux cas, rien n’a été envoyé.",
    refusals_caption: "Requêtes bloquées et refusées, par motif",
    refusal_heads: [
        "Décision",
        "Code de refus",
        "Règle",
        "Requêtes",
        "Identifiants de requête",
    ],
    routes_caption: "Requêtes réacheminées\u{a0}: fournisseur demandé, fournisseur utilisé et règle",
    route_heads: [
        "Fournisseur demandé",
        "Fournisseur utilisé",
        "Règle",
        "Requêtes",
    ],
    repeated_intro: "Les valeurs sont comparées au moyen des empreintes à clé que contiennent les enregistrements\u{a0}: le rapport établit qu’une même valeur est partie dans plusieurs requêtes sans la connaître ni l’afficher.",
    no_repeated: "Aucune valeur n’a été envoyée dans plus d’une requête sur cette période.",
    repeated_caption: "Valeurs envoyées dans plus d’une requête, par entité",
    repeated_heads: [
        "Entité",
        "Valeurs distinctes envoyées",
        "Valeurs envoyées plusieurs fois",
        "Requêtes les contenant",
        "Maximum de requêtes pour une même valeur",
    ],
    versions_caption: "Requêtes par version de la politique (BLAKE3 de la configuration)",
    version_head: "Version de la politique",
    instances_caption: "Requêtes par instance Paravent",
    instance_head: "Instance",
    observed: "Ce que l’application de la politique aurait fait",
    observed_intro: "Les requêtes en mode observation ont été transmises telles que le client les a envoyées (comptées plus haut comme transmises)\u{202f}; leurs enregistrements disent ce que l’application de la politique aurait fait. À lire avant de l’activer\u{a0}: un blocage ici est une requête qui serait refusée, une valeur pseudonymisée ici est une valeur que le fournisseur ne verrait plus.",
    no_observed: "Aucune requête n’était en mode observation sur cette période.",
    observed_titles: [
        "Ce que la politique aurait fait, par entité détectée",
        "Ce que la politique aurait fait, par équipe",
        "Ce que la politique aurait fait, par fournisseur",
        "Ce que la politique aurait fait, par règle décisive",
    ],
    observed_heads: [
        "Requêtes observées",
        "Transmises",
        "Réacheminées",
        "Bloquées",
        "Refusées",
        "Valeurs à pseudonymiser",
        "Valeurs à masquer",
    ],
    chains_caption: "Chaînes d’audit (une par démarrage d’instance)",
    chain_heads: [
        "Instance",
        "Chaîne",
        "Enregistrements",
        "Premier enregistrement",
        "Dernier enregistrement",
        "Fin",
        "Intégrité",
    ],
    chain_closed: "fermée (arrêt normal)",
    chain_open: "ouverte (en cours, interrompue ou tronquée)",
    chain_verified: "vérifiée",
    chain_broken: "NON vérifiée",
    footer: "Les chiffres sont des décomptes issus des enregistrements d’audit\u{a0}: aucun enregistrement ne contient de valeur, de prompt ni de clé. Les jetons sont ceux communiqués par les fournisseurs\u{202f}; l’énergie est une estimation (méthode décrite dans docs/AUDIT.md).",
};

/// French translations of the chain verification's reasons (src/audit/verify.rs); a
/// reason not listed here is shown as it is.
pub(crate) const REASONS_FR: [(&str, &str); 14] = [
    (
        "not a complete audit record (modified or truncated)",
        "ce n’est pas un enregistrement d’audit complet (modifié ou tronqué)",
    ),
    (
        "not in canonical form (modified)",
        "pas sous forme canonique (modifié)",
    ),
    (
        "hash does not match its content (modified)",
        "l’empreinte ne correspond pas au contenu (modifié)",
    ),
    (
        "the first record is not a chain-start (records or files missing before it)",
        "le premier enregistrement n’est pas un début de chaîne (enregistrements ou fichiers manquants avant lui)",
    ),
    (
        "does not follow the previous record (a record was deleted, inserted or moved)",
        "ne suit pas l’enregistrement précédent (un enregistrement a été supprimé, inséré ou déplacé)",
    ),
    (
        "malformed record (its kind does not match its content)",
        "enregistrement mal formé (son type ne correspond pas à son contenu)",
    ),
    (
        "names another instance than the rest of its chain (records were mixed)",
        "nomme une autre instance que le reste de sa chaîne (des enregistrements ont été mélangés)",
    ),
    (
        "a record after its chain's close (records were inserted)",
        "un enregistrement après la clôture de sa chaîne (des enregistrements ont été insérés)",
    ),
    (
        "repeats records of its chain that another file holds (a duplicated piece)",
        "répète des enregistrements de sa chaîne présents dans un autre fichier (un morceau dupliqué)",
    ),
    (
        "records of its chain are missing before it (a file or part of one is missing)",
        "des enregistrements de sa chaîne manquent avant lui (un fichier ou une partie manque)",
    ),
    (
        "continues a chain that another chain already continues (a copy of the trail was written to)",
        "continue une chaîne qu’une autre chaîne continue déjà (une copie de la piste a été complétée)",
    ),
    (
        "continues a chain that is not in the files (its files are missing, or its last records were removed)",
        "continue une chaîne absente des fichiers (ses fichiers manquent, ou ses derniers enregistrements ont été supprimés)",
    ),
    ("no audit record", "aucun enregistrement d’audit"),
    (
        "the checkpoint is not in the chain: records after this one were removed",
        "le point de contrôle n’est pas dans la chaîne\u{a0}: des enregistrements postérieurs à celui-ci ont été supprimés",
    ),
];

/// French names of the fixed vocabularies (decisions, actions, natures, sensitivities).
fn term_fr(dimension: &str, code: &str) -> Option<&'static str> {
    Some(match (dimension, code) {
        ("decision", "forwarded") => "transmise",
        ("decision", "routed") => "réacheminée",
        ("decision", "blocked") => "bloquée",
        ("decision", "refused") => "refusée",
        ("action", "pseudonymise") => "pseudonymiser",
        ("action", "redact") => "masquer",
        ("action", "allow") => "laisser passer",
        ("action", "block") => "bloquer",
        ("action", "route") => "réacheminer",
        ("nature", "personal") => "personnelle",
        ("nature", "special-category") => "catégorie particulière",
        ("nature", "financial") => "financière",
        ("nature", "strategic") => "stratégique",
        ("nature", "secret") => "secrète",
        ("nature", "technical") => "technique",
        ("sensitivity", "public") => "publique",
        ("sensitivity", "internal") => "interne",
        ("sensitivity", "confidential") => "confidentielle",
        ("sensitivity", "secret") => "secrète",
        _ => return None,
    })
}

/// `n` and the singular or the plural (French: 0 and 1 take the singular).
fn count(w: &Words, n: u64, one: &str, many: &str) -> String {
    format!("{} {}", w.n(n), if n <= 1 { one } else { many })
}

impl Words {
    /// A dimension's name as a column header.
    pub fn dimension(&self, key: &str) -> &'static str {
        match (self.lang, key) {
            (Lang::En, "day") => "Day",
            (Lang::En, "month") => "Month",
            (Lang::En, "decision") => "Decision",
            (Lang::En, "principal") => "Principal",
            (Lang::En, "team") => "Team",
            (Lang::En, "provider") => "Provider",
            (Lang::En, "jurisdiction") => "Jurisdiction",
            (Lang::En, "model") => "Model",
            (Lang::En, "entity") => "Entity",
            (Lang::En, "nature") => "Nature",
            (Lang::En, "sensitivity") => "Sensitivity",
            (Lang::En, "action") => "Action",
            (Lang::En, _) => "Rule",
            (Lang::Fr, "day") => "Jour",
            (Lang::Fr, "month") => "Mois",
            (Lang::Fr, "decision") => "Décision",
            (Lang::Fr, "principal") => "Utilisateur",
            (Lang::Fr, "team") => "Équipe",
            (Lang::Fr, "provider") => "Fournisseur",
            (Lang::Fr, "jurisdiction") => "Juridiction",
            (Lang::Fr, "model") => "Modèle",
            (Lang::Fr, "entity") => "Entité",
            (Lang::Fr, "nature") => "Nature",
            (Lang::Fr, "sensitivity") => "Sensibilité",
            (Lang::Fr, "action") => "Action",
            (Lang::Fr, _) => "Règle",
        }
    }

    /// What a `null` key means, per dimension.
    pub fn missing(&self, dimension: &str) -> &'static str {
        match dimension {
            "team" => self.no_team,
            "day" | "month" => self.unreadable_time,
            _ => self.not_reported,
        }
    }

    /// A key as readers see it (not yet escaped): in French, a decision, action, nature
    /// or sensitivity is translated, its code in parentheses; anything else as it is.
    pub fn term(&self, dimension: &str, code: &str) -> String {
        match (self.lang, term_fr(dimension, code)) {
            (Lang::Fr, Some(fr)) => format!("{fr} ({code})"),
            _ => code.to_owned(),
        }
    }

    /// An integer: as is in English; in French, thousands grouped by a narrow
    /// no-break space (`12 345`).
    pub fn n(&self, v: u64) -> String {
        let digits = v.to_string();
        if self.lang == Lang::En || digits.len() <= 3 {
            return digits;
        }
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(NNBSP);
            }
            out.push(c);
        }
        out
    }

    /// Energy in a readable unit ([`format_energy`]; decimal comma in French).
    pub fn energy(&self, uwh: u64) -> String {
        let s = format_energy(uwh);
        match self.lang {
            Lang::En => s,
            Lang::Fr => s.replace('.', ","),
        }
    }

    /// The period asked for and the one the requests cover.
    pub fn period(&self, p: &Period) -> String {
        let en = self.lang == Lang::En;
        let asked = match (&p.from, &p.to, en) {
            (None, None, true) => "all records".to_owned(),
            (Some(f), None, true) => format!("from {f}"),
            (None, Some(t), true) => format!("before {t}"),
            (Some(f), Some(t), true) => format!("from {f} to {t} (exclusive)"),
            (None, None, false) => "tous les enregistrements".to_owned(),
            (Some(f), None, false) => format!("à partir du {f}"),
            (None, Some(t), false) => format!("avant le {t}"),
            (Some(f), Some(t), false) => format!("du {f} au {t} (exclu)"),
        };
        match (&p.first_record, &p.last_record, en) {
            (Some(a), Some(b), true) => format!("{asked}; requests from {a} to {b}"),
            (_, _, true) => format!("{asked}; no request"),
            (Some(a), Some(b), false) => format!("{asked}{NNBSP}; requêtes du {a} au {b}"),
            (_, _, false) => format!("{asked}{NNBSP}; aucune requête"),
        }
    }

    /// "Period: …. Generated …." (arguments already escaped).
    pub fn period_line(&self, period: &str, generated: &str) -> String {
        match self.lang {
            Lang::En => format!("Period: {period}. Generated {generated}."),
            Lang::Fr => format!("Période{NBSP}: {period}. Généré le {generated}."),
        }
    }

    /// The colon after a label, with the no-break space French puts before it.
    pub fn colon(&self) -> &'static str {
        match self.lang {
            Lang::En => ":",
            Lang::Fr => "\u{a0}:",
        }
    }

    /// The summary's tokens: totals and how many requests reported them.
    pub fn tokens(&self, t: &Tokens) -> String {
        if t.requests_reported == 0 {
            return self.not_reported.to_owned();
        }
        match self.lang {
            Lang::En => format!(
                "{} / {} ({} requests reported usage, {} did not)",
                t.input_tokens, t.output_tokens, t.requests_reported, t.requests_not_reported
            ),
            Lang::Fr => format!(
                "{} / {} (consommation communiquée pour {}, pas pour {})",
                self.n(t.input_tokens),
                self.n(t.output_tokens),
                count(self, t.requests_reported, "requête", "requêtes"),
                self.n(t.requests_not_reported)
            ),
        }
    }

    /// The summary's energy: readable, exact, and how many requests were estimated.
    pub fn energy_total(&self, e: &Energy) -> String {
        if e.requests_reported == 0 {
            return self.not_reported.to_owned();
        }
        match self.lang {
            Lang::En => format!(
                "{} ({} µWh; {} requests estimated, {} not)",
                self.energy(e.uwh),
                e.uwh,
                e.requests_reported,
                e.requests_not_reported
            ),
            Lang::Fr => format!(
                "{} ({} µWh{NNBSP}; estimée pour {}, pas pour {})",
                self.energy(e.uwh),
                self.n(e.uwh),
                count(self, e.requests_reported, "requête", "requêtes"),
                self.n(e.requests_not_reported)
            ),
        }
    }

    /// The chart's text alternative.
    pub fn chart_alt(&self, days: usize, first: &str, last: &str, max: u64) -> String {
        let table = self.group_titles[0];
        match self.lang {
            Lang::En => format!(
                "Bar chart of requests per UTC day, {days} day(s) from {first} to {last}; the busiest day had {max} request(s); days without requests are drawn at 0. The same figures are in the table “{table}”."
            ),
            Lang::Fr => format!(
                "Diagramme en barres des requêtes par jour UTC, {} du {first} au {last}{NNBSP}; le jour le plus chargé a compté {}{NNBSP}; les jours sans requête sont représentés à 0. Les mêmes chiffres figurent dans le tableau «{NBSP}{table}{NBSP}».",
                count(self, days as u64, "jour", "jours"),
                count(self, max, "requête", "requêtes"),
            ),
        }
    }

    /// The chart's caption: the text before the link, and the link's text.
    pub fn chart_caption(&self, max: u64) -> (String, String) {
        let table = self.group_titles[0];
        match self.lang {
            Lang::En => (
                format!("Requests per UTC day, from 0 to {max}. Figures: "),
                format!("table “{table}”"),
            ),
            Lang::Fr => (
                format!(
                    "Requêtes par jour UTC, de 0 à {}. Chiffres{NBSP}: ",
                    self.n(max)
                ),
                format!("tableau «{NBSP}{table}{NBSP}»"),
            ),
        }
    }

    /// One sentence on every observed request (not escaped).
    pub fn observed_line(&self, g: &ObservedGroup) -> String {
        match self.lang {
            Lang::En => format!(
                "{} in observe mode: enforcement would have forwarded {}, routed {}, blocked {} and refused {}; it would have pseudonymised {} and redacted {}.",
                count(self, g.requests, "request", "requests"),
                self.n(g.would_forward),
                self.n(g.would_route),
                self.n(g.would_block),
                self.n(g.would_refuse),
                count(self, g.pseudonymised, "value", "values"),
                count(self, g.redacted, "value", "values"),
            ),
            Lang::Fr => format!(
                "{} en mode observation{NBSP}: la politique en aurait transmis {}, réacheminé {}, bloqué {} et refusé {}{NNBSP}; elle aurait pseudonymisé {} et masqué {}.",
                count(self, g.requests, "requête", "requêtes"),
                self.n(g.would_forward),
                self.n(g.would_route),
                self.n(g.would_block),
                self.n(g.would_refuse),
                count(self, g.pseudonymised, "valeur", "valeurs"),
                count(self, g.redacted, "valeur", "valeurs"),
            ),
        }
    }

    /// After the request ids shown, when there are more.
    pub fn more_ids(&self, more: usize) -> String {
        match self.lang {
            Lang::En => format!(" and {more} more (the first 1,000 in the JSON report)"),
            Lang::Fr => format!(
                " et {} autres (les 1 000 premiers dans le rapport JSON)",
                self.n(more as u64)
            ),
        }
    }

    /// "Files, oldest first: …." (the list already escaped).
    pub fn files(&self, list: &str) -> String {
        match self.lang {
            Lang::En => format!("Files, oldest first: {list}."),
            Lang::Fr => format!("Fichiers, du plus ancien au plus récent{NBSP}: {list}."),
        }
    }

    /// One line on the chain's state, for a banner (not escaped).
    pub fn integrity_line(&self, r: &Report) -> String {
        let i = &r.integrity;
        let hash = i.last_hash.as_deref().unwrap_or("-");
        let id = |b: &super::BadRecordInfo| b.request_id.clone().unwrap_or_else(|| "-".into());
        match (&i.first_bad, self.lang) {
            (None, Lang::En) => format!(
                "Chain verified: {} records in {} chain start(s); last hash {hash}{}.",
                i.records.unwrap_or(0),
                i.chains.unwrap_or(0),
                if i.checkpoint_given.is_some() {
                    "; the given checkpoint is in the chain"
                } else {
                    ""
                }
            ),
            (None, Lang::Fr) => format!(
                "Chaîne vérifiée{NBSP}: {} en {}{NNBSP}; dernière empreinte {hash}{}.",
                count(
                    self,
                    i.records.unwrap_or(0),
                    "enregistrement",
                    "enregistrements"
                ),
                count(
                    self,
                    i.chains.unwrap_or(0),
                    "début de chaîne",
                    "débuts de chaîne"
                ),
                if i.checkpoint_given.is_some() {
                    "\u{202f}; le point de contrôle fourni figure dans la chaîne"
                } else {
                    ""
                }
            ),
            (Some(b), Lang::En) => format!(
                "Chain NOT verified: the first bad record is {}:{} (request {}): {}. The figures below may include altered records and miss deleted ones.",
                b.file,
                b.line,
                id(b),
                b.reason
            ),
            (Some(b), Lang::Fr) => format!(
                "Chaîne NON vérifiée{NBSP}: le premier enregistrement invalide est {}:{} (requête {}){NBSP}: {}. Les chiffres ci-dessous peuvent inclure des enregistrements modifiés et omettre des enregistrements supprimés.",
                b.file,
                b.line,
                id(b),
                reason_fr(&b.reason)
            ),
        }
    }
}

/// A verification reason in French (as it is when unknown).
fn reason_fr(reason: &str) -> String {
    if let Some((_, fr)) = REASONS_FR.iter().find(|(en, _)| *en == reason) {
        return (*fr).to_owned();
    }
    match reason.strip_prefix("unknown format version ") {
        Some(v) => format!("version de format inconnue {v}"),
        None => reason.to_owned(),
    }
}

/// The wording of the "Evidence" section (src/audit/report/evidence.rs), one table per
/// language like [`Words`]: titles, the criteria's topics, the sources (record fields,
/// shown as code) and the labels of the figures.
pub struct EvidenceWords {
    pub title: &'static str,
    pub intro: &'static str,
    pub caption: &'static str,
    /// Criterion, topic, figures, source.
    pub heads: [&'static str; 4],
    pub no_data: &'static str,
    /// Topics (the second column), in the order of the rows.
    pub t_sovereignty: &'static str,
    pub t_terms: &'static str,
    pub t_eu_routes: &'static str,
    pub t_energy: &'static str,
    pub t_leaks: &'static str,
    pub t_classification: &'static str,
    pub t_pseudonymisation: &'static str,
    pub t_risk: &'static str,
    pub t_governance: &'static str,
    pub t_settings: &'static str,
    pub t_accessibility: &'static str,
    pub t_assistants: &'static str,
    pub t_records: &'static str,
    pub t_checkpoints: &'static str,
    pub t_cannot: &'static str,
    /// Sources (the fourth column); field names stay as they are in the records.
    pub s_sovereignty: &'static str,
    pub s_terms: &'static str,
    pub s_eu_routes: &'static str,
    pub s_energy: &'static str,
    pub s_leaks: &'static str,
    pub s_classification: &'static str,
    pub s_pseudonymisation: &'static str,
    pub s_risk: &'static str,
    pub s_governance: &'static str,
    pub s_settings: &'static str,
    pub s_accessibility: &'static str,
    pub s_assistants: &'static str,
    pub s_records: &'static str,
    pub s_checkpoints: &'static str,
    pub s_cannot: &'static str,
    /// Figures' labels.
    pub requests_sent: &'static str,
    pub nature: &'static str,
    pub sensitivity: &'static str,
    pub findings: &'static str,
    pub class_eu: &'static str,
    pub class_us: &'static str,
    pub class_local: &'static str,
    pub class_other: &'static str,
    pub providers_all_declared: &'static str,
    pub providers_some_missing: &'static str,
    pub providers_none_declared: &'static str,
    pub all_declared: &'static str,
    pub nothing_declared: &'static str,
    pub missing: &'static str,
    pub requests: &'static str,
    pub energy_total: &'static str,
    pub per_provider: &'static str,
    pub per_model: &'static str,
    pub with_leaks: &'static str,
    pub redacted: &'static str,
    pub not_redacted: &'static str,
    pub leaked_values: &'static str,
    pub assessed: &'static str,
    pub sent_not_assessed: &'static str,
    pub by_level: &'static str,
    pub by_action: &'static str,
    pub persons: &'static str,
    pub quasi: &'static str,
    pub with_settings: &'static str,
    pub accessibility: &'static str,
    pub owner: &'static str,
    pub purpose: &'static str,
    pub blocked: &'static str,
    pub without_assistant: &'static str,
    pub checkpoint_records: &'static str,
    pub signed_by: &'static str,
    pub chain: &'static str,
    pub signs: &'static str,
    pub unsigned_tail: &'static str,
    pub no_chain_checkpoint: &'static str,
    pub how_to_check: &'static str,
    pub no_checkpoint: &'static str,
    pub no_leak: &'static str,
    pub cannot: &'static str,
    /// The providers' terms table.
    pub terms_title: &'static str,
    pub terms_caption: &'static str,
    pub terms_heads: [&'static str; 8],
    pub yes: &'static str,
    pub no: &'static str,
    pub days: &'static str,
    /// The assistants' table.
    pub assistants_title: &'static str,
    pub assistants_caption: &'static str,
    pub assistants_heads: [&'static str; 9],
    /// The charts: titles, the data tables' captions and the "show the figures" fold.
    pub chart_nature_title: &'static str,
    pub chart_nature_caption: &'static str,
    pub chart_provider_title: &'static str,
    pub chart_provider_caption: &'static str,
    pub figures_fold: &'static str,
    pub day: &'static str,
    pub month: &'static str,
    pub provider: &'static str,
    pub profile: &'static str,
    pub no_findings: &'static str,
}

pub const EVIDENCE_EN: EvidenceWords = EvidenceWords {
    title: "Evidence",
    intro: "What the audit trail evidences, criterion by criterion of the competence framework for responsible use of generative AI (C1 to C7): each figure comes from the records of this period, and the last column says which fields and how it is counted, so that an auditor can recompute it from the trail alone (docs/REPORT.md gives a command per figure). Where the trail holds nothing, the row says so: no figure is estimated.",
    caption: "Evidence per criterion: figures of the period and where they come from",
    heads: ["Criterion", "What", "Figures", "Source in the trail"],
    no_data: "No data in this period.",
    t_sovereignty: "Data protection and sovereignty: where requests went",
    t_terms: "Data protection: the providers' declared terms",
    t_eu_routes: "Sovereignty: routes chosen by Paravent",
    t_energy: "Environmental impact",
    t_leaks: "Leaks in answers",
    t_classification: "Classification by nature and sensitivity",
    t_pseudonymisation: "Pseudonymisation applied",
    t_risk: "Its verified effectiveness: residual re-identification risk",
    t_governance: "Provider governance: terms declared or missing",
    t_settings: "Tool settings enforced to limit collection",
    t_accessibility: "Accessibility of this report",
    t_assistants: "Assistant profiles and their indicators",
    t_records: "Integrity: records verified",
    t_checkpoints: "Integrity: signed checkpoints",
    t_cannot: "What a proxy cannot evidence",
    s_sovereignty: "`jurisdiction` of the request records whose `decision` is `forwarded` or `routed`, counted per value; class EU = EU or a member state's code",
    s_terms: "`governance.providers` (`jurisdiction`, `region`, `retention_days`, `training_use`, `dpa`, `settings`) of the last `chain-start`, `file-start` or `reload` record before the period's end",
    s_eu_routes: "`route_reason` of the request records, counted per value (absent when the client's provider was used as asked)",
    s_energy: "sum of `energy_uwh` of the request records, in all, per `provider` and per `model` (an estimate from `usage` and the per-model table, docs/AUDIT.md)",
    s_leaks: "`answer_leaks` of the request records: requests with values, `redacted` true or false, `by_entity` summed (keyed hashes only); the field is written only when a leak is found",
    s_classification: "`findings_by_nature` and `findings_by_sensitivity` of the request records, summed",
    s_pseudonymisation: "`findings_by_action` of the request records, summed",
    s_risk: "`risk` of the request records: requests per `level` and per `action`, `persons` and `quasi` summed (method: docs/AUDIT.md)",
    s_governance: "`governance.providers` as for the terms above, against the providers of the period's request records (`provider`)",
    s_settings: "`settings` of the request records, requests per `name=effect`; per provider, `governance.providers.*.settings`",
    s_accessibility: "Paravent's test suite (tests/a11y/run.sh), not the trail",
    s_assistants: "`assistant` of the request records, with their `findings_by_nature`, `decision`, `usage` and `energy_uwh`; owner and purpose from `governance.assistants`",
    s_records: "the hash chain (`prev`, `hash`), checked as `paravent audit verify` does",
    s_checkpoints: "records of kind `checkpoint` (`checkpoint`: the signed note; it signs the `seq` records before it)",
    s_cannot: "outside the trail",
    requests_sent: "requests sent",
    nature: "by nature",
    sensitivity: "by sensitivity",
    findings: "findings",
    class_eu: "EU",
    class_us: "US",
    class_local: "local",
    class_other: "other",
    providers_all_declared: "providers declaring every term",
    providers_some_missing: "providers with terms missing",
    providers_none_declared: "providers declaring nothing",
    all_declared: "every term declared",
    nothing_declared: "no term declared",
    missing: "missing",
    requests: "requests",
    energy_total: "estimated energy",
    per_provider: "per provider",
    per_model: "per model",
    with_leaks: "requests whose answer held personal data not in the request",
    redacted: "redacted from the answer",
    not_redacted: "not redacted",
    leaked_values: "leaked values per entity",
    assessed: "requests assessed",
    sent_not_assessed: "requests sent without an assessment",
    by_level: "per level",
    by_action: "actions taken",
    persons: "person references that left (pseudonymised)",
    quasi: "quasi-identifiers left in clear near them",
    with_settings: "requests with settings enforced",
    accessibility: "Targets RGAA 4.1 / WCAG 2.1 level AA. Checked automatically by Paravent's test suite: axe-core (rules wcag2a, wcag2aa, wcag21a, wcag21aa) in headless Chromium on sample reports in English and French, plus the skip link, reflow at 320 px and no external request. Automated checks cover part of the criteria only: this is not a conformity audit, and a manual review (screen reader, 200 % zoom) is still due.",
    owner: "owner",
    purpose: "purpose",
    blocked: "blocked",
    without_assistant: "requests without a profile",
    checkpoint_records: "checkpoint records",
    signed_by: "signed by the key",
    chain: "chain",
    signs: "records signed",
    unsigned_tail: "records after the last checkpoint (not signed yet)",
    no_chain_checkpoint: "no checkpoint",
    how_to_check: "An auditor checks them with the public key alone: `paravent audit verify --key PUBLIC_KEY FILES…` checks each signature and that each checkpoint matches the chain.",
    no_checkpoint: "No signed checkpoint in the files read: the chain can be checked by its hashes (`paravent audit verify`), not against a key.",
    no_leak: "No leak recorded in this period (the field is written only when a leak is found).",
    cannot: "The quality of the prompts, whether the answers are true (fact checking), bias in the answers, and whether people read the answers critically before using them: a proxy sees what data flows where, not how people judge what comes back. These need other evidence (training, reviews, sampling of uses).",
    terms_title: "Providers' declared terms",
    terms_caption: "Providers' declared terms (last governance record before the period's end) and requests sent to each",
    terms_heads: [
        "Jurisdiction",
        "Region",
        "Retention",
        "Training use",
        "DPA in place",
        "Settings enforced",
        "Requests sent",
        "Terms missing",
    ],
    yes: "yes",
    no: "no",
    days: "days",
    assistants_title: "Assistant profiles",
    assistants_caption: "Assistant profiles: owner, purpose and indicators of the period",
    assistants_heads: [
        "Owner",
        "Purpose",
        "Requests",
        "Blocked",
        "Findings",
        "Findings by nature",
        "Tokens in",
        "Tokens out",
        "Energy (µWh)",
    ],
    chart_nature_title: "Findings by nature over time",
    chart_nature_caption: "Findings by nature over time: figures",
    chart_provider_title: "Decisions by provider",
    chart_provider_caption: "Decisions by provider: figures",
    figures_fold: "Show the figures as a table",
    day: "Day",
    month: "Month",
    provider: "Provider",
    profile: "Profile",
    no_findings: "No finding in this period.",
};

pub const EVIDENCE_FR: EvidenceWords = EvidenceWords {
    title: "Preuves",
    intro: "Ce que le journal d’audit permet de prouver, critère par critère du référentiel de compétences pour un usage responsable de l’IA générative (C1 à C7)\u{a0}: chaque chiffre provient des enregistrements de la période, et la dernière colonne indique de quels champs et comment il est compté, pour qu’un auditeur puisse le recalculer à partir du seul journal (docs/REPORT.md donne une commande par chiffre). Quand le journal ne contient rien, la ligne le dit\u{a0}: aucun chiffre n’est estimé.",
    caption: "Preuves par critère\u{a0}: chiffres de la période et leur provenance",
    heads: ["Critère", "Objet", "Chiffres", "Source dans le journal"],
    no_data: "Aucune donnée sur cette période.",
    t_sovereignty: "Protection des données et souveraineté\u{a0}: destination des requêtes",
    t_terms: "Protection des données\u{a0}: conditions déclarées des fournisseurs",
    t_eu_routes: "Souveraineté\u{a0}: acheminements choisis par Paravent",
    t_energy: "Impact environnemental",
    t_leaks: "Fuites dans les réponses",
    t_classification: "Classification par nature et par sensibilité",
    t_pseudonymisation: "Pseudonymisation appliquée",
    t_risk: "Son efficacité vérifiée\u{a0}: risque résiduel de réidentification",
    t_governance: "Gouvernance des fournisseurs\u{a0}: conditions déclarées ou manquantes",
    t_settings: "Paramètres de l’outil imposés pour limiter la collecte",
    t_accessibility: "Accessibilité de ce rapport",
    t_assistants: "Profils d’assistant et leurs indicateurs",
    t_records: "Intégrité\u{a0}: enregistrements vérifiés",
    t_checkpoints: "Intégrité\u{a0}: points de contrôle signés",
    t_cannot: "Ce qu’un proxy ne peut pas prouver",
    s_sovereignty: "`jurisdiction` des enregistrements de requête dont la `decision` est `forwarded` ou `routed`, comptés par valeur\u{a0}; classe UE = EU ou le code d’un État membre",
    s_terms: "`governance.providers` (`jurisdiction`, `region`, `retention_days`, `training_use`, `dpa`, `settings`) du dernier enregistrement `chain-start`, `file-start` ou `reload` avant la fin de la période",
    s_eu_routes: "`route_reason` des enregistrements de requête, compté par valeur (absent quand le fournisseur demandé par le client a été utilisé)",
    s_energy: "somme des `energy_uwh` des enregistrements de requête, au total, par `provider` et par `model` (estimation à partir de `usage` et de la table par modèle, docs/AUDIT.md)",
    s_leaks: "`answer_leaks` des enregistrements de requête\u{a0}: requêtes concernées, `redacted` vrai ou faux, `by_entity` additionné (empreintes à clé uniquement)\u{a0}; le champ n’est écrit que si une fuite est détectée",
    s_classification: "`findings_by_nature` et `findings_by_sensitivity` des enregistrements de requête, additionnés",
    s_pseudonymisation: "`findings_by_action` des enregistrements de requête, additionnés",
    s_risk: "`risk` des enregistrements de requête\u{a0}: requêtes par `level` et par `action`, `persons` et `quasi` additionnés (méthode\u{a0}: docs/AUDIT.md)",
    s_governance: "`governance.providers` comme pour les conditions ci-dessus, rapproché des fournisseurs des requêtes de la période (`provider`)",
    s_settings: "`settings` des enregistrements de requête, requêtes par `nom=effet`\u{a0}; par fournisseur, `governance.providers.*.settings`",
    s_accessibility: "la suite de tests de Paravent (tests/a11y/run.sh), pas le journal",
    s_assistants: "`assistant` des enregistrements de requête, avec leurs `findings_by_nature`, `decision`, `usage` et `energy_uwh`\u{a0}; responsable et finalité tirés de `governance.assistants`",
    s_records: "la chaîne d’empreintes (`prev`, `hash`), vérifiée comme le fait `paravent audit verify`",
    s_checkpoints: "enregistrements de type `checkpoint` (`checkpoint`\u{a0}: la note signée\u{a0}; elle signe les `seq` enregistrements qui la précèdent)",
    s_cannot: "hors du journal",
    requests_sent: "requêtes envoyées",
    nature: "par nature",
    sensitivity: "par sensibilité",
    findings: "détections",
    class_eu: "UE",
    class_us: "États-Unis",
    class_local: "local",
    class_other: "autre",
    providers_all_declared: "fournisseurs déclarant toutes les conditions",
    providers_some_missing: "fournisseurs dont des conditions manquent",
    providers_none_declared: "fournisseurs ne déclarant rien",
    all_declared: "toutes les conditions déclarées",
    nothing_declared: "aucune condition déclarée",
    missing: "manquent",
    requests: "requêtes",
    energy_total: "énergie estimée",
    per_provider: "par fournisseur",
    per_model: "par modèle",
    with_leaks: "requêtes dont la réponse contenait des données personnelles absentes de la requête",
    redacted: "masquées dans la réponse",
    not_redacted: "non masquées",
    leaked_values: "valeurs divulguées par entité",
    assessed: "requêtes évaluées",
    sent_not_assessed: "requêtes envoyées sans évaluation",
    by_level: "par niveau",
    by_action: "mesures prises",
    persons: "mentions de personnes envoyées (pseudonymisées)",
    quasi: "quasi-identifiants laissés en clair à proximité",
    with_settings: "requêtes avec paramètres imposés",
    accessibility: "Vise le RGAA 4.1 / WCAG 2.1 niveau AA. Vérifié automatiquement par la suite de tests de Paravent\u{a0}: axe-core (règles wcag2a, wcag2aa, wcag21a, wcag21aa) dans Chromium sans interface, sur des rapports d’exemple en anglais et en français, ainsi que le lien d’évitement, la redistribution à 320 px et l’absence de ressource externe. Les contrôles automatiques ne couvrent qu’une partie des critères\u{a0}: ce n’est pas un audit de conformité, et une revue manuelle (lecteur d’écran, zoom à 200 %) reste à faire.",
    owner: "responsable",
    purpose: "finalité",
    blocked: "bloquées",
    without_assistant: "requêtes sans profil",
    checkpoint_records: "enregistrements de point de contrôle",
    signed_by: "signés par la clé",
    chain: "chaîne",
    signs: "enregistrements signés",
    unsigned_tail: "enregistrements après le dernier point de contrôle (pas encore signés)",
    no_chain_checkpoint: "aucun point de contrôle",
    how_to_check: "Un auditeur les vérifie avec la seule clé publique\u{a0}: `paravent audit verify --key CLE_PUBLIQUE FICHIERS…` vérifie chaque signature et que chaque point de contrôle correspond à la chaîne.",
    no_checkpoint: "Aucun point de contrôle signé dans les fichiers lus\u{a0}: la chaîne se vérifie par ses empreintes (`paravent audit verify`), pas avec une clé.",
    no_leak: "Aucune fuite enregistrée sur cette période (le champ n’est écrit que si une fuite est détectée).",
    cannot: "La qualité des prompts, la véracité des réponses (vérification des faits), les biais des réponses, et la lecture critique des réponses par les personnes avant de s’en servir\u{a0}: un proxy voit quelles données vont où, pas comment les personnes jugent ce qui revient. Cela demande d’autres preuves (formations, revues, échantillons d’usages).",
    terms_title: "Conditions déclarées des fournisseurs",
    terms_caption: "Conditions déclarées des fournisseurs (dernier enregistrement de gouvernance avant la fin de la période) et requêtes envoyées à chacun",
    terms_heads: [
        "Juridiction",
        "Région",
        "Conservation",
        "Entraînement sur les données",
        "Contrat de sous-traitance (DPA)",
        "Paramètres imposés",
        "Requêtes envoyées",
        "Conditions manquantes",
    ],
    yes: "oui",
    no: "non",
    days: "jours",
    assistants_title: "Profils d’assistant",
    assistants_caption: "Profils d’assistant\u{a0}: responsable, finalité et indicateurs de la période",
    assistants_heads: [
        "Responsable",
        "Finalité",
        "Requêtes",
        "Bloquées",
        "Détections",
        "Détections par nature",
        "Jetons en entrée",
        "Jetons en sortie",
        "Énergie (µWh)",
    ],
    chart_nature_title: "Détections par nature au fil du temps",
    chart_nature_caption: "Détections par nature au fil du temps\u{a0}: chiffres",
    chart_provider_title: "Décisions par fournisseur",
    chart_provider_caption: "Décisions par fournisseur\u{a0}: chiffres",
    figures_fold: "Afficher les chiffres sous forme de tableau",
    day: "Jour",
    month: "Mois",
    provider: "Fournisseur",
    profile: "Profil",
    no_findings: "Aucune détection sur cette période.",
};

impl Words {
    /// The evidence section's wording in this language.
    pub fn evidence(&self) -> &'static EvidenceWords {
        match self.lang {
            Lang::En => &EVIDENCE_EN,
            Lang::Fr => &EVIDENCE_FR,
        }
    }

    /// `part` of `whole` as a percentage with one decimal (`60.0%`; French `60,0 %`).
    pub fn percent(&self, part: u64, whole: u64) -> String {
        let p = if whole == 0 {
            0.0
        } else {
            part as f64 * 100.0 / whole as f64
        };
        match self.lang {
            Lang::En => format!("{p:.1}%"),
            Lang::Fr => format!("{}{NNBSP}%", format!("{p:.1}").replace('.', ",")),
        }
    }
}

impl Words {
    /// The caption of an evidence chart: its scale, and where its figures are.
    pub fn evidence_caption(&self, title: &str, max: u64) -> String {
        match self.lang {
            Lang::En => format!(
                "{title}: scale from 0 to {}; the figures are in the table below.",
                self.n(max)
            ),
            Lang::Fr => format!(
                "{title}{NBSP}: échelle de 0 à {}{NNBSP}; les chiffres sont dans le tableau ci-dessous.",
                self.n(max)
            ),
        }
    }

    /// The text alternative of the chart of findings by nature over time: per nature,
    /// its total and its busiest bucket (`series`: nature, total, (bucket, count) of
    /// the maximum).
    pub fn nature_chart_alt(
        &self,
        monthly: bool,
        first: &str,
        last: &str,
        series: &[(String, u64, (String, u64))],
    ) -> String {
        let x = self.evidence();
        let parts: Vec<String> = series
            .iter()
            .map(|(nature, total, (peak, max))| match self.lang {
                Lang::En => format!(
                    "{nature} {} in total, at most {} on {peak}",
                    self.n(*total),
                    self.n(*max)
                ),
                Lang::Fr => format!(
                    "{nature}{NBSP}: {} au total, au plus {} le {peak}",
                    self.n(*total),
                    self.n(*max)
                ),
            })
            .collect();
        match self.lang {
            Lang::En => format!(
                "Small bar charts, one row per nature, of findings per UTC {} from {first} to {last}, on one scale; {} without findings are drawn at 0. {}. The same figures are in the table “{}”.",
                if monthly { "month" } else { "day" },
                if monthly { "months" } else { "days" },
                parts.join("; "),
                x.chart_nature_caption
            ),
            Lang::Fr => format!(
                "Petits diagrammes en barres, une ligne par nature, des détections par {} UTC du {first} au {last}, sur une même échelle{NNBSP}; les {} sans détection sont représentés à 0. {}. Les mêmes chiffres figurent dans le tableau «{NBSP}{}{NBSP}».",
                if monthly { "mois" } else { "jour" },
                if monthly { "mois" } else { "jours" },
                parts.join("\u{202f}; "),
                x.chart_nature_caption
            ),
        }
    }

    /// The text alternative of the chart of decisions by provider (`rows`: provider and
    /// its forwarded, routed, blocked and refused requests).
    pub fn provider_chart_alt(&self, rows: &[(String, [u64; 4])]) -> String {
        let x = self.evidence();
        let d = |i: usize| self.term("decision", ["forwarded", "routed", "blocked", "refused"][i]);
        let parts: Vec<String> = rows
            .iter()
            .map(|(p, c)| {
                format!(
                    "{p}{} {}",
                    self.colon(),
                    (0..4)
                        .map(|i| format!("{} {}", d(i), self.n(c[i])))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        match self.lang {
            Lang::En => format!(
                "Horizontal bar chart, one group of four bars per provider (forwarded, routed, blocked, refused), each bar labelled with its decision and count. {}. The same figures are in the table “{}”.",
                parts.join("; "),
                x.chart_provider_caption
            ),
            Lang::Fr => format!(
                "Diagramme en barres horizontales, un groupe de quatre barres par fournisseur (transmises, réacheminées, bloquées, refusées), chaque barre portant sa décision et son nombre. {}. Les mêmes chiffres figurent dans le tableau «{NBSP}{}{NBSP}».",
                parts.join("\u{202f}; "),
                x.chart_provider_caption
            ),
        }
    }
}
