//! \[pure\] Provider governance and assistant profiles (competences C5 and C7):
//!
//! - each provider's declared data terms (`[providers.X.terms]`: region, retention,
//!   training use, data-processing agreement; `jurisdiction` stays on the provider),
//!   which `check` asks for and the trail records;
//! - the settings Paravent enforces on every request to a provider to limit what it
//!   collects (`[providers.X.settings]`: OpenAI's `store = false`, `user`, `metadata`,
//!   `safety_identifier`, Anthropic's `metadata.user_id` dropped or hashed), applied
//!   after pseudonymisation, each recorded as applied (`store=false`, `user=hashed`);
//! - assistant profiles (`[assistants.NAME]`): a system prompt, the providers and models
//!   allowed, policy overrides, an owner and a purpose, selected by the model alias
//!   `assistant:NAME` or by a virtual key bound to them, with a preference for providers
//!   under EU jurisdiction.
//!
//! The request-body edits are in each API's module ([`crate::api`]); this module decides
//! what to do. It never logs; the only value it touches is hashed with the deployment's
//! token key ([`crate::vault::TokenKey::setting_hash`]) before it leaves.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::api::{Api, Endpoint};
use crate::config::{Mode, ProviderConfig};
use crate::detect::Sensitivity;
use crate::policy::{Action, Policy};
use crate::walk::{MemberKind, Walked};

/// The model alias prefix that selects an assistant profile (`assistant:recrutement`).
pub const ASSISTANT_ALIAS_PREFIX: &str = "assistant:";

/// Why Paravent chose the provider (the record's `route_reason`): the profile preferred
/// an EU-jurisdiction provider among those allowed.
pub const REASON_EU_PREFERENCE: &str = "eu-preference";
/// The profile's providers did not include the one asked for (or it has one only).
pub const REASON_PROFILE: &str = "profile";
/// A policy rule routed the request.
pub const REASON_POLICY: &str = "policy";
/// The destination's `max_sensitivity` routed it (`on_exceed = "route:…"`).
pub const REASON_MAX_SENSITIVITY: &str = "max-sensitivity";

/// `[providers.X.terms]`: the provider's data terms as the company's contract and the
/// provider's published terms give them. Absent keys are unknown (and `check` says so).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// Where the data is processed (`eu-west`, `France`, `on-premises`…), free text.
    pub region: Option<String>,
    /// How long the provider keeps requests and answers, in days (0: not kept).
    pub retention_days: Option<u32>,
    /// Whether the provider may train models on the data.
    pub training_use: Option<bool>,
    /// Whether a data-processing agreement (GDPR art. 28) is in place with it.
    pub dpa: Option<bool>,
}

/// What Paravent does to an identifying field before it leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldAction {
    /// The field is removed.
    Drop,
    /// Each string in it is replaced by a keyed hash (stable, opaque).
    Hash,
    /// Left as the client sent it (after pseudonymisation).
    Keep,
}

/// `[providers.X.settings]`: the settings Paravent enforces on every request to X.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// OpenAI API: `store = false` is set in every chat and responses request (the
    /// provider keeps no stored completion or response). Only `false` is accepted.
    pub store: Option<bool>,
    /// OpenAI API: the end-user identifier `user`.
    pub user: Option<FieldAction>,
    /// OpenAI API: the developer's `metadata` tags.
    pub metadata: Option<FieldAction>,
    /// OpenAI API: the end-user identifier `safety_identifier`.
    pub safety_identifier: Option<FieldAction>,
    /// Anthropic API: `metadata.user_id`.
    pub user_id: Option<FieldAction>,
}

