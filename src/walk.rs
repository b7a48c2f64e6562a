//! \[pure\] Deny-by-default JSON walking: one strict parse, one walk into a table of slots,
//! and the body that leaves serialised from the scanned value.
//!
//! Every scalar the provider reads is text to scan: every string, every number (its
//! decimal text) and every object key, at any depth, fields nobody listed included. An
//! API module ([`crate::api`]) names only the few fields that are *structural* (model,
//! roles, type discriminators, enum options, numeric parameters, provider-generated ids)
//! and the shape each must have ([`Shape`]); a structural field that does not have its
//! shape is walked as text. Content that cannot be read as text (images, audio, files,
//! token ids) is reported as media.
//!
//! The parse is strict: duplicate keys, keys that differ from a known field (or from a
//! sibling) only by ASCII case, invalid UTF-8 and lone surrogates are refused, so the
//! value scanned is the value every provider's parser reads. The walk consumes the parsed
//! value into a [`Walked`]: a tree whose text leaves are indices into a table of
//! [`Slot`]s. The pipeline rewrites slots by index, then [`Walked::to_bytes`] writes the
//! body that is forwarded. Strings that hold JSON (tool-call arguments, tool results)
//! are parsed and walked the same way, and written back as JSON text.
//!
//! Never logs values; `Debug` of a slot table shows counts only.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON value as parsed strictly: an object keeps its members in order in a `Vec`
/// (no map: objects are small, and duplicates were refused while parsing).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&serde_json::Number> {
        match self {
            Json::Number(n) => Some(n),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn is_boolean(&self) -> bool {
        matches!(self, Json::Bool(_))
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Json::Number(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Json::Array(_))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    /// Writes the value as JSON text.
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Json::String(s) => write_str(s, out),
            Json::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Json::Object(members) => {
                out.push(b'{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(k, out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// The deepest nesting walked; deeper bodies are refused (serde_json stops at 128 too).
pub const MAX_DEPTH: usize = 128;

/// Why a body cannot be walked. Never quotes the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    /// Not JSON, invalid UTF-8, a lone surrogate, or nested too deep.
    #[error("the body is not valid JSON")]
    Syntax,
    /// The same key twice in one object.
    #[error("an object has a duplicate key")]
    DuplicateKey,
    /// A key differing from a known field, or from a sibling key, only by case
    /// (`"Content"`): some providers' parsers read it as the field.
    #[error("an object has a key that differs from a known field only by case")]
    CaseVariantKey,
}

/// The shape a structural field must have. A value without its shape is walked as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A known field whose value is text: listed so that its key is not scanned (the
    /// key is the API's, not the client's); the value is walked as text.
    Text,
    /// One of these strings (roles, type discriminators, enum options).
    Enum(&'static [&'static str]),
    /// A JSON number of at most [`MAX_STRUCTURAL_DIGITS`] digits (sampling parameters,
    /// counts); a longer one could be an identifier and is scanned.
    Number,
    /// `true`, `false` or `null`.
    Bool,
    /// A model name: ASCII letters, digits and `._:/@+-`, at most 128 characters. Kept
    /// out of propagation, but still read by the detector (for what identifies
    /// someone: a date in `gpt-4o-2024-08-06` does not).
    Model,
    /// A provider-generated or programmatic identifier (tool-call ids, function names):
    /// ASCII letters, digits, `_`, `-`, `.`, `:`, at most 128. Kept out of propagation,
    /// still read by the detector.
    Id,
    /// An opaque blob the provider generated (signatures, encrypted reasoning: base64 or
    /// base64url characters; token ids it computed: an array of numbers); kept as it
    /// is, not scanned.
    Opaque,
    /// Content that cannot be scanned for text (`image`, `audio`, `file`), unless the
    /// object's `type` is one of `text_types` (an Anthropic document whose source is
    /// plain text), in which case it is walked.
    Media {
        kind: &'static str,
        text_types: &'static [&'static str],
    },
    /// Text, or token ids (arrays of integers), which cannot be scanned.
    TextOrTokens,
    /// A credential the client hands the provider for a third party (an MCP server's
    /// token): always refused as a secret when non-empty.
    Credential,
    /// A JSON Schema (tool parameters, structured output): its keywords and `type`
    /// values are the schema language's; property names, descriptions, titles,
    /// examples, enums, defaults, patterns and unknown keywords are text.
    JsonSchema,
    /// HTTP headers the provider will send a third party (an MCP server's): a header
    /// whose name says it carries a credential (`authorization`, `*key*`, `*token*`,
    /// `*secret*`, `cookie`…) is refused as one; the others are text.
    Headers,
}

/// Structural numbers longer than this are scanned as text.
pub const MAX_STRUCTURAL_DIGITS: usize = 8;

/// One structural field of a request: where it is and the shape it must have.
///
/// `path` is dot-separated keys; `name[]` is each element of the array at `name`, a
/// bare `[]` each element of a nested array, and `*` any key (the key itself is still
/// scanned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub path: &'static str,
    pub shape: Shape,
}

