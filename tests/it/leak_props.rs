//! "A value planted anywhere in a body never reaches the provider" (issue 9), one
//! property per API: OpenAI chat, OpenAI Responses, Anthropic messages, Gemini
//! generateContent and Ollama chat.
//!
//! Each case builds a request from the API's own structure (turns, text parts, tools with
//! JSON schemas, a tool call and its result, a system prompt, sampling options), adds
//! unknown fields of random shape at random depths (strings with Unicode separators,
//! numbers, booleans, nested objects and arrays), and plants one value from a small pool
//! (e-mail, NIR, IBAN, card, phone; identifiers grouped with a random separator) at a
//! random place: a text, a JSON number, an object key, tool-call arguments (as a string of
//! JSON or as an object), a citation, an unknown field, a header or a query parameter.
//!
//! Each case sends the request twice through one Paravent in front of the mock provider:
//! without the planted value, it must be forwarded and an ordinary word it carries must
//! come back in the mock's echo (the generated bodies are ones the proxy accepts); with
//! it, the provider must not receive the value in clear (it was replaced, or the request
//! refused), and a forwarded request must still bring the ordinary word back intact.
//!
//! 64 cases per API; `PROPTEST_CASES` sets another count. Failing inputs are printed
//! (shrunk), not persisted: a failure worth keeping becomes a case of the leak table.

use http::{Method, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use crate::support::leak::received_in_clear;
use crate::support::proxy::{EMAIL, Harness, IBAN, PHONE};

/// The pool of planted values (synthetic; check digits right).
const NIR: &str = "1 85 05 78 006 084 91";
const NIR_B: &str = "2 90 01 75 123 456 05";
const CARD: &str = "4111 1111 1111 1111";
const CARD_B: &str = "5555 5555 5555 4444";
const IBAN_DE: &str = "DE89 3704 0044 0532 0130 00";
const PHONE_LYON: &str = "+33 4 72 00 00 00";
const EMAIL_B: &str = "claire.fontaine@exemple.com";

/// Ordinary words: the fillers' vocabulary and the ordinary value's stem. None of them
/// is personal data or looks like it.
const WORDS: &[&str] = &[
    "budget",
    "lavande",
    "trimestre",
    "réunion",
    "projet",
    "tableau",
    "livraison",
    "contrat",
    "annexe",
    "synthèse",
    "planning",
    "meeting",
    "summary",
    "invoice",
    "draft",
    "outline",
    "étape",
    "relecture",
    "version",
    "objectif",
];

/// Separators a filler puts between its words, Unicode spaces and dashes included.
const FILLER_SEPARATORS: &[&str] = &[
    " ", " ", " ", "\u{202F}", "\u{00A0}", "\u{2009}", " - ", " – ", ", ", ".\n",
];

/// How an identifier's groups are separated in the body (spaces, Unicode spaces,
/// dashes, dots, nothing).
const BODY_SEPARATORS: &[&str] = &[" ", "\u{202F}", "\u{00A0}", "\u{2009}", "-", ".", ""];
/// The same in a header value, which is ASCII.
const HEADER_SEPARATORS: &[&str] = &[" ", "-", ".", ""];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Nir,
    Iban,
    Card,
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In the text of a turn.
    Text,
    /// A JSON number in an unknown field (card or NIR digits).
    Number,
    /// An object key, in some object of the body.
    Key,
    /// A value in the tool call's arguments, written as a string of JSON.
    ToolArgString,
    /// A value in the tool call's arguments, written as an object.
    ToolArgObject,
    /// In a citation sent back with an earlier answer.
    Citation,
    /// In an unknown field, in some object of the body.
    Unknown,
    Header,
    Query,
}