/// A setting's record spelling (`user=hashed`): static, so that recording it per
/// request allocates nothing.
fn label(field: &'static str, action: FieldAction) -> Option<&'static str> {
    Some(match (field, action) {
        (_, FieldAction::Keep) => return None,
        ("user", FieldAction::Drop) => "user=dropped",
        ("user", FieldAction::Hash) => "user=hashed",
        ("metadata", FieldAction::Drop) => "metadata=dropped",
        ("metadata", FieldAction::Hash) => "metadata=hashed",
        ("safety_identifier", FieldAction::Drop) => "safety_identifier=dropped",
        ("safety_identifier", FieldAction::Hash) => "safety_identifier=hashed",
        ("user_id", FieldAction::Drop) => "user_id=dropped",
        ("user_id", FieldAction::Hash) => "user_id=hashed",
        _ => return None,
    })
}

/// The record spelling of `store = false`.
pub const STORE_FALSE: &str = "store=false";

impl Settings {
    /// The fields this API has, with their actions, as `(name, action)`.
    fn fields(&self) -> [(&'static str, Option<FieldAction>); 4] {
        [
            ("user", self.user),
            ("metadata", self.metadata),
            ("safety_identifier", self.safety_identifier),
            ("user_id", self.user_id),
        ]
    }

    /// What is wrong with these settings for a provider speaking `api`: each setting
    /// the API does not have, and `store = true`.
    pub fn problems(&self, api: Api) -> Vec<String> {
        let mut out = Vec::new();
        let openai = api == Api::Openai;
        if self.store == Some(true) {
            out.push("store = true is not a setting Paravent enforces: use store = false, or leave it out to let clients choose".to_owned());
        }
        if self.store.is_some() && !openai {
            out.push(format!(
                "store: the {} API has no such setting (OpenAI API only)",
                api.as_str()
            ));
        }
        for (name, action) in self.fields() {
            if action.is_none() {
                continue;
            }
            let has = match name {
                "user_id" => api == Api::Anthropic,
                _ => openai,
            };
            if !has {
                out.push(format!(
                    "{name}: the {} API has no such setting ({})",
                    api.as_str(),
                    if name == "user_id" {
                        "Anthropic API only"
                    } else {
                        "OpenAI API only"
                    }
                ));
            }
        }
        out
    }

    /// What Paravent enforces, in the record's spelling, sorted (the `governance`
    /// record's `settings`).
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .fields()
            .into_iter()
            .filter_map(|(n, a)| label(n, a?))
            .map(str::to_owned)
            .collect();
        if self.store == Some(false) {
            out.push(STORE_FALSE.to_owned());
        }
        out.sort();
        out
    }

    /// Whether anything is enforced at all.
    pub fn is_empty(&self) -> bool {
        self.store != Some(false)
            && self
                .fields()
                .iter()
                .all(|(_, a)| a.is_none_or(|a| a == FieldAction::Keep))
    }

    /// Applies the settings to a request body of `endpoint` at `path` (after the
    /// provider prefix; already pseudonymised), pushing each one that acted onto
    /// `applied` (`store=false` always acts where the endpoint takes it; a drop or a
    /// hash acts when the field is present). `hash` turns a field's value (as it
    /// leaves) into its opaque replacement.
    pub fn apply(
        &self,
        endpoint: Endpoint,
        path: &str,
        walked: &mut Walked,
        hash: &mut dyn FnMut(&str, &str) -> String,
        applied: &mut Vec<&'static str>,
    ) {
        use Endpoint as E;
        if !walked_is_object(walked) {
            return;
        }
        let (store, fields): (bool, &[(&'static str, &[&str])]) = match endpoint {
            E::OpenaiChat | E::OpenaiResponses => (
                true,
                &[
                    ("user", &["user"]),
                    ("metadata", &["metadata"]),
                    ("safety_identifier", &["safety_identifier"]),
                ],
            ),
            E::OpenaiCompletions | E::OpenaiEmbeddings => (false, &[("user", &["user"])]),
            E::AnthropicMessages => (false, &[("user_id", &["metadata", "user_id"])]),
            _ => return,
        };
        // The Responses API's token count takes no `store` (and refuses fields it
        // does not know).
        let store = store && !path.ends_with("/input_tokens");
        if store && self.store == Some(false) {
            walked.set_top_level("store", crate::walk::Json::Bool(false));
            applied.push(STORE_FALSE);
        }
        for &(name, path) in fields {
            let Some(action) = self
                .fields()
                .into_iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, a)| a)
            else {
                continue;
            };
            let acted = match action {
                FieldAction::Keep => false,
                FieldAction::Drop => walked.remove_at(path),
                FieldAction::Hash => match walked.kind_at(path) {
                    None | Some(MemberKind::Null) => false,
                    Some(_) => walked.map_strings_at(path, &mut |v| hash(name, v)) > 0,
                },
            };
            if acted && let Some(l) = label(name, action) {
                applied.push(l);
            }
        }
    }
}

fn walked_is_object(walked: &Walked) -> bool {
    walked.kind_at(&[]) == Some(MemberKind::Object)
}

/// The providers' terms keys `check` asks for, missing from a provider's declaration
/// (`dpa` is not asked of a `local` provider: nobody processes data for the company).
pub fn missing_terms(p: &ProviderConfig) -> Vec<&'static str> {
    let t = &p.terms;
    let local = p.jurisdiction.as_deref() == Some("local");
    let mut out = Vec::new();
    if p.jurisdiction.is_none() {
        out.push("jurisdiction");
    }
    if t.region.is_none() {
        out.push("region");
    }
    if t.retention_days.is_none() {
        out.push("retention_days");
    }
    if t.training_use.is_none() {
        out.push("training_use");
    }
    if t.dpa.is_none() && !local {
        out.push("dpa");
    }
    out
}

