//! \[pure\] The policy: findings × principal × destination → what happens to each value
//! and to the request.
//!
//! Evaluation, in this order (docs/POLICY.md says the same for admins):
//!
//! 1. each finding gets an action and the id of the rule that chose it: a secret (nature
//!    `secret` or entity `SECRET`) is always blocked by `builtin.secret`; otherwise the
//!    first `[[policy.rules]]` entry whose conditions all hold, in file order; otherwise
//!    `[policy] default` (`builtin.default`);
//! 2. any `block` blocks the request (the first blocking finding names the rule);
//! 3. any `route` sends the request to the rule's `route_to` (two different targets:
//!    blocked, `builtin.route-conflict`); the policy is then evaluated again for the
//!    target, once: a rule there that routes back to the target itself keeps the request
//!    there, one that routes elsewhere blocks it (`builtin.route-loop`), never a second
//!    hop;
//! 4. the ceiling: the most sensitive finding that still leaves in some form
//!    (pseudonymised or allowed; redacted ones do not count) is compared with the
//!    destination's `max_sensitivity`; above it, the provider's `on_exceed` applies
//!    (`block`, or `route:<provider>` which, like a rule's route, is followed once).
//!
//! Pseudonymised findings count toward the ceiling on purpose: the text around a token
//! keeps its context, and pseudonymised data is still personal data under the GDPR
//! (recital 26). Only redaction removes a value for good.
//!
//! Never sees a value: only entity, nature and sensitivity names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::api::Api;
use crate::detect::{Nature, Sensitivity};

pub mod allow;

/// Pushes a line onto the trace only when explaining (the format is not evaluated
/// otherwise).
macro_rules! note {
    ($trace:ident, $explain:ident, $line:expr) => {
        if $explain {
            $trace.push($line);
        }
    };
}

/// Why a finding got its rule, for `scan --explain`: the conditions of the rule that
/// matched first, or why none did.
fn why(rule_id: &str, rule: Option<&Rule>, rules: usize) -> String {
    let Some(r) = rule else {
        return if rule_id == RULE_SECRET {
            "as every secret: secrets are always blocked".to_owned()
        } else if rules == 0 {
            "the [policy] default: there are no [[policy.rules]]".to_owned()
        } else {
            format!("the [policy] default: none of the {rules} [[policy.rules]] matched")
        };
    };
    let mut conds = Vec::new();
    let list = |name: &str, set: &BTreeSet<String>, conds: &mut Vec<String>| {
        if !set.is_empty() {
            let items: Vec<&str> = set.iter().map(String::as_str).collect();
            conds.push(format!("{name} {}", items.join("|")));
        }
    };
    list("entity", &r.entities, &mut conds);
    if !r.natures.is_empty() {
        let items: Vec<&str> = r.natures.iter().map(|n| n.as_str()).collect();
        conds.push(format!("nature {}", items.join("|")));
    }
    if r.levels != Levels::ALL {
        let levels: Vec<&str> = r.levels.iter().map(Sensitivity::as_str).collect();
        conds.push(format!("sensitivity {}", levels.join("|")));
    }
    list("user", &r.users, &mut conds);
    list("team", &r.teams, &mut conds);
    list("provider", &r.providers, &mut conds);
    let conds = if conds.is_empty() {
        "no conditions".to_owned()
    } else {
        conds.join(", ")
    };
    format!("the first matching rule (line {}: {conds})", r.line)
}

/// The rule id of the built-in secret block.
pub const RULE_SECRET: &str = "builtin.secret";
/// The rule id of `[policy] default`.
pub const RULE_DEFAULT: &str = "builtin.default";
/// The rule id of a request whose findings route to two different providers.
pub const RULE_ROUTE_CONFLICT: &str = "builtin.route-conflict";
/// The rule id of a request that would be routed a second time.
pub const RULE_ROUTE_LOOP: &str = "builtin.route-loop";
/// The rule id of a route to a provider that speaks another API.
pub const RULE_ROUTE_API: &str = "builtin.route-api-mismatch";