/// The APIs under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Chat,
    Responses,
    Anthropic,
    Gemini,
    Ollama,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::Chat => "/openai/v1/chat/completions",
            Api::Responses => "/openai/v1/responses",
            Api::Anthropic => "/anthropic/v1/messages",
            Api::Gemini => "/gemini/v1beta/models/gemini-x:generateContent",
            Api::Ollama => "/ollama/api/chat",
        }
    }

    /// The places a value can be planted in this API's requests.
    fn places(self) -> Vec<Place> {
        use Place::*;
        let mut p = vec![
            Text,
            Number,
            Key,
            ToolArgString,
            ToolArgObject,
            Unknown,
            Header,
            Query,
        ];
        if matches!(self, Api::Chat | Api::Responses | Api::Anthropic) {
            p.push(Citation);
        }
        p
    }

    /// The headers an SDK sends, with the client's own key.
    fn headers(self) -> Vec<(&'static str, &'static str)> {
        let mut h = vec![("content-type", "application/json")];
        match self {
            Api::Chat | Api::Responses => h.push(("authorization", "Bearer sk-client-own-key")),
            Api::Anthropic => {
                h.push(("x-api-key", "sk-ant-client-own-key"));
                h.push(("anthropic-version", "2023-06-01"));
            }
            Api::Gemini => h.push(("x-goog-api-key", "client-own-gemini-key")),
            Api::Ollama => {}
        }
        h
    }

    /// Headers a client may set, where a value can be planted.
    fn header_names(self) -> &'static [&'static str] {
        match self {
            Api::Chat | Api::Responses => &["x-end-user", "openai-organization", "x-note"],
            Api::Anthropic => &["x-end-user", "anthropic-beta", "x-note"],
            Api::Gemini => &["x-goog-user-project", "user-agent", "x-note"],
            Api::Ollama => &["x-end-user", "user-agent", "x-note"],
        }
    }

    /// Does the mock echo the request's text in its answer? (Its chat answer to a request
    /// with tools is a tool call about the last text only.)
    fn echoes(self, spec: &Spec) -> bool {
        self != Api::Chat || spec.tools.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Tool {
    name: String,
    description: String,
    properties: Vec<String>,
}

#[derive(Debug, Clone)]
struct Plant {
    kind: Kind,
    /// Picks the value of the kind and its separator.
    variant: usize,
    place: Place,
    /// Picks the turn, the object or the header where it goes.
    at: usize,
}

/// One generated request: the structure, the noise, the ordinary word and the plant.
#[derive(Debug, Clone)]
struct Spec {
    system: String,
    /// The texts of the user's turns; `true`: sent as text parts.
    turns: Vec<(String, bool)>,
    tools: Vec<Tool>,
    /// The arguments of an earlier tool call (name, ordinary values), and its result.
    tool_call: Option<(Vec<(String, Value)>, String)>,
    /// Unknown fields: where (an index into the body's objects), key, value.
    noise: Vec<(usize, String, Value)>,
    temperature: f64,
    /// An ordinary word the mock must echo back intact.
    ordinary: String,
    plant: Plant,
}

impl Plant {
    /// The value as it must not arrive (its canonical spelling).
    fn value(&self) -> &'static str {
        let pick =
            |a: &'static str, b: &'static str| if self.variant.is_multiple_of(2) { a } else { b };
        match self.kind {
            Kind::Email => pick(EMAIL, EMAIL_B),
            Kind::Nir => pick(NIR, NIR_B),
            Kind::Iban => pick(IBAN, IBAN_DE),
            Kind::Card => pick(CARD, CARD_B),
            Kind::Phone => pick(PHONE, PHONE_LYON),
        }
    }

    /// The value as written in the request: an identifier's groups joined by a random
    /// separator (an ASCII one in a header).
    fn written(&self) -> String {
        let v = self.value();
        if self.kind == Kind::Email {
            return v.to_owned();
        }
        let seps = if self.place == Place::Header {
            HEADER_SEPARATORS
        } else {
            BODY_SEPARATORS
        };
        v.replace(' ', seps[(self.variant / 2) % seps.len()])
    }

    /// The value's digits as a JSON number (cards and NIRs).
    fn number(&self) -> Option<Value> {
        matches!(self.kind, Kind::Card | Kind::Nir)
            .then(|| serde_json::from_str(&self.value().replace(' ', "")).expect("digits"))
    }
}