impl Field {
    pub const fn new(path: &'static str, shape: Shape) -> Field {
        Field { path, shape }
    }
}

/// A request schema compiled from a table of [`Field`]s: a trie walked alongside the
/// JSON. Fields absent from it are text.
#[derive(Debug, Default)]
pub struct Schema {
    root: Node,
    /// Also accept each key's snake_case form (Gemini's JSON accepts both).
    snake_too: bool,
}

#[derive(Debug, Default)]
struct Node {
    shape: Option<Shape>,
    fields: Vec<(String, Node)>,
    any: Option<Box<Node>>,
    items: Option<Box<Node>>,
}

impl Node {
    fn field(&self, key: &str) -> Option<&Node> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, n)| n)
    }

    fn has_case_variant(&self, key: &str) -> bool {
        self.fields
            .iter()
            .any(|(k, _)| k != key && k.eq_ignore_ascii_case(key))
    }

    fn child(&mut self, key: &str) -> &mut Node {
        if let Some(i) = self.fields.iter().position(|(k, _)| k == key) {
            return &mut self.fields[i].1;
        }
        self.fields.push((key.to_owned(), Node::default()));
        let last = self.fields.len() - 1;
        &mut self.fields[last].1
    }
}

impl Schema {
    /// Compiles a table of structural fields.
    ///
    /// # Panics
    /// On a malformed path (an API module's table is code, checked by its tests).
    pub fn new(fields: &[Field]) -> Schema {
        Schema::build(fields.iter().map(|f| (f.path, f.shape)), false)
    }

    /// As [`Schema::new`], from paths built at run time.
    pub fn from_paths<S: AsRef<str>>(fields: impl IntoIterator<Item = (S, Shape)>) -> Schema {
        Schema::build(fields, false)
    }

    /// As [`Schema::from_paths`], each camelCase key also accepted in snake_case.
    pub fn with_snake_case<S: AsRef<str>>(fields: impl IntoIterator<Item = (S, Shape)>) -> Schema {
        Schema::build(fields, true)
    }

    fn build<S: AsRef<str>>(
        fields: impl IntoIterator<Item = (S, Shape)>,
        snake_too: bool,
    ) -> Schema {
        let mut root = Node::default();
        for (path, shape) in fields {
            let path = path.as_ref();
            let mut at = &mut root;
            for seg in path.split('.') {
                assert!(!seg.is_empty(), "empty segment in {path}");
                let (name, arrays) = split_items(seg);
                if !name.is_empty() {
                    at = if name == "*" {
                        at.any.get_or_insert_with(Default::default)
                    } else {
                        at.child(name)
                    };
                }
                for _ in 0..arrays {
                    at = at.items.get_or_insert_with(Default::default);
                }
            }
            at.shape = Some(shape);
        }
        let mut s = Schema { root, snake_too };
        if snake_too {
            add_snake(&mut s.root);
        }
        s
    }

    /// The structural fields, as `(path, shape)` lines (the threat model's table).
    pub fn describe(&self) -> Vec<(String, Shape)> {
        let mut out = Vec::new();
        describe(&self.root, String::new(), &mut out, self.snake_too);
        out
    }
}

fn split_items(seg: &str) -> (&str, usize) {
    let mut name = seg;
    let mut n = 0;
    while let Some(s) = name.strip_suffix("[]") {
        name = s;
        n += 1;
    }
    (name, n)
}

fn snake(key: &str) -> Option<String> {
    if !key.chars().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn add_snake(node: &mut Node) {
    for (_, child) in node.fields.iter_mut() {
        add_snake(child);
    }
    if let Some(a) = node.any.as_mut() {
        add_snake(a);
    }
    if let Some(i) = node.items.as_mut() {
        add_snake(i);
    }
    let extra: Vec<(String, Node)> = node
        .fields
        .iter()
        .filter_map(|(k, n)| snake(k).map(|s| (s, clone_node(n))))
        .collect();
    node.fields.extend(extra);
}

fn clone_node(n: &Node) -> Node {
    Node {
        shape: n.shape,
        fields: n
            .fields
            .iter()
            .map(|(k, c)| (k.clone(), clone_node(c)))
            .collect(),
        any: n.any.as_ref().map(|a| Box::new(clone_node(a))),
        items: n.items.as_ref().map(|i| Box::new(clone_node(i))),
    }
}

fn describe(node: &Node, path: String, out: &mut Vec<(String, Shape)>, skip_snake: bool) {
    if let Some(s) = node.shape {
        out.push((path.clone(), s));
    }
    if let Some(i) = &node.items {
        describe(i, format!("{path}[]"), out, skip_snake);
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    for (k, child) in &node.fields {
        if skip_snake
            && k.contains('_')
            && node
                .fields
                .iter()
                .any(|(o, _)| snake(o).as_deref() == Some(k))
        {
            continue;
        }
        describe(child, join(k), out, skip_snake);
    }
    if let Some(a) = &node.any {
        describe(a, join("*"), out, skip_snake);
    }
}

/// What a slot holds, which decides how it is detected and written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A string value.
    Text,
    /// A number's decimal text; written back as a number when unchanged, else a string.
    Number,
    /// An object key.
    Key,
    /// A structural value with its shape (model, id): read by the detector, never
    /// reached by propagation, so ids and model names stay intact unless they hold a
    /// value themselves.
    Checked,
    /// From outside the body (a header or query value), set by the proxy.
    Outside,
}

/// One scalar of the request the provider will read.
pub struct Slot {
    pub text: String,
    pub kind: SlotKind,
    /// Slots with the same group are texts the provider joins (the text parts of one
    /// message): they are also scanned joined. `0` is no group.
    pub group: u32,
    /// Set when the pipeline rewrote `text`.
    pub changed: bool,
}

/// Appends a slot to `slots`; returns its index.
fn push_slot(slots: &mut Vec<Slot>, text: String, kind: SlotKind, group: u32) -> usize {
    slots.push(Slot {
        text,
        kind,
        group,
        changed: false,
    });
    slots.len() - 1
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("len", &self.text.len())
            .field("kind", &self.kind)
            .field("group", &self.group)
            .finish()
    }
}

