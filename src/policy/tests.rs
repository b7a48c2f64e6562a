use super::*;

fn rule(id: &str, action: Action) -> Rule {
    Rule {
        id: id.to_owned(),
        line: 1,
        entities: BTreeSet::new(),
        natures: BTreeSet::new(),
        levels: Levels::ALL,
        users: BTreeSet::new(),
        teams: BTreeSet::new(),
        providers: BTreeSet::new(),
        action,
        route_to: None,
        model: None,
        message: None,
    }
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn dest(api: Api, max: Sensitivity, on_exceed: OnExceed) -> Destination {
    Destination {
        api,
        max_sensitivity: max,
        on_exceed,
        route_model: None,
    }
}

/// openai (US, up to confidential, blocks above), mistral (openai API, secret),
/// local (openai API, secret), claude (anthropic API).
fn policy(rules: Vec<Rule>) -> Policy {
    let mut providers = BTreeMap::new();
    providers.insert(
        "openai".to_owned(),
        dest(Api::Openai, Sensitivity::Confidential, OnExceed::Block),
    );
    providers.insert(
        "mistral".to_owned(),
        dest(Api::Openai, Sensitivity::Secret, OnExceed::Block),
    );
    providers.insert(
        "local".to_owned(),
        dest(Api::Openai, Sensitivity::Secret, OnExceed::Block),
    );
    providers.insert(
        "claude".to_owned(),
        dest(Api::Anthropic, Sensitivity::Secret, OnExceed::Block),
    );
    Policy {
        default: Action::Pseudonymise,
        rules,
        providers,
    }
}

const EMAIL: Item<'static> = Item {
    entity: "EMAIL",
    nature: Nature::Personal,
    sensitivity: Sensitivity::Confidential,
};
const NIR: Item<'static> = Item {
    entity: "FR_NIR",
    nature: Nature::SpecialCategory,
    sensitivity: Sensitivity::Secret,
};
const KEY: Item<'static> = Item {
    entity: "SECRET",
    nature: Nature::Secret,
    sensitivity: Sensitivity::Secret,
};
const CITY: Item<'static> = Item {
    entity: "LOCATION",
    nature: Nature::Personal,
    sensitivity: Sensitivity::Internal,
};

const ALICE: Principal<'static> = Principal {
    user: "alice",
    team: Some("rh"),
};
const BOB: Principal<'static> = Principal {
    user: "bob",
    team: Some("sales"),
};

fn actions(d: &Decision) -> Vec<(Action, &str)> {
    d.choices
        .iter()
        .map(|c| (c.action, c.rule.as_str()))
        .collect()
}

#[test]
fn no_findings_forward_with_no_rule() {
    let d = policy(vec![]).decide(&[], &ALICE, "openai");
    assert_eq!(d.verdict, Verdict::Forward { rule: None });
    assert!(d.choices.is_empty());
}

#[test]
fn unmatched_findings_take_the_default_action() {
    let d = policy(vec![]).decide(&[EMAIL, CITY], &ALICE, "openai");
    assert_eq!(
        actions(&d),
        vec![
            (Action::Pseudonymise, RULE_DEFAULT),
            (Action::Pseudonymise, RULE_DEFAULT)
        ]
    );
    assert_eq!(
        d.verdict,
        Verdict::Forward {
            rule: Some(RULE_DEFAULT.into())
        }
    );
    let mut p = policy(vec![]);
    p.default = Action::Redact;
    let d = p.decide(&[EMAIL], &ALICE, "openai");
    assert_eq!(actions(&d), vec![(Action::Redact, RULE_DEFAULT)]);
}