// --- Strategies ---

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_owned)
}

/// Ordinary text: words, small numbers and separators, Unicode ones included.
fn filler() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => word(),
        1 => (0u32..1000).prop_map(|n| n.to_string()),
        2 => prop::sample::select(FILLER_SEPARATORS).prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 1..8).prop_map(|p| p.concat())
}

/// An unknown key (never a case variant of a known field).
fn unknown_key() -> impl Strategy<Value = String> {
    (word(), 0u8..10).prop_map(|(w, n)| format!("x_{w}{n}"))
}

/// A JSON value of random shape, nested up to three levels.
fn noise_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        3 => filler().prop_map(Value::String),
        2 => (0u32..1000).prop_map(|n| json!(n)),
        1 => (0u32..1000).prop_map(|n| json!(f64::from(n) / 8.0)),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((unknown_key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn tool() -> impl Strategy<Value = Tool> {
    (word(), filler(), prop::collection::vec(word(), 1..4)).prop_map(
        |(name, description, mut properties)| {
            properties.sort();
            properties.dedup();
            Tool {
                name: format!("outil_{name}"),
                description,
                properties,
            }
        },
    )
}

fn plant(api: Api) -> impl Strategy<Value = Plant> {
    let kind = prop::sample::select(vec![
        Kind::Email,
        Kind::Nir,
        Kind::Iban,
        Kind::Card,
        Kind::Phone,
    ]);
    (
        kind,
        0usize..64,
        prop::sample::select(api.places()),
        0usize..64,
    )
        .prop_map(|(kind, variant, place, at)| {
            // A JSON number can only hold digits.
            let kind = if place == Place::Number && !matches!(kind, Kind::Card | Kind::Nir) {
                Kind::Card
            } else {
                kind
            };
            Plant {
                kind,
                variant,
                place,
                at,
            }
        })
}

fn spec(api: Api) -> impl Strategy<Value = Spec> {
    let arg = prop_oneof![
        filler().prop_map(Value::String),
        (0u32..1000).prop_map(|n| json!(n)),
    ];
    (
        (
            filler(),
            prop::collection::vec((filler(), any::<bool>()), 1..4),
            prop::collection::vec(tool(), 0..3),
            prop::option::of((prop::collection::vec((word(), arg), 0..3), filler())),
        ),
        (
            prop::collection::vec((0usize..64, unknown_key(), noise_value()), 0..4),
            0u32..20,
            (word(), 100u32..1000),
            plant(api),
        ),
    )
        .prop_map(
            |((system, turns, tools, tool_call), (noise, t, (w, n), plant))| {
                // Tool arguments need a tool call to go into.
                let tool_call = match (tool_call, plant.place) {
                    (None, Place::ToolArgString | Place::ToolArgObject) => {
                        Some((Vec::new(), "ok".to_owned()))
                    }
                    (tc, _) => tc,
                };
                let ascii: String = w.chars().filter(char::is_ascii_alphabetic).collect();
                Spec {
                    system,
                    turns,
                    tools,
                    tool_call,
                    noise,
                    temperature: f64::from(t) / 10.0,
                    ordinary: format!("temoin-{ascii}-{n}"),
                    plant,
                }
            },
        )
}

// --- Building a request ---

/// The request a spec describes, with or without its planted value.
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

/// The tool call's arguments as an object, with the planted value when it goes there.
fn arguments(spec: &Spec, planted: bool) -> Map<String, Value> {
    let mut args: Map<String, Value> = spec
        .tool_call
        .as_ref()
        .map(|(a, _)| a.iter().cloned().collect())
        .unwrap_or_default();
    let p = &spec.plant;
    if planted && matches!(p.place, Place::ToolArgString | Place::ToolArgObject) {
        let v = match p.number() {
            Some(n) if p.at % 2 == 1 => n,
            _ => Value::String(p.written()),
        };
        args.insert("ref".to_owned(), v);
    }
    args
}

/// Arguments as the API writes them, or in the other form when the plant asks for it.
fn arguments_as(spec: &Spec, planted: bool, as_string: bool) -> Value {
    let args = Value::Object(arguments(spec, planted));
    let place = spec.plant.place;
    let string = if planted && place == Place::ToolArgString {
        true
    } else if planted && place == Place::ToolArgObject {
        false
    } else {
        as_string
    };
    if string {
        Value::String(args.to_string())
    } else {
        args
    }
}

/// The text of turn `i`, with the planted value when it goes there, and the ordinary
/// word at the end of the last turn.
fn turn_text(spec: &Spec, i: usize, planted: bool) -> String {
    let mut t = spec.turns[i].0.clone();
    let p = &spec.plant;
    if planted && p.place == Place::Text && p.at % spec.turns.len() == i {
        t.push(' ');
        t.push_str(&p.written());
        t.push(' ');
    }
    if i + 1 == spec.turns.len() {
        t.push(' ');
        t.push_str(&spec.ordinary);
    }
    t
}

/// A citation's quoted text.
fn cited(spec: &Spec, planted: bool) -> String {
    if planted && spec.plant.place == Place::Citation {
        format!("selon la fiche : {}", spec.plant.written())
    } else {
        "selon la fiche".to_owned()
    }
}

fn schema(t: &Tool, gemini: bool) -> Value {
    let ty = if gemini { "STRING" } else { "string" };
    let props: Map<String, Value> = t
        .properties
        .iter()
        .map(|p| {
            (
                p.clone(),
                json!({"type": ty, "description": format!("le {p}")}),
            )
        })
        .collect();
    json!({"type": if gemini { "OBJECT" } else { "object" }, "properties": props})
}

fn chat_body(spec: &Spec, planted: bool) -> Value {
    let mut messages = vec![json!({"role": "system", "content": spec.system})];
    for i in 0..spec.turns.len() {
        let text = turn_text(spec, i, planted);
        let content = if spec.turns[i].1 {
            json!([{"type": "text", "text": text}])
        } else {
            json!(text)
        };
        messages.push(json!({"role": "user", "content": content}));
        if i == 0 {
            if let Some((_, result)) = &spec.tool_call {
                let name = spec.tools.first().map_or("outil", |t| t.name.as_str());
                messages.push(json!({"role": "assistant", "content": null,
                    "tool_calls": [{"id": "call_1", "type": "function", "function": {
                        "name": name, "arguments": arguments_as(spec, planted, true)}}]}));
                messages.push(json!({"role": "tool", "tool_call_id": "call_1", "content": result}));
            }
            if spec.plant.place == Place::Citation {
                messages.push(json!({"role": "assistant", "content": "Voici la fiche.",
                    "annotations": [{"type": "url_citation", "url_citation": {
                        "url": "https://example.com/fiche", "title": cited(spec, planted),
                        "start_index": 0, "end_index": 5}}]}));
            }
        }
    }
    let mut body = json!({"model": "gpt-x", "temperature": spec.temperature, "messages": messages});
    if !spec.tools.is_empty() {
        body["tools"] = spec
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {"name": t.name,
                "description": t.description, "parameters": schema(t, false)}})
            })
            .collect();
    }
    body
}