/// The walked body: the tree, with text leaves pointing into `slots`.
pub struct Walked {
    tree: Tree,
    pub slots: Vec<Slot>,
    /// Kinds of unscannable content met (`image`, `audio`, `file`, `token ids`).
    pub media: Vec<&'static str>,
    /// Credentials met in fields that hand them to third parties (refused).
    pub credentials: usize,
    /// The size of the body parsed (0 when not parsed from bytes): what
    /// [`Walked::to_bytes`] reserves, so that writing the body rarely grows its buffer.
    source_bytes: usize,
}

impl fmt::Debug for Walked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Walked")
            .field("slots", &self.slots.len())
            .field("media", &self.media)
            .finish_non_exhaustive()
    }
}

enum Tree {
    /// Kept as it is: structural values, media, `null`, booleans.
    Keep(Json),
    /// A string slot.
    Slot(usize),
    /// A number slot: written as the client wrote it unless rewritten (the slot holds
    /// its digits as the detector reads them).
    Number {
        slot: usize,
        original: String,
    },
    Array(Vec<Tree>),
    Object(Vec<(Key, Tree)>),
    /// JSON inside a string slot: written back as JSON text when something inside
    /// changed, else the original string.
    Embedded {
        original: String,
        inner: Box<Tree>,
    },
}

enum Key {
    Keep(String),
    Slot(usize),
}

impl Walked {
    /// Parses `bytes` strictly and walks it against `schema`.
    ///
    /// # Errors
    /// [`WalkError`]: not JSON, duplicate or case-variant keys.
    ///
    /// ```
    /// use paravent::walk::{Field, Schema, Shape, Walked};
    /// let schema = Schema::new(&[Field::new("role", Shape::Enum(&["user"]))]);
    /// let w = Walked::parse(br#"{"role":"user","note":{"jean@example.fr":4111}}"#, &schema).unwrap();
    /// let texts: Vec<&str> = w.slots.iter().map(|s| s.text.as_str()).collect();
    /// assert_eq!(texts, ["note", "jean@example.fr", "4111"]);
    /// assert!(Walked::parse(br#"{"a":1,"a":2}"#, &schema).is_err());
    /// ```
    pub fn parse(bytes: &[u8], schema: &Schema) -> Result<Walked, WalkError> {
        let value = parse_strict(bytes)?;
        let mut walked = Walked::walk(value, schema)?;
        walked.source_bytes = bytes.len();
        Ok(walked)
    }

    /// Walks an already parsed value (strictly parsed by [`parse_strict`]).
    ///
    /// # Errors
    /// [`WalkError::CaseVariantKey`].
    pub fn walk(value: Json, schema: &Schema) -> Result<Walked, WalkError> {
        let mut w = Walker {
            slots: Vec::new(),
            media: Vec::new(),
            credentials: 0,
            next_group: 1,
        };
        let tree = w.value(value, Some(&schema.root), 0, 0)?;
        Ok(Walked {
            tree,
            slots: w.slots,
            media: w.media,
            credentials: w.credentials,
            source_bytes: 0,
        })
    }

    /// A request without a body (a read): only slots from outside it.
    pub fn empty() -> Walked {
        Walked {
            tree: Tree::Keep(Json::Null),
            slots: Vec::new(),
            media: Vec::new(),
            credentials: 0,
            source_bytes: 0,
        }
    }

    /// A plain text as one slot (`paravent scan`).
    pub fn text(text: String) -> Walked {
        let mut w = Walked::empty();
        w.tree = Tree::Slot(push_slot(&mut w.slots, text, SlotKind::Text, 0));
        w
    }

    /// Adds a checked value from outside the body (a model name or id in the path);
    /// returns its index.
    pub fn push_checked(&mut self, text: String) -> usize {
        push_slot(&mut self.slots, text, SlotKind::Checked, 0)
    }

    /// Adds a slot from outside the body (a header or query value); returns its index.
    pub fn push_outside(&mut self, text: String) -> usize {
        push_slot(&mut self.slots, text, SlotKind::Outside, 0)
    }