/// What is done to a value (and, for `block` and `route`, to its request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Replaced by a reversible token; the answer gets the value back.
    Pseudonymise,
    /// Replaced by an irreversible `[REDACTED_<ENTITY>]`.
    Redact,
    /// Leaves as it is.
    Allow,
    /// The request is refused.
    Block,
    /// The request goes to another provider.
    Route,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pseudonymise => "pseudonymise",
            Action::Redact => "redact",
            Action::Allow => "allow",
            Action::Block => "block",
            Action::Route => "route",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pseudonymise" => Some(Action::Pseudonymise),
            "redact" => Some(Action::Redact),
            "allow" => Some(Action::Allow),
            "block" => Some(Action::Block),
            "route" => Some(Action::Route),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of sensitivities (a rule's `sensitivity` list and `min_sensitivity` combined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels(u8);

impl Levels {
    pub const ALL: Levels = Levels(0b1111);
    pub const NONE: Levels = Levels(0);

    pub fn only(s: Sensitivity) -> Levels {
        Levels(1 << s as u8)
    }

    pub fn at_least(s: Sensitivity) -> Levels {
        Levels(0b1111 & !((1u8 << s as u8) - 1))
    }

    pub fn union(self, o: Levels) -> Levels {
        Levels(self.0 | o.0)
    }

    pub fn intersect(self, o: Levels) -> Levels {
        Levels(self.0 & o.0)
    }

    pub fn contains(self, s: Sensitivity) -> bool {
        self.0 & (1 << s as u8) != 0
    }

    pub fn is_superset(self, o: Levels) -> bool {
        self.0 & o.0 == o.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The levels in the set, from the least sensitive.
    pub fn iter(self) -> impl DoubleEndedIterator<Item = Sensitivity> {
        Sensitivity::ALL
            .into_iter()
            .filter(move |&s| self.contains(s))
    }

    /// The highest level in the set.
    pub fn max(self) -> Option<Sensitivity> {
        self.iter().next_back()
    }
}

/// One `[[policy.rules]]` entry, validated. Empty lists mean "any".
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    /// Line in the config file, for `check` messages.
    pub line: usize,
    pub entities: BTreeSet<String>,
    pub natures: BTreeSet<Nature>,
    /// `sensitivity` and `min_sensitivity` combined ([`Levels::ALL`] when neither).
    pub levels: Levels,
    pub users: BTreeSet<String>,
    pub teams: BTreeSet<String>,
    pub providers: BTreeSet<String>,
    pub action: Action,
    /// The target of `route`.
    pub route_to: Option<String>,
    /// The model a routed request names instead of its own.
    pub model: Option<String>,
    /// Shown to the user when this rule blocks.
    pub message: Option<String>,
}

impl Rule {
    fn matches(&self, f: &Item<'_>, who: &Principal<'_>, provider: &str) -> bool {
        (self.entities.is_empty() || self.entities.contains(f.entity))
            && (self.natures.is_empty() || self.natures.contains(&f.nature))
            && self.levels.contains(f.sensitivity)
            && (self.users.is_empty() || self.users.contains(who.user))
            && (self.teams.is_empty() || who.team.is_some_and(|t| self.teams.contains(t)))
            && (self.providers.is_empty() || self.providers.contains(provider))
    }

    /// Whether every finding, principal and provider this rule matches is also matched
    /// by `earlier` (which then always wins).
    fn shadowed_by(&self, earlier: &Rule) -> bool {
        fn covers<T: Ord>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> bool {
            a.is_empty() || (!b.is_empty() && b.is_subset(a))
        }
        covers(&earlier.entities, &self.entities)
            && covers(&earlier.natures, &self.natures)
            && earlier.levels.is_superset(self.levels)
            && covers(&earlier.users, &self.users)
            && covers(&earlier.teams, &self.teams)
            && covers(&earlier.providers, &self.providers)
    }

    fn same_conditions(&self, o: &Rule) -> bool {
        self.entities == o.entities
            && self.natures == o.natures
            && self.levels == o.levels
            && self.users == o.users
            && self.teams == o.teams
            && self.providers == o.providers
    }

    /// Whether only secrets can match (which the built-in secret block always takes).
    fn only_secrets(&self) -> bool {
        (!self.natures.is_empty() && self.natures.iter().all(|n| *n == Nature::Secret))
            || (!self.entities.is_empty() && self.entities.iter().all(|e| e == "SECRET"))
    }
}

/// What happens when a request's findings exceed what a provider may receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnExceed {
    Block,
    Route(String),
}

