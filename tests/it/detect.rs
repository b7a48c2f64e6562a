//! The detector as a library: every shipped rule's examples, developer traffic that must
//! raise no false alarm, a table of prompts with known values, values hidden from a reader
//! of raw code points, and properties.

use paravent::detect::{Detector, RuleSet, rules};

mod evasions;
mod false_alarms;
mod oracle;
mod positives;
mod properties;

#[test]
fn every_shipped_rules_examples_and_counterexamples_pass() {
    let set = RuleSet::builtin().expect("the shipped rules parse");
    let detector = Detector::new(&set).expect("the shipped rules compile");
    assert!(
        set.examples().len() > 100,
        "expected the shipped rules to carry their examples"
    );
    let failures = rules::check_examples(&set, &detector);
    let listed: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert!(
        failures.is_empty(),
        "{} failing example(s):\n{}",
        failures.len(),
        listed.join("\n")
    );
}

#[test]
fn every_shipped_rule_carries_examples() {
    let set = RuleSet::builtin().expect("the shipped rules parse");
    let examples = set.examples();
    let missing: Vec<String> = set
        .rule_ids()
        .into_iter()
        .filter(|id| !examples.iter().any(|e| &e.rule == id && !e.counter))
        .collect();
    assert!(missing.is_empty(), "rules without examples: {missing:?}");
}