    /// The top-level string at `key` as it will leave (the model, say), if any.
    pub fn top_level_str(&self, key: &str) -> Option<&str> {
        let Tree::Object(members) = &self.tree else {
            return None;
        };
        members.iter().find_map(|(k, t)| match (k, t) {
            (Key::Keep(k), Tree::Slot(i)) if k == key => Some(self.slots[*i].text.as_str()),
            (Key::Keep(k), Tree::Keep(Json::String(s))) if k == key => Some(s.as_str()),
            _ => None,
        })
    }

    /// The slot of the top-level string at `key` (a structural model name), if any.
    pub fn top_level_slot(&self, key: &str) -> Option<usize> {
        let Tree::Object(members) = &self.tree else {
            return None;
        };
        members.iter().find_map(|(k, t)| match (k, t) {
            (Key::Keep(k), Tree::Slot(i)) if k == key => Some(*i),
            _ => None,
        })
    }

    /// Whether a top-level key is present.
    pub fn has_top_level(&self, key: &str) -> bool {
        matches!(&self.tree, Tree::Object(m) if m.iter().any(|(k, _)| matches!(k, Key::Keep(k) if k == key)))
    }

    /// Sets a top-level string (the policy's route replaces the model).
    pub fn set_top_level_str(&mut self, key: &str, value: String) {
        if let Tree::Object(members) = &mut self.tree {
            for (k, t) in members.iter_mut() {
                if matches!(k, Key::Keep(k) if k == key) {
                    *t = Tree::Keep(Json::String(value));
                    return;
                }
            }
        }
    }

    /// What the member at `path` is, if present.
    pub fn kind_at(&self, path: &[&str]) -> Option<MemberKind> {
        let mut t = &self.tree;
        for key in path {
            let Tree::Object(members) = t else {
                return None;
            };
            t = members
                .iter()
                .find(|(k, _)| key_is(&self.slots, k, key))
                .map(|(_, v)| v)?;
        }
        Some(match t {
            Tree::Slot(_) | Tree::Keep(Json::String(_)) => MemberKind::String,
            Tree::Array(_) | Tree::Keep(Json::Array(_)) => MemberKind::Array,
            Tree::Object(_) | Tree::Keep(Json::Object(_)) => MemberKind::Object,
            Tree::Keep(Json::Null) => MemberKind::Null,
            _ => MemberKind::Other,
        })
    }

    /// Removes the member at `path`; `true` when there was one.
    pub fn remove_at(&mut self, path: &[&str]) -> bool {
        let Some((last, parent)) = path.split_last() else {
            return false;
        };
        let Walked { tree, slots, .. } = self;
        let Some(Tree::Object(members)) = tree_at(tree, slots, parent) else {
            return false;
        };
        let before = members.len();
        members.retain(|(k, _)| !key_is(slots, k, last));
        members.len() != before
    }

    /// Sets the member `key` of the top-level object to `value` (kept as it is, never
    /// scanned: a value of the administrator's), adding it at the end when absent.
    /// Nothing happens when the body is not an object.
    pub fn set_top_level(&mut self, key: &str, value: Json) {
        let Tree::Object(members) = &mut self.tree else {
            return;
        };
        let slots = &self.slots;
        match members.iter_mut().find(|(k, _)| key_is(slots, k, key)) {
            Some((_, t)) => *t = Tree::Keep(value),
            None => members.push((Key::Keep(key.to_owned()), Tree::Keep(value))),
        }
    }

    /// Inserts `value` (kept as it is) at `index` of the array at `path`, or at its end
    /// when shorter; `false` when there is no array there.
    pub fn insert_at(&mut self, path: &[&str], index: usize, value: Json) -> bool {
        match tree_at(&mut self.tree, &self.slots, path) {
            Some(Tree::Array(items)) => {
                items.insert(index.min(items.len()), Tree::Keep(value));
                true
            }
            Some(Tree::Keep(Json::Array(items))) => {
                items.insert(index.min(items.len()), value);
                true
            }
            _ => false,
        }
    }

    /// Replaces every string at or under `path` (values, not keys) by `f` of it as it
    /// leaves; returns how many were replaced.
    pub fn map_strings_at(&mut self, path: &[&str], f: &mut dyn FnMut(&str) -> String) -> usize {
        fn visit(
            t: &mut Tree,
            slots: &mut [Slot],
            f: &mut dyn FnMut(&str) -> String,
            n: &mut usize,
        ) {
            match t {
                Tree::Slot(i) => {
                    let s = &mut slots[*i];
                    s.text = f(&s.text);
                    s.changed = true;
                    *n += 1;
                }
                Tree::Keep(Json::String(s)) => {
                    *s = f(s);
                    *n += 1;
                }
                // JSON held in a string: its strings, and it is written back as JSON.
                Tree::Embedded { inner, .. } => visit(inner, slots, f, n),
                Tree::Array(items) => items.iter_mut().for_each(|i| visit(i, slots, f, n)),
                Tree::Object(members) => {
                    members.iter_mut().for_each(|(_, v)| visit(v, slots, f, n));
                }
                _ => {}
            }
        }
        let mut n = 0;
        let Walked { tree, slots, .. } = self;
        if let Some(t) = tree_at(tree, slots, path) {
            visit(t, slots, f, &mut n);
        }
        n
    }