fn responses_body(spec: &Spec, planted: bool) -> Value {
    let mut input = Vec::new();
    for i in 0..spec.turns.len() {
        let text = turn_text(spec, i, planted);
        let content = if spec.turns[i].1 {
            json!([{"type": "input_text", "text": text}])
        } else {
            json!(text)
        };
        input.push(json!({"role": "user", "content": content}));
        if i == 0 {
            if let Some((_, result)) = &spec.tool_call {
                let name = spec.tools.first().map_or("outil", |t| t.name.as_str());
                input.push(
                    json!({"type": "function_call", "call_id": "call_1", "name": name,
                    "arguments": arguments_as(spec, planted, true)}),
                );
                input.push(
                    json!({"type": "function_call_output", "call_id": "call_1", "output": result}),
                );
            }
            if spec.plant.place == Place::Citation {
                input.push(json!({"type": "message", "role": "assistant", "content": [{
                    "type": "output_text", "text": "Voici la fiche.", "annotations": [{
                        "type": "url_citation", "url": "https://example.com/fiche",
                        "title": cited(spec, planted), "start_index": 0, "end_index": 5}]}]}));
            }
        }
    }
    let mut body = json!({"model": "gpt-x", "instructions": spec.system,
        "temperature": spec.temperature, "input": input});
    if !spec.tools.is_empty() {
        body["tools"] = spec
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "name": t.name, "description": t.description,
                "parameters": schema(t, false)})
            })
            .collect();
    }
    body
}