#[test]
fn secrets_are_blocked_by_the_builtin_rule_whatever_the_rules_say() {
    let d = policy(vec![rule("allow-all", Action::Allow)]).decide(&[EMAIL, KEY], &ALICE, "mistral");
    match &d.verdict {
        Verdict::Block {
            rule, categories, ..
        } => {
            assert_eq!(rule, RULE_SECRET);
            assert_eq!(categories, &vec!["SECRET/secret/secret".to_owned()]);
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn the_first_matching_rule_wins_and_is_named() {
    let mut redact = rule("redact-emails", Action::Redact);
    redact.entities = set(&["EMAIL"]);
    let allow = rule("allow-rest", Action::Allow);
    let d = policy(vec![redact, allow]).decide(&[EMAIL, CITY], &ALICE, "openai");
    assert_eq!(
        actions(&d),
        vec![
            (Action::Redact, "redact-emails"),
            (Action::Allow, "allow-rest")
        ]
    );
    // EMAIL is confidential, CITY internal: the verdict names the rule of the most
    // sensitive finding.
    assert_eq!(
        d.verdict,
        Verdict::Forward {
            rule: Some("redact-emails".into())
        }
    );
}

#[test]
fn a_block_rule_blocks_with_its_message_and_categories() {
    let mut r = rule("no-health", Action::Block);
    r.natures = [Nature::SpecialCategory].into();
    r.message = Some("Health data stays home.".into());
    let d = policy(vec![r]).decide(&[EMAIL, NIR], &ALICE, "openai");
    assert_eq!(
        d.verdict,
        Verdict::Block {
            rule: "no-health".into(),
            categories: vec!["FR_NIR/special-category/secret".into()],
            message: "Health data stays home.".into(),
        }
    );
}

#[test]
fn conditions_on_sensitivity_users_teams_and_providers() {
    let mut r = rule("rh-only-local", Action::Block);
    r.levels = Levels::at_least(Sensitivity::Confidential);
    r.teams = set(&["rh"]);
    r.providers = set(&["openai"]);
    let p = policy(vec![r]);
    // alice is in rh: blocked on openai, not on mistral; internal data passes.
    assert!(matches!(
        p.decide(&[EMAIL], &ALICE, "openai").verdict,
        Verdict::Block { .. }
    ));
    assert!(matches!(
        p.decide(&[EMAIL], &ALICE, "mistral").verdict,
        Verdict::Forward { .. }
    ));
    assert!(matches!(
        p.decide(&[CITY], &ALICE, "openai").verdict,
        Verdict::Forward { .. }
    ));
    // bob is not.
    assert!(matches!(
        p.decide(&[EMAIL], &BOB, "openai").verdict,
        Verdict::Forward { .. }
    ));
    let mut r = rule("bob", Action::Allow);
    r.users = set(&["bob"]);
    let p = policy(vec![r]);
    assert_eq!(
        actions(&p.decide(&[EMAIL], &BOB, "openai")),
        vec![(Action::Allow, "bob")]
    );
    assert_eq!(
        actions(&p.decide(&[EMAIL], &ALICE, "openai")),
        vec![(Action::Pseudonymise, RULE_DEFAULT)]
    );
    // A principal without a team never matches a teams condition.
    let mut r = rule("rh", Action::Allow);
    r.teams = set(&["rh"]);
    let anon = Principal {
        user: "key:abc",
        team: None,
    };
    assert_eq!(
        actions(&policy(vec![r]).decide(&[EMAIL], &anon, "openai")),
        vec![(Action::Pseudonymise, RULE_DEFAULT)]
    );
}

#[test]
fn a_route_rule_sends_the_request_and_is_evaluated_again_at_the_target() {
    let mut r = rule("health-local", Action::Route);
    r.natures = [Nature::SpecialCategory].into();
    r.route_to = Some("local".into());
    r.model = Some("llama3.1".into());
    let d = policy(vec![r]).decide(&[EMAIL, NIR], &ALICE, "openai");
    assert_eq!(
        d.verdict,
        Verdict::Route {
            to: "local".into(),
            model: Some("llama3.1".into()),
            rule: "health-local".into()
        }
    );
    // At the target, the same rule routes to itself: the value is pseudonymised there.
    assert_eq!(
        actions(&d),
        vec![
            (Action::Pseudonymise, RULE_DEFAULT),
            (Action::Pseudonymise, "health-local")
        ]
    );
}

#[test]
fn a_request_already_at_the_route_target_is_forwarded() {
    let mut r = rule("health-local", Action::Route);
    r.natures = [Nature::SpecialCategory].into();
    r.route_to = Some("local".into());
    let d = policy(vec![r]).decide(&[NIR], &ALICE, "local");
    assert_eq!(
        d.verdict,
        Verdict::Forward {
            rule: Some("health-local".into())
        }
    );
}

#[test]
fn two_route_targets_are_a_conflict() {
    let mut a = rule("health-local", Action::Route);
    a.natures = [Nature::SpecialCategory].into();
    a.route_to = Some("local".into());
    let mut b = rule("email-eu", Action::Route);
    b.entities = set(&["EMAIL"]);
    b.route_to = Some("mistral".into());
    let d = policy(vec![a, b]).decide(&[EMAIL, NIR], &ALICE, "openai");
    match d.verdict {
        Verdict::Block { rule, message, .. } => {
            assert_eq!(rule, RULE_ROUTE_CONFLICT);
            assert!(message.contains("health-local → local"), "{message}");
            assert!(message.contains("email-eu → mistral"), "{message}");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn a_second_route_is_not_followed() {
    let mut a = rule("to-mistral", Action::Route);
    a.providers = set(&["openai"]);
    a.route_to = Some("mistral".into());
    let mut b = rule("to-local", Action::Route);
    b.providers = set(&["mistral"]);
    b.route_to = Some("local".into());
    let d = policy(vec![a, b]).decide(&[EMAIL], &ALICE, "openai");
    match d.verdict {
        Verdict::Block { rule, message, .. } => {
            assert_eq!(rule, RULE_ROUTE_LOOP);
            assert!(message.contains("to-mistral"), "{message}");
            assert!(message.contains("to-local"), "{message}");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn a_route_to_another_api_is_blocked() {
    let mut a = rule("to-claude", Action::Route);
    a.route_to = Some("claude".into());
    let d = policy(vec![a]).decide(&[EMAIL], &ALICE, "openai");
    match d.verdict {
        Verdict::Block { rule, message, .. } => {
            assert_eq!(rule, RULE_ROUTE_API);
            assert!(message.contains("anthropic"), "{message}");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn the_ceiling_blocks_what_exceeds_the_provider() {
    // NIR is secret; openai takes up to confidential.
    let d = policy(vec![]).decide(&[EMAIL, NIR], &ALICE, "openai");
    match d.verdict {
        Verdict::Block {
            rule,
            categories,
            message,
        } => {
            assert_eq!(rule, "provider.openai.max_sensitivity");
            assert_eq!(
                categories,
                vec!["FR_NIR/special-category/secret".to_owned()]
            );
            // It says where the request may go instead: same API, ceiling high enough.
            assert!(message.ends_with("(local, mistral)"), "{message}");
        }
        v => panic!("{v:?}"),
    }
    // Confidential data alone is within it.
    assert!(matches!(
        policy(vec![]).decide(&[EMAIL], &ALICE, "openai").verdict,
        Verdict::Forward { .. }
    ));
}

#[test]
fn redacted_findings_do_not_count_toward_the_ceiling_but_pseudonymised_ones_do() {
    let mut r = rule("redact-nir", Action::Redact);
    r.entities = set(&["FR_NIR"]);
    let d = policy(vec![r]).decide(&[EMAIL, NIR], &ALICE, "openai");
    assert!(matches!(d.verdict, Verdict::Forward { .. }), "{d:?}");
    let mut r = rule("pseudo-nir", Action::Pseudonymise);
    r.entities = set(&["FR_NIR"]);
    let d = policy(vec![r]).decide(&[NIR], &ALICE, "openai");
    assert!(matches!(d.verdict, Verdict::Block { .. }), "{d:?}");
}

#[test]
fn the_ceiling_routes_when_the_provider_says_so() {
    let mut p = policy(vec![]);
    let openai = p.providers.get_mut("openai").unwrap();
    openai.on_exceed = OnExceed::Route("local".into());
    p.providers.get_mut("local").unwrap().route_model = Some("llama3.1".into());
    let d = p.decide(&[NIR], &ALICE, "openai");
    assert_eq!(
        d.verdict,
        Verdict::Route {
            to: "local".into(),
            model: Some("llama3.1".into()),
            rule: "provider.openai.max_sensitivity".into()
        }
    );
    // A target that may not receive it either: blocked, not routed twice.
    p.providers.get_mut("local").unwrap().max_sensitivity = Sensitivity::Internal;
    p.providers.get_mut("local").unwrap().on_exceed = OnExceed::Route("mistral".into());
    let d = p.decide(&[NIR], &ALICE, "openai");
    assert!(
        matches!(&d.verdict, Verdict::Block { rule, .. } if rule == "provider.local.max_sensitivity"),
        "{d:?}"
    );
}

#[test]
fn a_rule_route_is_checked_against_the_targets_ceiling() {
    let mut p = policy(vec![]);
    p.providers.get_mut("local").unwrap().max_sensitivity = Sensitivity::Internal;
    let mut r = rule("emails-local", Action::Route);
    r.entities = set(&["EMAIL"]);
    r.route_to = Some("local".into());
    p.rules.push(r);
    let d = p.decide(&[EMAIL], &ALICE, "openai");
    assert!(
        matches!(&d.verdict, Verdict::Block { rule, .. } if rule == "provider.local.max_sensitivity"),
        "{d:?}"
    );
}

#[test]
fn levels_combine_lists_and_minimums() {
    let l = Levels::at_least(Sensitivity::Confidential);
    assert!(!l.contains(Sensitivity::Internal));
    assert!(l.contains(Sensitivity::Confidential) && l.contains(Sensitivity::Secret));
    assert_eq!(l.max(), Some(Sensitivity::Secret));
    assert!(Levels::ALL.is_superset(l));
    assert!(Levels::only(Sensitivity::Public).intersect(l).is_empty());
    assert_eq!(Levels::at_least(Sensitivity::Public), Levels::ALL);
}

#[test]
fn lint_finds_shadowed_contradictory_and_unmatchable_rules() {
    let mut a = rule("all-emails", Action::Redact);
    a.entities = set(&["EMAIL"]);
    let mut b = rule("alice-emails", Action::Allow);
    b.entities = set(&["EMAIL"]);
    b.users = set(&["alice"]);
    let mut c = rule("all-emails-again", Action::Block);
    c.entities = set(&["EMAIL"]);
    let mut d = rule("allow-keys", Action::Allow);
    d.natures = [Nature::Secret].into();
    let mut e = rule("ghost-team", Action::Allow);
    e.teams = set(&["nobody"]);
    let mut f = rule("to-claude", Action::Route);
    f.providers = set(&["openai"]);
    f.route_to = Some("claude".into());
    let p = policy(vec![a, b, c, d, e, f]);
    let out = p.lint(&set(&["alice"]), &set(&["rh"]));
    let find = |needle: &str| {
        out.iter()
            .find(|(_, _, m)| m.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {out:#?}"))
    };
    assert!(!find("\"alice-emails\" can never match").0);
    assert!(find("\"all-emails-again\" has the same conditions").0);
    assert!(find("\"allow-keys\" allows secrets").0);
    assert!(!find("team \"nobody\"").0);
    assert!(find("\"to-claude\" routes to claude").0);
}

#[test]
fn lint_is_quiet_on_a_sound_policy() {
    let mut a = rule("health-local", Action::Route);
    a.natures = [Nature::SpecialCategory].into();
    a.route_to = Some("local".into());
    a.providers = set(&["openai", "mistral"]);
    let mut b = rule("rh-redact", Action::Redact);
    b.teams = set(&["rh"]);
    let p = policy(vec![a, b]);
    assert_eq!(p.lint(&set(&["alice"]), &set(&["rh"])), vec![]);
}

#[test]
fn the_policy_is_thread_safe() {
    fn assert_all<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    assert_all::<Policy>();
}

#[test]
fn a_route_rule_without_a_model_uses_the_targets_route_model() {
    let mut p = policy(vec![]);
    p.providers.get_mut("local").unwrap().route_model = Some("llama3.1".into());
    let mut r = rule("emails-local", Action::Route);
    r.entities = set(&["EMAIL"]);
    r.route_to = Some("local".into());
    p.rules.push(r);
    let d = p.explain(&[EMAIL], &ALICE, "openai");
    assert_eq!(d.verdict, p.decide(&[EMAIL], &ALICE, "openai").verdict);
    assert!(p.decide(&[EMAIL], &ALICE, "openai").trace.is_empty());
    assert_eq!(
        d.verdict,
        Verdict::Route {
            to: "local".into(),
            model: Some("llama3.1".into()),
            rule: "emails-local".into()
        }
    );
    // The trace says why, with names only.
    assert!(
        d.trace
            .iter()
            .any(|t| t == "routed from openai to local by emails-local"),
        "{:?}",
        d.trace
    );
}