    /// The body as it leaves: the scanned value, serialised.
    pub fn to_bytes(&self) -> Vec<u8> {
        // The body as it came, and room for tokens longer than the values they replace.
        let slots: usize = self.slots.iter().map(|s| s.text.len() + 8).sum();
        let mut out = Vec::with_capacity(slots.max(self.source_bytes + self.source_bytes / 8));
        self.write(&self.tree, &mut out);
        out
    }

    fn write(&self, t: &Tree, out: &mut Vec<u8>) {
        match t {
            Tree::Keep(v) => v.write(out),
            Tree::Slot(i) => write_str(&self.slots[*i].text, out),
            Tree::Number { slot, original } => {
                let s = &self.slots[*slot];
                if s.changed {
                    write_str(&s.text, out);
                } else {
                    out.extend_from_slice(original.as_bytes());
                }
            }
            Tree::Array(items) => {
                out.push(b'[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    self.write(item, out);
                }
                out.push(b']');
            }
            Tree::Object(members) => {
                out.push(b'{');
                for (n, (k, v)) in members.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    match k {
                        Key::Keep(k) => write_str(k, out),
                        Key::Slot(i) => write_str(&self.slots[*i].text, out),
                    }
                    out.push(b':');
                    self.write(v, out);
                }
                out.push(b'}');
            }
            Tree::Embedded { original, inner } => {
                if self.tree_changed(inner) {
                    let mut text = Vec::new();
                    self.write(inner, &mut text);
                    // Our own serialisation of parsed JSON is UTF-8.
                    write_str(&String::from_utf8_lossy(&text), out);
                } else {
                    write_str(original, out);
                }
            }
        }
    }

    fn tree_changed(&self, t: &Tree) -> bool {
        match t {
            Tree::Keep(_) => false,
            Tree::Slot(i) | Tree::Number { slot: i, .. } => self.slots[*i].changed,
            Tree::Array(items) => items.iter().any(|i| self.tree_changed(i)),
            Tree::Object(m) => m.iter().any(|(k, v)| {
                matches!(k, Key::Slot(i) if self.slots[*i].changed) || self.tree_changed(v)
            }),
            Tree::Embedded { inner, .. } => self.tree_changed(inner),
        }
    }
}

/// The member at `path` (object keys from the top) of `t`.
fn tree_at<'t>(mut t: &'t mut Tree, slots: &[Slot], path: &[&str]) -> Option<&'t mut Tree> {
    for key in path {
        let Tree::Object(members) = t else {
            return None;
        };
        t = members
            .iter_mut()
            .find(|(k, _)| key_is(slots, k, key))
            .map(|(_, v)| v)?;
    }
    Some(t)
}

/// Whether an object key is `name` as it leaves (a structural key, or a client's key
/// the pipeline left as it was).
fn key_is(slots: &[Slot], k: &Key, name: &str) -> bool {
    match k {
        Key::Keep(k) => k == name,
        Key::Slot(i) => slots[*i].text == name,
    }
}

/// What a member of the body is ([`Walked::kind_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    String,
    Array,
    Object,
    Null,
    /// A number or a boolean.
    Other,
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

struct Walker {
    slots: Vec<Slot>,
    media: Vec<&'static str>,
    credentials: usize,
    next_group: u32,
}

impl Walker {
    fn slot(&mut self, text: String, kind: SlotKind, group: u32) -> Tree {
        Tree::Slot(push_slot(&mut self.slots, text, kind, group))
    }

    /// A key of the client's (scanned).
    fn key(&mut self, text: String) -> Key {
        Key::Slot(push_slot(&mut self.slots, text, SlotKind::Key, 0))
    }

    fn media(&mut self, kind: &'static str) {
        if !self.media.contains(&kind) {
            self.media.push(kind);
        }
    }

    /// Walks `v` at schema node `s` (`None`: free text). `group` is the join group a
    /// `text` member of this object belongs to (an element of a parts array).
    fn value(
        &mut self,
        v: Json,
        s: Option<&Node>,
        group: u32,
        depth: usize,
    ) -> Result<Tree, WalkError> {
        if depth > MAX_DEPTH {
            return Err(WalkError::Syntax);
        }
        if let Some(shape) = s.and_then(|n| n.shape) {
            match self.shaped(v, shape, s, group, depth)? {
                Ok(t) => return Ok(t),
                Err(v) => return self.free(v, s, group, depth),
            }
        }
        self.free(v, s, group, depth)
    }