/// What the policy knows about a provider.
#[derive(Debug, Clone)]
pub struct Destination {
    pub api: Api,
    /// The highest sensitivity it may receive.
    pub max_sensitivity: Sensitivity,
    pub on_exceed: OnExceed,
    /// The model a request routed here by `on_exceed` names (a rule's `model` wins).
    pub route_model: Option<String>,
}

/// The compiled `[policy]` section and the providers' declarations.
#[derive(Debug, Clone)]
pub struct Policy {
    /// What findings no rule matches get: pseudonymise, redact, allow or block.
    pub default: Action,
    pub rules: Vec<Rule>,
    pub providers: BTreeMap<String, Destination>,
}

/// One finding as the policy sees it: no value, no span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    pub entity: &'a str,
    pub nature: Nature,
    pub sensitivity: Sensitivity,
}

impl Item<'_> {
    fn is_secret(&self) -> bool {
        self.nature == Nature::Secret || self.entity == "SECRET"
    }
}

/// Who sends the request.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    pub user: &'a str,
    pub team: Option<&'a str>,
}

/// What the policy decided for one finding, at the request's final destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Pseudonymise, redact or allow once the request is forwarded; block or route as the
    /// rule said when the request was blocked.
    pub action: Action,
    pub rule: String,
}

/// What becomes of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Sent to the provider asked for. `rule` decided the most sensitive finding
    /// (`None` without findings).
    Forward { rule: Option<String> },
    /// Sent to `to` instead (naming `model` when set).
    Route {
        to: String,
        model: Option<String>,
        rule: String,
    },
    /// Refused; nothing leaves.
    Block {
        rule: String,
        /// `entity/nature/sensitivity` of the findings that caused it, deduplicated.
        categories: Vec<String>,
        /// The rule's message, or what to do.
        message: String,
    },
}

impl Verdict {
    pub fn rule(&self) -> Option<&str> {
        match self {
            Verdict::Forward { rule } => rule.as_deref(),
            Verdict::Route { rule, .. } | Verdict::Block { rule, .. } => Some(rule),
        }
    }
}