fn anthropic_body(spec: &Spec, planted: bool) -> Value {
    let mut messages = Vec::new();
    for i in 0..spec.turns.len() {
        if i > 0 {
            messages.push(json!({"role": "assistant", "content": "D'accord."}));
        }
        let text = turn_text(spec, i, planted);
        let content = if spec.turns[i].1 {
            json!([{"type": "text", "text": text}])
        } else {
            json!(text)
        };
        messages.push(json!({"role": "user", "content": content}));
        if i == 0 {
            if let Some((_, result)) = &spec.tool_call {
                let name = spec.tools.first().map_or("outil", |t| t.name.as_str());
                messages.push(json!({"role": "assistant", "content": [{"type": "tool_use",
                    "id": "toolu_1", "name": name, "input": arguments_as(spec, planted, false)}]}));
                messages.push(json!({"role": "user", "content": [{"type": "tool_result",
                    "tool_use_id": "toolu_1", "content": result}]}));
            }
            if spec.plant.place == Place::Citation {
                messages.push(json!({"role": "assistant", "content": [{"type": "text",
                    "text": "Voici la fiche.", "citations": [{"type": "char_location",
                        "cited_text": cited(spec, planted), "document_index": 0,
                        "document_title": "fiche", "start_char_index": 0, "end_char_index": 14}]}]}));
                messages.push(json!({"role": "user", "content": "Merci."}));
            }
        }
    }
    let mut body = json!({"model": "claude-x", "max_tokens": 64, "system": spec.system,
        "temperature": spec.temperature, "messages": messages});
    if !spec.tools.is_empty() {
        body["tools"] = spec
            .tools
            .iter()
            .map(|t| {
                json!({"name": t.name, "description": t.description,
                "input_schema": schema(t, false)})
            })
            .collect();
    }
    body
}

fn gemini_body(spec: &Spec, planted: bool) -> Value {
    let mut contents = Vec::new();
    for i in 0..spec.turns.len() {
        if i > 0 {
            contents.push(json!({"role": "model", "parts": [{"text": "D'accord."}]}));
        }
        let text = turn_text(spec, i, planted);
        let parts = if spec.turns[i].1 {
            // Two parts: the provider joins them.
            let (a, b) = text.split_at(text.find(' ').unwrap_or(0));
            json!([{"text": a}, {"text": b}])
        } else {
            json!([{ "text": text }])
        };
        contents.push(json!({"role": "user", "parts": parts}));
        if i == 0
            && let Some((_, result)) = &spec.tool_call
        {
            let name = spec.tools.first().map_or("outil", |t| t.name.as_str());
            contents.push(json!({"role": "model", "parts": [{"functionCall": {
                    "name": name, "args": arguments_as(spec, planted, false)}}]}));
            contents.push(json!({"role": "user", "parts": [{"functionResponse": {
                    "name": name, "response": {"result": result}}}]}));
        }
    }
    let mut body = json!({"systemInstruction": {"parts": [{"text": spec.system}]},
        "contents": contents, "generationConfig": {"temperature": spec.temperature}});
    if !spec.tools.is_empty() {
        let decls: Vec<Value> = spec
            .tools
            .iter()
            .map(|t| {
                json!({"name": t.name, "description": t.description,
                "parameters": schema(t, true)})
            })
            .collect();
        body["tools"] = json!([{ "functionDeclarations": decls }]);
    }
    body
}