    /// A structural value: `Ok(tree)` when it has its shape, `Err(value)` to walk it as
    /// text.
    fn shaped(
        &mut self,
        v: Json,
        shape: Shape,
        s: Option<&Node>,
        group: u32,
        depth: usize,
    ) -> Result<Result<Tree, Json>, WalkError> {
        Ok(match (shape, v) {
            (Shape::Enum(options), Json::String(x)) if options.contains(&x.as_str()) => {
                Ok(Tree::Keep(Json::String(x)))
            }
            (Shape::Number, Json::Number(n)) if short_number(&n) => Ok(Tree::Keep(Json::Number(n))),
            (Shape::Bool, v @ (Json::Bool(_) | Json::Null)) => Ok(Tree::Keep(v)),
            (Shape::Model, Json::String(x)) if model_shaped(&x) => {
                Ok(self.slot(x, SlotKind::Checked, 0))
            }
            (Shape::Id, Json::String(x)) if id_shaped(&x) => Ok(self.slot(x, SlotKind::Checked, 0)),
            (Shape::Opaque, Json::String(x)) if opaque_shaped(&x) => {
                Ok(Tree::Keep(Json::String(x)))
            }
            (Shape::Opaque, Json::Array(a)) if a.iter().all(Json::is_number) => {
                Ok(Tree::Keep(Json::Array(a)))
            }
            (Shape::Media { kind, text_types }, v) => {
                let text = v
                    .get("type")
                    .and_then(Json::as_str)
                    .is_some_and(|t| text_types.contains(&t));
                if text {
                    return Ok(Ok(self.free(v, s, group, depth)?));
                }
                if !(v.is_null() || matches!(&v, Json::Array(a) if a.is_empty())) {
                    self.media(kind);
                }
                Ok(Tree::Keep(v))
            }
            (Shape::TextOrTokens, v) => {
                if is_token_ids(&v) {
                    self.media("token ids");
                    Ok(Tree::Keep(v))
                } else {
                    Err(v)
                }
            }
            (Shape::Text, v) => Err(v),
            (Shape::JsonSchema, v @ Json::Object(_)) => Ok(self.json_schema(v, depth)?),
            (Shape::Headers, Json::Object(map)) => {
                let mut kept = Vec::with_capacity(map.len());
                for (k, v) in map {
                    if credential_header(&k) && !is_empty(&v) {
                        self.credentials += 1;
                    } else {
                        kept.push((k, v));
                    }
                }
                Err(Json::Object(kept))
            }
            (Shape::Credential, v) => {
                if !is_empty(&v) {
                    self.credentials += 1;
                }
                // Never sent: the request is refused.
                Ok(Tree::Keep(Json::Null))
            }
            (_, v) => Err(v),
        })
    }

    fn free(
        &mut self,
        v: Json,
        s: Option<&Node>,
        group: u32,
        depth: usize,
    ) -> Result<Tree, WalkError> {
        Ok(match v {
            v @ (Json::Null | Json::Bool(_)) => Tree::Keep(v),
            Json::Number(n) => {
                let slot = push_slot(&mut self.slots, number_text(&n), SlotKind::Number, 0);
                Tree::Number {
                    slot,
                    original: n.to_string(),
                }
            }
            Json::String(x) => self.string(x, group, depth)?,
            Json::Array(items) => {
                let items_node = s.and_then(|n| n.items.as_deref());
                let g = self.next_group;
                self.next_group += 1;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    // Only the `text` members of objects in one array are joined.
                    let gi = if item.is_object() { g } else { 0 };
                    out.push(self.value(item, items_node, gi, depth + 1)?);
                }
                Tree::Array(out)
            }
            Json::Object(map) => {
                let mut out = Vec::with_capacity(map.len());
                for (k, item) in map {
                    let known = s.and_then(|n| n.field(&k));
                    let key;
                    let child;
                    if let Some(known) = known {
                        key = Key::Keep(k);
                        child = Some(known);
                    } else {
                        if s.is_some_and(|n| n.has_case_variant(&k)) {
                            return Err(WalkError::CaseVariantKey);
                        }
                        child = s.and_then(|n| n.any.as_deref());
                        key = self.key(k);
                    }
                    let text_member = matches!(&key, Key::Keep(k) if k == "text")
                        || matches!(&key, Key::Slot(i) if self.slots[*i].text == "text");
                    let g = if text_member { group } else { 0 };
                    out.push((key, self.value(item, child, g, depth + 1)?));
                }
                Tree::Object(out)
            }
        })
    }

    /// A JSON Schema object: keywords kept, schemas below walked as schemas, the rest
    /// as text.
    fn json_schema(&mut self, v: Json, depth: usize) -> Result<Tree, WalkError> {
        if depth > MAX_DEPTH {
            return Err(WalkError::Syntax);
        }
        let Json::Object(map) = v else {
            return self.free(v, None, 0, depth);
        };
        let mut out = Vec::with_capacity(map.len());
        for (k, item) in map {
            let kw = k.as_str();
            let tree = if SCHEMA_SUBSCHEMA.contains(&kw) && item.is_object() {
                self.json_schema(item, depth + 1)?
            } else if SCHEMA_SUBSCHEMAS.contains(&kw) && item.is_array() {
                let Json::Array(items) = item else {
                    unreachable!("checked just above")
                };
                let mut trees = Vec::with_capacity(items.len());
                for i in items {
                    trees.push(self.json_schema(i, depth + 1)?);
                }
                Tree::Array(trees)
            } else if SCHEMA_MAPS.contains(&kw) && item.is_object() {
                // Property names are the client's: scanned; their schemas are schemas.
                let Json::Object(props) = item else {
                    unreachable!("checked just above")
                };
                let mut members = Vec::with_capacity(props.len());
                for (name, sub) in props {
                    let key = self.key(name);
                    members.push((key, self.json_schema(sub, depth + 1)?));
                }
                Tree::Object(members)
            } else if schema_keeps(kw, &item) {
                Tree::Keep(item)
            } else if SCHEMA_TEXT.contains(&kw)
                || SCHEMA_BOOLS.contains(&kw)
                || SCHEMA_NUMBERS.contains(&kw)
            {
                self.free(item, None, 0, depth + 1)?
            } else {
                // An unknown keyword: its name is scanned too.
                let key = self.key(k);
                out.push((key, self.free(item, None, 0, depth + 1)?));
                continue;
            };
            out.push((Key::Keep(k), tree));
        }
        Ok(Tree::Object(out))
    }

    /// A string: JSON inside it (tool arguments) is parsed and walked; else a text slot.
    fn string(&mut self, x: String, group: u32, depth: usize) -> Result<Tree, WalkError> {
        let t = x.trim_start();
        if (t.starts_with('{') || t.starts_with('['))
            && let Ok(inner) = parse_strict(x.as_bytes())
        {
            let inner = self.value(inner, None, 0, depth + 1)?;
            return Ok(Tree::Embedded {
                original: x,
                inner: Box::new(inner),
            });
        }
        Ok(self.slot(x, SlotKind::Text, group))
    }
}

