//! Prompts with known values: each `[[…]]` span must come out as exactly one finding of
//! the given entity with exactly that span.
//!
//! Every value is synthetic. NIR, SIREN, SIRET and IBAN check digits were computed with
//! python-stdnum; the card numbers are the networks' published test numbers.

use crate::support::{DETECTOR, describe, marked};

/// (entity, prompt with the expected spans marked)
const CASES: &[(&str, &str)] = &[
    // Names.
    (
        "PERSON",
        "Bonjour, je suis Mme [[Claire Fontaine]], joignable au 06 12 34 56 78.",
    ),
    (
        "PERSON",
        "Bonjour [[Margaux]],\nvoici le compte rendu de la réunion.",
    ),
    (
        "PERSON",
        "Merci pour votre retour.\nCordialement,\n[[Thomas Girard]]",
    ),
    ("PERSON", "Le dossier de [[Jean DUPONT]] est incomplet."),
    ("PERSON", "Maître [[Lefebvre]] a signé l'acte."),
    ("PERSON", "Dear Dr. [[Patel]], thank you for the referral."),
    (
        "PERSON",
        "Mr [[Oliver Bennett]] will attend the board meeting.",
    ),
    (
        "PERSON",
        "Transférez à jean-marc.petitjean@example.org : [[Jean-Marc Petitjean]] attend. \
         M. [[Petitjean]] a rappelé.",
    ),
    // E-mails.
    (
        "EMAIL",
        "Merci d'envoyer le dossier à [[sophie.marchand@exemple-rh.fr]] avant vendredi.",
    ),
    (
        "EMAIL",
        "Please cc [[john.doe+ai@example.com]] on the thread.",
    ),
    // French phones, in every usual form.
    (
        "PHONE",
        "Joignable au [[06 12 34 56 78]] ou au [[06.98.76.54.32]].",
    ),
    ("PHONE", "Mon portable : [[0698765432]]."),
    ("PHONE", "Standard : [[01-45-67-89-10]], poste 12."),
    ("PHONE", "Depuis l'étranger : [[+33 6 98 76 54 32]]."),
    ("PHONE", "Ligne directe [[+33 (0)6 98 76 54 32]] (bureau)."),
    ("PHONE", "Écrivez-moi ou appelez le [[+33698765432]]"),
    ("PHONE", "Numéro : [[0033 1 45 67 89 10]]"),
    // Other phones.
    ("PHONE", "Call me at [[(212) 555-0147]] tomorrow."),
    ("PHONE", "Our London office: [[+44 20 7946 0321]]."),
    // NIR, with Corsica.
    (
        "FR_NIR",
        "Son numéro de sécurité sociale est [[2 91 07 69 123 456 20]].",
    ),
    ("FR_NIR", "NIR : [[291076912345620]]"),
    ("FR_NIR", "Assuré né en Corse : [[1 78 04 2A 004 012 09]]."),
    ("FR_NIR", "N° SS [[265112B03321550]], à vérifier."),
    // SIREN and SIRET.
    (
        "FR_SIREN",
        "La société est immatriculée au RCS de Lyon sous le numéro [[404 833 048]].",
    ),
    ("FR_SIREN", "SIREN : [[821167590]]"),
    (
        "FR_SIRET",
        "Établissement SIRET [[404 833 048 00022]], siège social.",
    ),
    ("FR_SIRET", "SIRET : [[53920471900022]]"),
    // IBANs of several countries.
    (
        "IBAN",
        "Virement sur [[FR86 2004 1010 0505 1234 5678 K20]] svp.",
    ),
    ("IBAN", "IBAN [[DE44500105175407324931]] (Berlin)."),
    ("IBAN", "Cuenta: [[ES91 2100 0418 4502 0005 1332]]"),
    ("IBAN", "Conto [[IT60X0542811101000000123456]]."),
    (
        "IBAN",
        "Rekening [[NL91 ABNA 0417 1643 00]], of [[BE70 4250 0123 4525]].",
    ),
    ("IBAN", "Account: [[GB29 NWBK 6016 1331 9268 19]]."),
    ("IBAN", "Konto [[CH56 0483 5012 3456 7800 9]]"),
    ("IBAN", "Compte [[LU280019400644750000]]"),
    // Cards.
    (
        "CREDIT_CARD",
        "Ma carte [[4012 8888 8888 1881]] a été refusée.",
    ),
    ("CREDIT_CARD", "Card: [[5105-1051-0510-5100]] exp 09/28"),
    ("CREDIT_CARD", "Amex [[371449635398431]] on file."),
    // Addresses.
    (
        "ADDRESS",
        "Il habite au [[27 rue des Acacias, 33000]] Bordeaux.",
    ),
    (
        "ADDRESS",
        "Ship it to [[1428 Elm Street, Springfield, IL 62704]] please.",
    ),
    // Dates of birth.
    (
        "DATE_OF_BIRTH",
        "Mme Leroy, née le [[14/02/1987]] à Nantes.",
    ),
    ("DATE_OF_BIRTH", "Date de naissance : [[3 mars 1979]]"),
    ("DATE_OF_BIRTH", "Patient DOB: [[07/19/1964]]"),
    // Secrets of each kind.
    (
        "SECRET",
        "export AWS_ACCESS_KEY_ID=[[AKIAZ7Q3EXAMPLE4R2XJ]]",
    ),
    (
        "SECRET",
        "aws_secret_access_key = [[Zq3vT9xLm2Pw8Rk4Yb6Nc1Hd5Jf7Gs0AeUiOpQr2]]",
    ),
    (
        "SECRET",
        "GITHUB_TOKEN=[[ghp_Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0GfEdCbA9z8y]]",
    ),
    (
        "SECRET",
        "git clone [[https://x:ghp_Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0GfEdCbA9z8y@github.com/acme/app]]",
    ),
    ("SECRET", "CI_TOKEN: [[glpat-9fK2mQ7xR4tL8vB1nC6z]]"),
    (
        "SECRET",
        "client = OpenAI(api_key=\"[[sk-proj-Q9w8E7r6T5y4U3i2O1p0AsDfGhJkLzXcVbNm]]\")",
    ),
    (
        "SECRET",
        "ANTHROPIC_API_KEY=[[sk-ant-api03-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5Nm7-_Qw]]",
    ),
    (
        "SECRET",
        "SLACK_BOT_TOKEN=[[xoxb-2048-4096-Zx8Yw7Vu6Ts5Rq4Po3Nm]]",
    ),
    (
        "SECRET",
        "curl -H 'Authorization: Bearer [[eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
         eyJzdWIiOiJ1c2VyLTQyIiwiaWF0IjoxNzAwMDAwMDAwfQ.Qm9ndXNTaWduYXR1cmVGb3JUZXN0aW5nT25seQ]]' \
         https://api.example.com",
    ),
    (
        "SECRET",
        "Voici la clé :\n[[-----BEGIN PRIVATE KEY-----\n\
         MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n\
         -----END PRIVATE KEY-----]]\nmerci",
    ),
    (
        "SECRET",
        "DATABASE_URL=[[postgresql://billing:Pa55w0rd-Q3@db.prod.internal:5432/billing]]",
    ),
    ("SECRET", "db_password = '[[Hk7#pQ2!zW]]'"),
    ("SECRET", "le mot de passe : [[Tournesol-2024]]"),
    // Special categories (GDPR art. 9 and 10): about a person, by a word or a name.
    (
        "HEALTH",
        "Bonjour,\nje vous informe que M. Lucas Bernard est en [[arrêt maladie]] jusqu'au 14 mars.",
    ),
    (
        "HEALTH",
        "Elle nous a transmis son [[arrêt de travail]] ce matin.",
    ),
    (
        "HEALTH",
        "Nadia sera en [[congé maternité]] à partir de juin.",
    ),
    (
        "HEALTH",
        "Mon collègue suit une [[chimiothérapie]] depuis janvier.",
    ),
    ("HEALTH", "Daniel is on [[sick leave]] until Friday."),
    (
        "HEALTH",
        "She was diagnosed with [[multiple sclerosis]] in 2021.",
    ),
    (
        "RELIGION",
        "Il est [[musulman]] et [[fait le ramadan]] ce mois-ci.",
    ),
    ("RELIGION", "My manager is a [[practising Christian]]."),
    (
        "POLITICAL_OPINION",
        "Son voisin est [[encarté]] au [[Parti communiste]].",
    ),
    (
        "POLITICAL_OPINION",
        "He is a [[card-carrying]] member of the [[Labour Party]].",
    ),
    (
        "UNION_MEMBERSHIP",
        "Camille est [[déléguée syndicale]] [[CFDT]].",
    ),
    (
        "UNION_MEMBERSHIP",
        "My colleague is a [[union rep]] at the depot.",
    ),
    (
        "SEXUAL_ORIENTATION",
        "Il est [[gay]] et l'a dit à son équipe.",
    ),
    (
        "SEXUAL_ORIENTATION",
        "Her [[sexual orientation]] is none of our business.",
    ),
    ("ETHNIC_ORIGIN", "Le candidat est [[d'origine algérienne]]."),
    (
        "ETHNIC_ORIGIN",
        "His [[ethnicity]] was written on the form.",
    ),
    (
        "CRIMINAL_RECORD",
        "Le candidat a un [[casier judiciaire]] chargé.",
    ),
    (
        "CRIMINAL_RECORD",
        "Oliver Bennett was [[convicted of]] fraud in 2015.",
    ),
];