fn ollama_body(spec: &Spec, planted: bool) -> Value {
    let mut messages = vec![json!({"role": "system", "content": spec.system})];
    for i in 0..spec.turns.len() {
        messages.push(json!({"role": "user", "content": turn_text(spec, i, planted)}));
        if i == 0
            && let Some((_, result)) = &spec.tool_call
        {
            let name = spec.tools.first().map_or("outil", |t| t.name.as_str());
            messages.push(json!({"role": "assistant", "content": "", "tool_calls": [{
                    "function": {"name": name, "arguments": arguments_as(spec, planted, false)}}]}));
            messages.push(json!({"role": "tool", "content": result}));
        }
    }
    let mut body = json!({"model": "llama-x", "stream": false,
        "options": {"temperature": spec.temperature}, "messages": messages});
    if !spec.tools.is_empty() {
        body["tools"] = spec
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {"name": t.name,
                "description": t.description, "parameters": schema(t, false)}})
            })
            .collect();
    }
    body
}

/// JSON pointers to every object of `v`, the root first.
fn objects(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            out.push(at.clone());
            for (k, x) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                objects(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                objects(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Inserts `key: value` into the `at`-th object of `body` (modulo their number).
fn insert_somewhere(body: &mut Value, at: usize, key: String, value: Value) {
    let mut all = Vec::new();
    objects(body, String::new(), &mut all);
    let pointer = &all[at % all.len()];
    if let Some(obj) = body.pointer_mut(pointer).and_then(Value::as_object_mut) {
        obj.insert(key, value);
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn request(api: Api, spec: &Spec, planted: bool) -> Request {
    let mut body = match api {
        Api::Chat => chat_body(spec, planted),
        Api::Responses => responses_body(spec, planted),
        Api::Anthropic => anthropic_body(spec, planted),
        Api::Gemini => gemini_body(spec, planted),
        Api::Ollama => ollama_body(spec, planted),
    };
    for (at, key, value) in &spec.noise {
        insert_somewhere(&mut body, *at, key.clone(), value.clone());
    }
    let mut path = api.path().to_owned();
    let mut headers: Vec<(String, String)> = api
        .headers()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let p = &spec.plant;
    if planted {
        match p.place {
            Place::Number => {
                let n = p.number().expect("a number plant holds digits");
                insert_somewhere(&mut body, p.at, "x_ref".to_owned(), n);
            }
            Place::Key => {
                insert_somewhere(&mut body, p.at, p.written(), json!({"statut": "VIP"}));
            }
            Place::Unknown => {
                let note = json!({"note": format!("voir {}", p.written())});
                insert_somewhere(&mut body, p.at, "x_dossier".to_owned(), note);
            }
            Place::Header => {
                let names = api.header_names();
                headers.push((names[p.at % names.len()].to_owned(), p.written()));
            }
            Place::Query => {
                path = format!("{path}?note={}", percent_encode(&p.written()));
            }
            Place::Text | Place::ToolArgString | Place::ToolArgObject | Place::Citation => {}
        }
    }
    Request {
        path,
        headers,
        body,
    }
}

// --- The property ---

async fn send(h: &Harness, r: &Request) -> crate::support::proxy::Reply {
    let headers: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    h.send(Method::POST, &r.path, &headers, r.body.to_string())
        .await
}

async fn check(h: &Harness, api: Api, spec: &Spec) -> Result<(), TestCaseError> {
    let echoes = api.echoes(spec);
    // Without the value: forwarded, the ordinary word back.
    let before = h.mock.count();
    let plain = request(api, spec, false);
    let r = send(h, &plain).await;
    prop_assert_eq!(
        r.status,
        StatusCode::OK,
        "the request without the planted value was not forwarded: {}",
        r.text()
    );
    prop_assert_eq!(h.mock.count(), before + 1);
    if echoes {
        prop_assert!(
            r.text().contains(&spec.ordinary),
            "{} did not come back: {}",
            spec.ordinary,
            r.text()
        );
    }
    // With it: never received in clear.
    let before = h.mock.count();
    let planted = request(api, spec, true);
    let r = send(h, &planted).await;
    let sent = h.mock.requests()[before..].to_vec();
    let value = spec.plant.value();
    let leaks = received_in_clear(&sent, &[value]);
    prop_assert!(
        leaks.is_empty(),
        "{value:?} planted as {:?}, written {}, reached the provider:\n  {}\nsent: {} {:?} {}\nreceived: {}",
        spec.plant.place,
        match spec
            .plant
            .number()
            .filter(|_| spec.plant.place == Place::Number)
        {
            Some(n) => n.to_string(),
            None => spec.plant.written().escape_default().to_string(),
        },
        leaks.join("\n  "),
        planted.path,
        planted.headers,
        planted.body,
        sent.iter()
            .map(|r| format!("{} {}", r.path, String::from_utf8_lossy(&r.body)))
            .collect::<Vec<_>>()
            .join("\n")
    );
    if sent.is_empty() {
        prop_assert!(
            r.status.is_client_error(),
            "nothing was sent, yet the client got {}",
            r.status
        );
    } else {
        prop_assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        if echoes {
            prop_assert!(
                r.text().contains(&spec.ordinary),
                "{} did not come back intact: {}",
                spec.ordinary,
                r.text()
            );
        }
    }
    Ok(())
}

/// The number of cases: `PROPTEST_CASES`, or 64.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Runs the property for `api` on one Paravent, each case on a current-thread runtime.
fn property(api: Api) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let h = rt.block_on(Harness::start(""));
    let mut runner = TestRunner::new(config());
    let result = runner.run(&spec(api), |s| rt.block_on(check(&h, api, &s)));
    if let Err(e) = result {
        panic!("{api:?}: {e}");
    }
}

#[test]
fn a_value_planted_anywhere_in_an_openai_chat_request_never_reaches_the_provider() {
    property(Api::Chat);
}

#[test]
fn a_value_planted_anywhere_in_an_openai_responses_request_never_reaches_the_provider() {
    property(Api::Responses);
}

#[test]
fn a_value_planted_anywhere_in_an_anthropic_messages_request_never_reaches_the_provider() {
    property(Api::Anthropic);
}

#[test]
fn a_value_planted_anywhere_in_a_gemini_generate_content_request_never_reaches_the_provider() {
    property(Api::Gemini);
}

#[test]
fn a_value_planted_anywhere_in_an_ollama_chat_request_never_reaches_the_provider() {
    property(Api::Ollama);
}

/// The properties mean something only if the plants land everywhere: every place of
/// every API is drawn, and a planted request differs from the plain one by the value.
#[test]
fn the_generated_requests_plant_the_value_in_every_place() {
    use proptest::strategy::ValueTree;
    for api in [
        Api::Chat,
        Api::Responses,
        Api::Anthropic,
        Api::Gemini,
        Api::Ollama,
    ] {
        let mut runner = TestRunner::deterministic();
        let strategy = spec(api);
        let mut seen = Vec::new();
        for _ in 0..400 {
            let s = strategy.new_tree(&mut runner).expect("a spec").current();
            let plain = request(api, &s, false);
            let planted = request(api, &s, true);
            let text = |r: &Request| format!("{} {:?} {}", r.path, r.headers, r.body);
            let found =
                |r: &Request| !received_in_clear(&[recorded(r)], &[s.plant.value()]).is_empty();
            assert!(
                !found(&plain),
                "{api:?}: the plain request holds the value: {}",
                text(&plain)
            );
            assert!(
                found(&planted),
                "{api:?}: the value is not in {}",
                text(&planted)
            );
            if !seen.contains(&s.plant.place) {
                seen.push(s.plant.place);
            }
        }
        for place in api.places() {
            assert!(seen.contains(&place), "{api:?}: {place:?} never drawn");
        }
    }
}

/// A request as the mock would record it, sent as is.
fn recorded(r: &Request) -> crate::support::mock_provider::Recorded {
    crate::support::mock_provider::Recorded {
        method: Method::POST,
        path: r.path.clone(),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                )
            })
            .collect(),
        body: bytes::Bytes::from(r.body.to_string()),
    }
}