/// Whether a value of `shape` is still read by the detector when it has its shape
/// (model names and identifiers can hold a value; enums, numbers and booleans cannot).
pub fn checked(shape: Shape) -> bool {
    matches!(shape, Shape::Model | Shape::Id)
}

/// Whether a text from outside the body (a header or query value) has `shape`.
pub fn fits(shape: Shape, text: &str) -> bool {
    match shape {
        Shape::Enum(options) => options.contains(&text),
        Shape::Number => {
            text.parse::<f64>().is_ok()
                && text.bytes().filter(u8::is_ascii_digit).count() <= MAX_STRUCTURAL_DIGITS
        }
        Shape::Bool => matches!(text, "true" | "false"),
        Shape::Model => model_shaped(text),
        Shape::Id => id_shaped(text),
        Shape::Opaque => opaque_shaped(text),
        Shape::Text
        | Shape::JsonSchema
        | Shape::Media { .. }
        | Shape::TextOrTokens
        | Shape::Credential
        | Shape::Headers => false,
    }
}

/// Calls `f` on every string value of `value` (object keys are left alone); strings that
/// hold JSON (tool-call arguments) are parsed, visited and written back. Returns
/// whether `f` changed anything. Used on answers, which are restored, not scanned.
pub fn each_string_mut(value: &mut Value, f: &mut dyn FnMut(&mut String) -> bool) -> bool {
    let mut changed = false;
    match value {
        Value::String(s) => {
            let t = s.trim_start();
            if (t.starts_with('{') || t.starts_with('['))
                && let Ok(mut inner) = serde_json::from_str::<Value>(s)
            {
                if each_string_mut(&mut inner, f)
                    && let Ok(out) = serde_json::to_string(&inner)
                {
                    *s = out;
                    changed = true;
                }
            } else {
                changed |= f(s);
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= each_string_mut(item, f);
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                changed |= each_string_mut(item, f);
            }
        }
        _ => {}
    }
    changed
}

/// JSON Schema keywords whose value is a schema.
const SCHEMA_SUBSCHEMA: &[&str] = &[
    "items",
    "additionalProperties",
    "additionalItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
];

/// Keywords whose value is an array of schemas.
const SCHEMA_SUBSCHEMAS: &[&str] = &["anyOf", "oneOf", "allOf", "prefixItems", "any_of"];

/// Keywords whose value maps names (the client's, scanned) to schemas.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Numeric keywords.
const SCHEMA_NUMBERS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minContains",
    "maxContains",
];

/// Boolean keywords.
const SCHEMA_BOOLS: &[&str] = &[
    "uniqueItems",
    "nullable",
    "deprecated",
    "readOnly",
    "writeOnly",
    "strict",
];

/// Keywords whose value is text (scanned): the keyword itself is the schema's.
const SCHEMA_TEXT: &[&str] = &[
    "description",
    "title",
    "examples",
    "example",
    "enum",
    "default",
    "const",
    "$comment",
    "pattern",
    "required",
    "format",
    "type",
    "$schema",
    "$id",
    "$ref",
    "propertyOrdering",
];

/// `format` values of the schema language.
const SCHEMA_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "uri",
    "uri-reference",
    "uuid",
    "hostname",
    "ipv4",
    "ipv6",
    "regex",
    "int32",
    "int64",
    "float",
    "double",
    "enum",
];