/// The policy's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// One per finding, in input order.
    pub choices: Vec<Choice>,
    pub verdict: Verdict,
    /// Why, step by step, for `scan --explain` (names only, never values); empty
    /// unless from [`Policy::explain`].
    pub trace: Vec<String>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            default: Action::Pseudonymise,
            rules: Vec::new(),
            providers: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// One finding's action, the id of the rule that chose it, and that rule when it
    /// is a `[[policy.rules]]` entry, at `provider`, before any routing.
    fn choose(
        &self,
        f: &Item<'_>,
        who: &Principal<'_>,
        provider: &str,
    ) -> (Action, &str, Option<&Rule>) {
        if f.is_secret() {
            return (Action::Block, RULE_SECRET, None);
        }
        match self.rules.iter().find(|r| r.matches(f, who, provider)) {
            Some(r) => (r.action, &r.id, Some(r)),
            None => (self.default, RULE_DEFAULT, None),
        }
    }

    /// Decides what becomes of a request with `findings`, sent by `who` to `provider`.
    ///
    /// ```
    /// use paravent::detect::{Nature, Sensitivity};
    /// use paravent::policy::{Item, Policy, Principal, Verdict};
    /// let d = Policy::default().decide(
    ///     &[Item { entity: "EMAIL", nature: Nature::Personal, sensitivity: Sensitivity::Confidential }],
    ///     &Principal { user: "alice", team: None },
    ///     "openai",
    /// );
    /// assert_eq!(d.verdict, Verdict::Forward { rule: Some("builtin.default".into()) });
    /// ```
    pub fn decide(&self, findings: &[Item<'_>], who: &Principal<'_>, provider: &str) -> Decision {
        self.decide_traced(findings, who, provider, false)
    }

    /// As [`Policy::decide`], with [`Decision::trace`] filled (for `scan --explain`;
    /// the proxy does not pay for the strings).
    pub fn explain(&self, findings: &[Item<'_>], who: &Principal<'_>, provider: &str) -> Decision {
        self.decide_traced(findings, who, provider, true)
    }

    fn decide_traced(
        &self,
        findings: &[Item<'_>],
        who: &Principal<'_>,
        provider: &str,
        explain: bool,
    ) -> Decision {
        let mut trace = Vec::new();
        let mut at = provider.to_owned();
        // The route taken, if any: (target, model, rule).
        let mut routed: Option<(String, Option<String>, String)> = None;
        loop {
            let mut choices = Vec::with_capacity(findings.len());
            let mut targets: Vec<(String, Option<String>, String)> = Vec::new();
            let mut block: Option<usize> = None;
            for (i, f) in findings.iter().enumerate() {
                let (mut action, rule_id, rule) = self.choose(f, who, &at);
                if explain {
                    let line = format!(
                        "{}/{}/{} at {at}: {action} by {rule_id}, {}",
                        f.entity,
                        f.nature.as_str(),
                        f.sensitivity.as_str(),
                        why(rule_id, rule, self.rules.len())
                    );
                    if !trace.contains(&line) {
                        trace.push(line);
                    }
                }
                if action == Action::Route {
                    let to = rule.and_then(|r| r.route_to.clone()).unwrap_or_default();
                    if to == at {
                        // Already where the rule sends it: the value is pseudonymised.
                        action = Action::Pseudonymise;
                    } else if !targets.iter().any(|t| t.0 == to) {
                        // The rule's model, else the target's route_model.
                        let model = rule.and_then(|r| r.model.clone()).or_else(|| {
                            self.providers.get(&to).and_then(|d| d.route_model.clone())
                        });
                        targets.push((to, model, rule_id.to_owned()));
                    }
                }
                if action == Action::Block && block.is_none() {
                    block = Some(i);
                }
                choices.push(Choice {
                    action,
                    rule: rule_id.to_owned(),
                });
            }
            if let Some(i) = block {
                let rule = choices[i].rule.clone();
                let message = self
                    .rules
                    .iter()
                    .find(|r| r.id == rule)
                    .and_then(|r| r.message.clone())
                    .unwrap_or_else(|| default_block_message(&rule));
                let categories = categories(findings, &choices, |c| c.action == Action::Block);
                return done(choices, block_verdict(rule, categories, message), trace);
            }
            if targets.len() > 1 {
                let names: Vec<String> = targets
                    .iter()
                    .map(|(to, _, rule)| format!("{rule} → {to}"))
                    .collect();
                let categories = categories(findings, &choices, |c| c.action == Action::Route);
                let message = format!(
                    "the policy sends parts of this request to different providers ({}); send them in separate requests, or ask your administrator to reconcile the rules",
                    names.join(", ")
                );
                return done(
                    choices,
                    block_verdict(RULE_ROUTE_CONFLICT.to_owned(), categories, message),
                    trace,
                );
            }
            if let Some(target) = targets.pop() {
                if let Some((first, _, first_rule)) = &routed {
                    let categories = categories(findings, &choices, |c| c.action == Action::Route);
                    let message = format!(
                        "rule {first_rule} routed this request to {first}, where rule {} would route it again to {}; a request is routed once at most, so it was not sent. Ask your administrator to fix the rules",
                        target.2, target.0
                    );
                    return done(
                        choices,
                        block_verdict(RULE_ROUTE_LOOP.to_owned(), categories, message),
                        trace,
                    );
                }
                if let Some(v) = self.api_mismatch(&at, &target.0, &target.2, findings, &choices) {
                    return done(choices, v, trace);
                }
                note!(
                    trace,
                    explain,
                    format!("routed from {at} to {} by {}", target.0, target.2)
                );
                at = target.0.clone();
                routed = Some(target);
                continue;
            }
            // Ceiling.
            let dest = self.providers.get(&at);
            let ceiling = dest.map_or(Sensitivity::Secret, |d| d.max_sensitivity);
            let leaving = findings
                .iter()
                .zip(&choices)
                .filter(|(_, c)| c.action != Action::Redact)
                .map(|(f, _)| f.sensitivity)
                .max();
            if let (Some(level), Some(d)) = (leaving, dest)
                && level > ceiling
            {
                let rule = format!("provider.{at}.max_sensitivity");
                let over = |c: &Choice, f: &Item<'_>| {
                    c.action != Action::Redact && f.sensitivity > ceiling
                };
                let cats: Vec<String> = dedup(
                    findings
                        .iter()
                        .zip(&choices)
                        .filter(|(f, c)| over(c, f))
                        .map(|(f, _)| category(f)),
                );
                note!(
                    trace,
                    explain,
                    format!(
                        "{} exceeds what {at} may receive ({})",
                        level.as_str(),
                        ceiling.as_str()
                    )
                );
                match &d.on_exceed {
                    OnExceed::Block => {
                        // Where the same request could go: providers of the same API
                        // whose ceiling admits it.
                        let allowed: Vec<&str> = self
                            .providers
                            .iter()
                            .filter(|(_, o)| o.api == d.api && o.max_sensitivity >= level)
                            .map(|(n, _)| n.as_str())
                            .collect();
                        let elsewhere = if allowed.is_empty() {
                            "a provider allowed to receive it".to_owned()
                        } else {
                            format!("a provider allowed to receive it ({})", allowed.join(", "))
                        };
                        let message = format!(
                            "{at} may receive data up to \"{}\" and this request holds \"{}\" data; remove it, or use {elsewhere}",
                            ceiling.as_str(),
                            level.as_str()
                        );
                        return done(choices, block_verdict(rule, cats, message), trace);
                    }
                    OnExceed::Route(to) => {
                        if let Some((first, _, first_rule)) = &routed {
                            let message = format!(
                                "rule {first_rule} routed this request to {first}, which may not receive \"{}\" data and would route it again to {to}; a request is routed once at most, so it was not sent",
                                level.as_str()
                            );
                            return done(choices, block_verdict(rule, cats, message), trace);
                        }
                        if let Some(v) = self.api_mismatch(&at, to, &rule, findings, &choices) {
                            return done(choices, v, trace);
                        }
                        note!(
                            trace,
                            explain,
                            format!("routed from {at} to {to} by {rule}")
                        );
                        let model = self.providers.get(to).and_then(|d| d.route_model.clone());
                        routed = Some((to.clone(), model, rule));
                        at = to.clone();
                        continue;
                    }
                }
            }
            let verdict = match routed {
                Some((to, model, rule)) => Verdict::Route { to, model, rule },
                None => Verdict::Forward {
                    rule: most_sensitive_rule(findings, &choices),
                },
            };
            return done(choices, verdict, trace);
        }
    }

    /// A route from `from` to `to` that the request's API cannot take.
    fn api_mismatch(
        &self,
        from: &str,
        to: &str,
        rule: &str,
        findings: &[Item<'_>],
        choices: &[Choice],
    ) -> Option<Verdict> {
        let a = self.providers.get(from)?.api;
        let b = self.providers.get(to).map(|d| d.api);
        if b == Some(a) {
            return None;
        }
        let message = match b {
            Some(b) => format!(
                "rule {rule} routes this request to {to}, which speaks the {} API, not the {} API this request uses; ask your administrator to route it to a provider of the same API",
                b.as_str(),
                a.as_str()
            ),
            None => format!("rule {rule} routes this request to {to}, which is not declared"),
        };
        let cats = categories(findings, choices, |c| c.action != Action::Allow);
        Some(block_verdict(RULE_ROUTE_API.to_owned(), cats, message))
    }

    /// Problems `check` reports: `(is_error, line, message)`. Errors make no rule
    /// behave as written; warnings are rules that can never match or likely mistakes.
    pub fn lint(
        &self,
        users: &BTreeSet<String>,
        teams: &BTreeSet<String>,
    ) -> Vec<(bool, usize, String)> {
        let mut out = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let id = &r.id;
            if r.levels.is_empty() {
                out.push((true, r.line, format!("rule {id:?} can never match: its sensitivity list and min_sensitivity exclude each other")));
            }
            if r.only_secrets() {
                if r.action == Action::Allow {
                    out.push((true, r.line, format!("rule {id:?} allows secrets, which contradicts the built-in secret block ({RULE_SECRET}); secrets are always blocked, remove this rule")));
                } else {
                    out.push((false, r.line, format!("rule {id:?} can never match: secrets are always blocked by {RULE_SECRET} first")));
                }
            }
            if !users.is_empty() || !teams.is_empty() {
                for u in r.users.iter().filter(|u| !users.contains(*u)) {
                    out.push((false, r.line, format!("rule {id:?} names user {u:?}, which no [[keys.virtual]] entry or directory row has: it never matches for that user")));
                }
                for t in r.teams.iter().filter(|t| !teams.contains(*t)) {
                    out.push((false, r.line, format!("rule {id:?} names team {t:?}, which no [[keys.virtual]] entry, directory row or [teams.<name>] table has: it never matches for that team")));
                }
            } else if !r.teams.is_empty() {
                out.push((false, r.line, format!("rule {id:?} has a teams condition but no team is declared: teams come from [[keys.virtual]], the [identity] directory or [teams.<name>] tables, so it never matches")));
            }
            for earlier in &self.rules[..i] {
                if r.same_conditions(earlier) && r.action != earlier.action {
                    out.push((true, r.line, format!("rule {id:?} has the same conditions as rule {:?} (line {}) but a different action ({} vs {}): the earlier one always wins; remove one", earlier.id, earlier.line, r.action, earlier.action)));
                    break;
                }
                if r.shadowed_by(earlier) {
                    out.push((false, r.line, format!("rule {id:?} can never match: rule {:?} (line {}) comes first and matches everything it does", earlier.id, earlier.line)));
                    break;
                }
            }
            if let Some(to) = &r.route_to {
                let sources: Vec<&String> = if r.providers.is_empty() {
                    self.providers.keys().collect()
                } else {
                    r.providers.iter().collect()
                };
                if let Some(t) = self.providers.get(to) {
                    let odd: Vec<&str> = sources
                        .iter()
                        .filter(|s| s.as_str() != to)
                        .filter(|s| {
                            self.providers
                                .get(s.as_str())
                                .is_some_and(|p| p.api != t.api)
                        })
                        .map(|s| s.as_str())
                        .collect();
                    if !odd.is_empty() {
                        let error = !r.providers.is_empty();
                        out.push((error, r.line, format!("rule {id:?} routes to {to} (api {}), which requests to {} (another API) cannot take: those are blocked ({RULE_ROUTE_API})", t.api.as_str(), odd.join(", "))));
                    }
                    if let Some(max) = r.levels.max()
                        && max > t.max_sensitivity
                    {
                        out.push((false, r.line, format!("rule {id:?} routes {} data to {to}, whose max_sensitivity is {}: such requests will be blocked or routed again by {to}'s on_exceed", max.as_str(), t.max_sensitivity.as_str())));
                    }
                }
            }
        }
        for (name, d) in &self.providers {
            if let OnExceed::Route(to) = &d.on_exceed
                && let Some(t) = self.providers.get(to)
                && t.max_sensitivity < d.max_sensitivity
            {
                out.push((false, 0, format!("[providers.{name}] on_exceed routes to {to}, whose max_sensitivity ({}) is lower than {name}'s ({}): what exceeds {name} exceeds {to} too and is blocked", t.max_sensitivity.as_str(), d.max_sensitivity.as_str())));
            }
        }
        out
    }
}

fn done(choices: Vec<Choice>, verdict: Verdict, trace: Vec<String>) -> Decision {
    Decision {
        choices,
        verdict,
        trace,
    }
}

fn block_verdict(rule: String, categories: Vec<String>, message: String) -> Verdict {
    Verdict::Block {
        rule,
        categories,
        message,
    }
}

fn category(f: &Item<'_>) -> String {
    format!(
        "{}/{}/{}",
        f.entity,
        f.nature.as_str(),
        f.sensitivity.as_str()
    )
}

fn dedup(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for c in it {
        if !v.contains(&c) {
            v.push(c);
        }
    }
    v
}

fn categories(
    findings: &[Item<'_>],
    choices: &[Choice],
    keep: impl Fn(&Choice) -> bool,
) -> Vec<String> {
    dedup(
        findings
            .iter()
            .zip(choices)
            .filter(|(_, c)| keep(c))
            .map(|(f, _)| category(f)),
    )
}

fn default_block_message(rule: &str) -> String {
    if rule == RULE_SECRET {
        "secrets (keys, tokens, passwords) may not be sent to AI services; remove it and, if it was real, rotate it".to_owned()
    } else {
        "the company's policy does not allow this kind of data to be sent to this provider; remove it from your request, or ask your administrator or DPO".to_owned()
    }
}

/// The rule that decided the most sensitive finding (the first of them on a tie).
fn most_sensitive_rule(findings: &[Item<'_>], choices: &[Choice]) -> Option<String> {
    let mut best: Option<(Sensitivity, &str)> = None;
    for (f, c) in findings.iter().zip(choices) {
        if best.is_none_or(|(s, _)| f.sensitivity > s) {
            best = Some((f.sensitivity, &c.rule));
        }
    }
    best.map(|(_, r)| r.to_owned())
}

#[cfg(test)]
mod tests;