#[test]
fn there_are_enough_positive_prompts() {
    assert!(CASES.len() >= 30, "{}", CASES.len());
}

/// Every marked span of `cases` that no finding of its entity covers exactly, described
/// for the failure message.
fn misses(cases: &[(&str, &str)]) -> Vec<String> {
    let mut misses = Vec::new();
    for (entity, example) in cases {
        let (text, spans) = marked(example);
        assert!(!spans.is_empty(), "no [[…]] in {example:?}");
        let found = DETECTOR.scan(&text);
        for (s, e) in spans {
            let hit = found
                .iter()
                .any(|f| f.entity.as_str() == *entity && f.start == s && f.end == e);
            if !hit {
                misses.push(format!(
                    "{entity} {:?} in {text:?}; found:\n{}",
                    &text[s..e],
                    describe(&text, &found)
                ));
            }
        }
    }
    misses
}

#[test]
fn known_values_are_found_with_their_entity_and_exact_span() {
    let misses = misses(CASES);
    assert!(
        misses.is_empty(),
        "{} miss(es):\n{}",
        misses.len(),
        misses.join("\n")
    );
}

/// A realistic prompt, every finding checked: nothing more, nothing less.
#[test]
fn a_french_hr_prompt_gives_exactly_the_expected_findings() {
    let text = "Bonjour Claire,\n\
                Peux-tu mettre à jour la fiche de Mme Sophie Marchand (sophie.marchand@example.fr, \
                06 12 34 56 78) ? Elle est née le 14/02/1987, NIR 2 91 07 69 123 456 20, \
                IBAN FR86 2004 1010 0505 1234 5678 K20.\n\
                Merci,\nThomas Girard";
    let found = DETECTOR.scan(text);
    let got: Vec<(&str, &str)> = found
        .iter()
        .map(|f| (f.entity.as_str(), &text[f.start..f.end]))
        .collect();
    assert_eq!(
        got,
        [
            ("PERSON", "Claire"),
            ("PERSON", "Sophie Marchand"),
            ("EMAIL", "sophie.marchand@example.fr"),
            ("PHONE", "06 12 34 56 78"),
            ("DATE_OF_BIRTH", "14/02/1987"),
            ("FR_NIR", "2 91 07 69 123 456 20"),
            ("IBAN", "FR86 2004 1010 0505 1234 5678 K20"),
            ("PERSON", "Thomas Girard"),
        ],
        "\n{}",
        describe(text, &found)
    );
}