/// Whether the value of keyword `kw` is the schema language's own (kept as it is).
fn schema_keeps(kw: &str, item: &Json) -> bool {
    (kw == "type" && schema_type(item))
        || (kw == "format" && item.as_str().is_some_and(|f| SCHEMA_FORMATS.contains(&f)))
        || (SCHEMA_NUMBERS.contains(&kw) && item.as_number().is_some_and(short_number))
        || (SCHEMA_BOOLS.contains(&kw) && item.is_boolean())
}

/// A JSON Schema `type`: a type name or an array of them (Gemini writes them upper-case).
fn schema_type(v: &Json) -> bool {
    const TYPES: &[&str] = &[
        "string", "number", "integer", "boolean", "object", "array", "null",
    ];
    let one = |v: &Json| {
        v.as_str()
            .is_some_and(|t| TYPES.iter().any(|x| x.eq_ignore_ascii_case(t)))
    };
    match v {
        Json::Array(a) => a.iter().all(one),
        other => one(other),
    }
}

/// Whether an HTTP header name says its value is a credential.
fn credential_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "key",
        "token",
        "secret",
        "password",
        "credential",
        "auth",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// A number's text as the detector should read it: exponent notation expanded to plain
/// digits (`4.111111111111111e15` is the card number `4111111111111111` to any parser).
fn number_text(n: &serde_json::Number) -> String {
    let s = n.to_string();
    let Some((mantissa, exp)) = s.split_once(['e', 'E']) else {
        return s;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return s;
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let point = int.len() as i64 + i64::from(exp);
    // Far-out exponents are not identifiers: keep the text.
    if !(0..=40).contains(&point) {
        return s;
    }
    let point = point as usize;
    let mut out = String::from(sign);
    if point >= digits.len() {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', point - digits.len()));
    } else {
        out.push_str(if point == 0 { "0" } else { &digits[..point] });
        out.push('.');
        out.push_str(&digits[point..]);
    }
    out
}

fn short_number(n: &serde_json::Number) -> bool {
    let s = n.to_string();
    s.bytes().filter(u8::is_ascii_digit).count() <= MAX_STRUCTURAL_DIGITS
}

fn model_shaped(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/@+-".contains(&b))
}

fn id_shaped(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
}

fn opaque_shaped(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b))
}

fn is_token_ids(v: &Json) -> bool {
    match v {
        Json::Array(items) => {
            !items.is_empty()
                && items.iter().all(|i| match i {
                    Json::Number(_) => true,
                    Json::Array(inner) => inner.iter().all(Json::is_number),
                    _ => false,
                })
        }
        _ => false,
    }
}

fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Parses JSON strictly: invalid UTF-8, lone surrogates, duplicate keys and keys that
/// differ from a sibling only by ASCII case are refused, so what is scanned is what any
/// provider's parser reads.
///
/// # Errors
/// [`WalkError`] (never quoting the input).
pub fn parse_strict(bytes: &[u8]) -> Result<Json, WalkError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut failure = None;
    let v = StrictValue {
        failure: &mut failure,
    }
    .deserialize(&mut de);
    let v = match v {
        Ok(v) => v,
        Err(_) => return Err(failure.unwrap_or(WalkError::Syntax)),
    };
    de.end().map_err(|_| WalkError::Syntax)?;
    Ok(v)
}

/// serde_json's private marker for a number read with `arbitrary_precision`: such a
/// number arrives as a one-entry map under this key.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

struct StrictValue<'a> {
    failure: &'a mut Option<WalkError>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Json;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element_seed(StrictValue {
            failure: &mut *self.failure,
        })? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out: Vec<(String, Json)> = Vec::with_capacity(map.size_hint().unwrap_or(4).min(64));
        // Objects are small: each key is compared with the ones before it, ignoring
        // ASCII case; past `LINEAR_KEYS` keys a set of lower-cased keys takes over.
        const LINEAR_KEYS: usize = 16;
        let mut lower: Option<HashSet<String>> = None;
        let mut first = true;
        while let Some(k) = map.next_key::<String>()? {
            if first && k == NUMBER_TOKEN {
                let text: String = map.next_value()?;
                let n: serde_json::Number =
                    text.parse().map_err(|_| de::Error::custom("number"))?;
                return Ok(Json::Number(n));
            }
            first = false;
            let clash = match &mut lower {
                Some(set) => !set.insert(k.to_ascii_lowercase()),
                None => {
                    let clash = out.iter().any(|(e, _)| e.eq_ignore_ascii_case(&k));
                    if !clash && out.len() + 1 >= LINEAR_KEYS {
                        let mut set: HashSet<String> =
                            out.iter().map(|(e, _)| e.to_ascii_lowercase()).collect();
                        set.insert(k.to_ascii_lowercase());
                        lower = Some(set);
                    }
                    clash
                }
            };
            if clash {
                *self.failure = Some(if out.iter().any(|(e, _)| *e == k) {
                    WalkError::DuplicateKey
                } else {
                    WalkError::CaseVariantKey
                });
                return Err(de::Error::custom("duplicate key"));
            }
            let v = map.next_value_seed(StrictValue {
                failure: &mut *self.failure,
            })?;
            out.push((k, v));
        }
        Ok(Json::Object(out))
    }
}

#[cfg(test)]
mod tests;