/// The EU member states' ISO 3166 codes, and `EU` itself: jurisdictions a profile's
/// `prefer_eu` prefers.
const EU_JURISDICTIONS: &[&str] = &[
    "EU", "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// Whether a provider's jurisdiction is the EU's (`EU` or a member state's code).
pub fn is_eu(jurisdiction: Option<&str>) -> bool {
    jurisdiction.is_some_and(|j| EU_JURISDICTIONS.contains(&j))
}

/// `[assistants.NAME]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAssistant {
    owner: String,
    purpose: String,
    #[serde(default)]
    system_prompt: Option<String>,
    providers: Vec<Spanned<String>>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    prefer_eu: bool,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    max_sensitivity: Option<Spanned<String>>,
    #[serde(default)]
    default: Option<Spanned<String>>,
}

/// An assistant profile, validated.
#[derive(Debug, Clone)]
pub struct Assistant {
    pub name: String,
    /// Who answers for it (a person or a team), and what it is for.
    pub owner: String,
    pub purpose: String,
    /// Sent first, as the system message in the API's own shape.
    pub system_prompt: Option<String>,
    /// Allowed providers, in preference order.
    pub providers: Vec<String>,
    /// Allowed models; the first is the one `assistant:NAME` stands for.
    pub models: Vec<String>,
    /// Among the allowed providers, the first under EU jurisdiction is chosen.
    pub prefer_eu: bool,
    /// Enforce or observe, for every request of this profile (wins over the team's
    /// and the provider's).
    pub mode: Option<Mode>,
    /// The policy with the profile's overrides (`default`, `max_sensitivity` lowering
    /// every destination's ceiling), when it has any.
    pub policy: Option<Policy>,
}

impl Assistant {
    /// The trail's view of the profile.
    pub fn info(&self) -> crate::audit::AssistantInfo {
        crate::audit::AssistantInfo {
            owner: self.owner.clone(),
            purpose: self.purpose.clone(),
            providers: self.providers.clone(),
            prefer_eu: self.prefer_eu,
        }
    }

    /// The provider a request of this profile goes to, among the profile's providers
    /// that speak `requested`'s API and that `allowed` lets the client use, and why
    /// when it is not the one asked for: the profile's only provider (`profile`), the
    /// first under EU jurisdiction with `prefer_eu` (`eu-preference`), else the one
    /// asked for when allowed, else the profile's first (`profile`). `None` when no
    /// provider qualifies.
    pub fn choose<'a>(
        &self,
        requested: &'a ProviderConfig,
        providers: &'a BTreeMap<String, ProviderConfig>,
        allowed: &dyn Fn(&str) -> bool,
    ) -> Option<(&'a ProviderConfig, Option<&'static str>)> {
        let candidates: Vec<&ProviderConfig> = self
            .providers
            .iter()
            .filter_map(|n| providers.get(n))
            .filter(|p| p.api == requested.api && allowed(&p.name))
            .collect();
        let first = *candidates.first()?;
        let asked = |p: &ProviderConfig| p.name == requested.name;
        let reason = |p: &'a ProviderConfig, why| (p, (!asked(p)).then_some(why));
        if self.providers.len() == 1 {
            return Some(reason(first, REASON_PROFILE));
        }
        if self.prefer_eu
            && let Some(eu) = candidates.iter().find(|p| is_eu(p.jurisdiction.as_deref()))
        {
            return Some(reason(eu, REASON_EU_PREFERENCE));
        }
        if let Some(p) = candidates.iter().find(|p| asked(p)) {
            return Some((p, None));
        }
        Some(reason(first, REASON_PROFILE))
    }
}

/// The name an alias selects (`assistant:recrutement` → `recrutement`).
pub fn alias(model: &str) -> Option<&str> {
    model.strip_prefix(ASSISTANT_ALIAS_PREFIX)
}