/// Every special-category finding is of nature `special-category` and sensitivity
/// `secret`, so that the ceilings and the policy rules on that nature apply.
#[test]
fn special_categories_are_classified_special_category_and_secret() {
    let special = [
        "HEALTH",
        "RELIGION",
        "POLITICAL_OPINION",
        "UNION_MEMBERSHIP",
        "SEXUAL_ORIENTATION",
        "ETHNIC_ORIGIN",
        "CRIMINAL_RECORD",
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (entity, example) in CASES.iter().filter(|(e, _)| special.contains(e)) {
        let (text, _) = marked(example);
        for f in DETECTOR.scan(&text) {
            if f.entity.as_str() == *entity {
                assert_eq!(f.nature.as_str(), "special-category", "{text:?}");
                assert_eq!(f.sensitivity.as_str(), "secret", "{text:?}");
                seen.insert(*entity);
            }
        }
    }
    assert_eq!(
        seen.len(),
        special.len(),
        "every category has a case: {seen:?}"
    );
}

#[test]
fn secrets_are_classified_secret_and_most_sensitive() {
    for (entity, example) in CASES.iter().filter(|(e, _)| *e == "SECRET") {
        let (text, spans) = marked(example);
        for f in DETECTOR.scan(&text) {
            if f.entity.as_str() == *entity && spans.contains(&(f.start, f.end)) {
                assert_eq!(f.nature.as_str(), "secret", "{text:?}");
                assert_eq!(f.sensitivity.as_str(), "secret", "{text:?}");
            }
        }
    }
}

/// Step 6, recall where it leaked: (entity, prompt with the expected spans marked).
const RECALL_CASES: &[(&str, &str)] = &[
    (
        "IP_ADDRESS",
        "Mapped address [[::ffff:192.0.2.1]] seen in the log.",
    ),
    (
        "IP_ADDRESS",
        "Allow [[10.0.0.0/8]] and [[2001:db8::/32]] only.",
    ),
    (
        "URL",
        "Le lien «[[https://intranet.example.fr/rh/dossier]]» est mort.",
    ),
    (
        "URL",
        "Read [the guide]([[https://example.com/guide]]) first.",
    ),
    ("URL", "config: \"[[https://example.com/a?b=1]]\""),
    ("US_SSN", "SSN [[536.90.4399]] on file."),
    ("UK_NINO", "NI number [[jg-10-37-59-a]]."),
    ("ID_NUMBER", "Her SSN is [[912-34-5678]], please update."),
    (
        "PHONE",
        "Numbers: [[0161 496 0752]] (mobile), [[020 7946 0958]] (home).",
    ),
    ("PHONE", "Best to call me on [[0961-7596216]] after six."),
    ("PHONE", "Phone: [[467 3395]]"),
    ("ADDRESS", "Écrire au [[39 quai Branly, 75019]], Paris."),
    ("ADDRESS", "Code : [[92 100]] Boulogne-Billancourt"),
    ("LOCATION", "Écrire au 39 quai Branly, 75019, [[Paris]]."),
    ("LOCATION", "4 cours Napoléon, 20 090 [[Ajaccio]]"),
    ("ADDRESS", "Suite 501\nRiisa\nEstonia [[62488]]\n"),
    ("ADDRESS", "Ship to [[Kungsgatan 5]], Stockholm."),
    (
        "ORGANIZATION",
        "We retained [[Lopez, Santos and Coleman]] for the audit.",
    ),
    (
        "ORGANIZATION",
        "Invoice from [[Fritz-Armstrong Ltd]] attached.",
    ),
    (
        "ORGANIZATION",
        "Contrat signé avec [[Dupont et Fils]] hier.",
    ),
    ("ORGANIZATION", "La société [[Martin SAS]] a livré."),
    ("ORGANIZATION", "Un compte à la [[Banque de Lyon]]."),
];

#[test]
fn values_that_used_to_leak_are_found_whole_with_their_entity() {
    let misses = misses(RECALL_CASES);
    assert!(
        misses.is_empty(),
        "{} miss(es):\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn names_and_places_inside_a_firm_are_not_people_or_places() {
    for text in [
        "We retained Lopez, Santos and Coleman for the audit.",
        "Un compte à la Banque de Lyon.",
        "Contrat signé avec Dupont et Fils hier.",
    ] {
        let found = DETECTOR.scan(text);
        assert!(
            found
                .iter()
                .all(|f| !matches!(f.entity.as_str(), "PERSON" | "LOCATION")),
            "{text:?}:\n{}",
            describe(text, &found)
        );
        assert!(found.iter().any(|f| f.entity.as_str() == "ORGANIZATION"));
    }
    // A list of first names is people, not a firm.
    let text = "I met Derek, Anna and Andrew yesterday.";
    let found = DETECTOR.scan(text);
    assert!(
        found.iter().all(|f| f.entity.as_str() != "ORGANIZATION"),
        "{}",
        describe(text, &found)
    );
}