/// Compiles `[assistants]`: every problem with its line into `errors`, advice into
/// `warnings`.
pub(crate) fn compile_assistants(
    raw: &BTreeMap<Spanned<String>, RawAssistant>,
    providers: &BTreeMap<String, Option<String>>,
    policy: &Policy,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, Assistant> {
    let mut out = BTreeMap::new();
    for (aname, a) in raw {
        let name = aname.get_ref();
        let here = at(aname.span());
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            errors.push(format!(
                "{here}: assistant name {name:?} must be lower-case letters, digits, - or _"
            ));
        }
        if a.owner.trim().is_empty() || a.purpose.trim().is_empty() {
            errors.push(format!(
                "{here}: [assistants.{name}] needs an owner and a purpose (they are in the audit trail and the report)"
            ));
        }
        if a.providers.is_empty() {
            errors.push(format!(
                "{here}: [assistants.{name}] providers must name at least one declared provider"
            ));
        }
        for p in &a.providers {
            if !providers.contains_key(p.get_ref()) {
                errors.push(format!(
                    "{}: [assistants.{name}] providers names no declared provider {:?}",
                    at(p.span()),
                    p.get_ref()
                ));
            }
        }
        if a.models.is_empty() {
            errors.push(format!(
                "{here}: [assistants.{name}] models must name at least one model (the first is what assistant:{name} stands for)"
            ));
        }
        if a.prefer_eu
            && !a
                .providers
                .iter()
                .any(|p| is_eu(providers.get(p.get_ref()).and_then(|j| j.as_deref())))
        {
            warnings.push(format!(
                "{here}: [assistants.{name}] prefer_eu, but none of its providers has an EU jurisdiction"
            ));
        }
        let max = a.max_sensitivity.as_ref().and_then(|s| {
            let v = Sensitivity::parse(s.get_ref());
            if v.is_none() {
                errors.push(format!(
                    "{}: [assistants.{name}] max_sensitivity {:?} is not a sensitivity (one of: {})",
                    at(s.span()),
                    s.get_ref(),
                    Sensitivity::NAMES.join(", ")
                ));
            }
            v
        });
        let default = a
            .default
            .as_ref()
            .and_then(|s| match Action::parse(s.get_ref()) {
                Some(
                    a @ (Action::Pseudonymise | Action::Redact | Action::Allow | Action::Block),
                ) => Some(a),
                _ => {
                    errors.push(format!(
                    "{}: [assistants.{name}] default must be pseudonymise, redact, allow or block",
                    at(s.span())
                ));
                    None
                }
            });
        if a.mode == Some(Mode::Observe) {
            warnings.push(format!(
                "{here}: [assistants.{name}] mode = \"observe\": its requests leave as sent (the records say what enforcement would have done)"
            ));
        }
        let policy = (max.is_some() || default.is_some()).then(|| {
            let mut p = policy.clone();
            if let Some(d) = default {
                p.default = d;
            }
            if let Some(m) = max {
                for d in p.providers.values_mut() {
                    d.max_sensitivity = d.max_sensitivity.min(m);
                }
            }
            p
        });
        out.insert(
            name.clone(),
            Assistant {
                name: name.clone(),
                owner: a.owner.clone(),
                purpose: a.purpose.clone(),
                system_prompt: a.system_prompt.clone().filter(|s| !s.is_empty()),
                providers: a.providers.iter().map(|p| p.get_ref().clone()).collect(),
                models: a.models.clone(),
                prefer_eu: a.prefer_eu,
                mode: a.mode,
                policy,
            },
        );
    }
    out
}

/// The governance in force, for the trail's `chain-start`, `file-start` and `reload`
/// records: every provider's terms and enforced settings, and the assistant profiles.
pub fn audit_governance(
    providers: &BTreeMap<String, ProviderConfig>,
    assistants: &BTreeMap<String, Assistant>,
) -> crate::audit::Governance {
    crate::audit::Governance {
        providers: providers
            .iter()
            .map(|(n, p)| {
                (
                    n.clone(),
                    crate::audit::ProviderTerms {
                        jurisdiction: p.jurisdiction.clone(),
                        region: p.terms.region.clone(),
                        retention_days: p.terms.retention_days,
                        training_use: p.terms.training_use,
                        dpa: p.terms.dpa,
                        settings: p.settings.describe(),
                    },
                )
            })
            .collect(),
        assistants: assistants
            .iter()
            .map(|(n, a)| (n.clone(), a.info()))
            .collect(),
    }
}

#[cfg(test)]
mod tests;
