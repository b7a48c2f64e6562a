//! docs/THREAT-MODEL.md's tables are the code's: the endpoint tables and the structural
//! fields of each API, generated from `paravent::api` and compared with the document.
//! `PARAVENT_BLESS=1 cargo test --test it threat_model` rewrites them after a change.

use paravent::api::{Api, Endpoint};
use paravent::walk::Shape;

const DOC: &str = "docs/THREAT-MODEL.md";

fn shape(s: Shape) -> String {
    match s {
        Shape::Text => "text (scanned; listed so its key is the API's)".to_owned(),
        Shape::Enum(o) => format!("one of `{}`", o.join("`, `")),
        Shape::Number => "a number of at most 8 digits".to_owned(),
        Shape::Bool => "`true`, `false` or `null`".to_owned(),
        Shape::Model => "a model name (checked by the detector)".to_owned(),
        Shape::Id => "an identifier (checked by the detector)".to_owned(),
        Shape::Opaque => "an opaque blob or token ids from the provider (kept)".to_owned(),
        Shape::Media {
            kind,
            text_types: [],
        } => {
            format!("media: {kind} (refused unless `allow_media`)")
        }
        Shape::Media { kind, text_types } => format!(
            "media: {kind} (refused unless `allow_media`), text when its `type` is `{}`",
            text_types.join("`, `")
        ),
        Shape::TextOrTokens => "text, or token ids (refused unless `allow_media`)".to_owned(),
        Shape::Credential => "a third-party credential: refused (`paravent_secret`)".to_owned(),
        Shape::JsonSchema => "a JSON Schema: keywords and types kept; property names, descriptions, examples, enums, defaults, patterns and unknown keywords scanned".to_owned(),
        Shape::Headers => {
            "headers for a third party: credential headers refused (`paravent_secret`), others text"
                .to_owned()
        }
    }
}

/// The generated block for `name`.
fn block(name: &str) -> String {
    let mut out = String::new();
    if let Some(api) = Api::ALL
        .iter()
        .find(|a| format!("endpoints:{}", a.as_str()) == name)
    {
        out.push_str("| method | path | request shape |\n|---|---|---|\n");
        for r in api.endpoints() {
            let path = if r.pattern.is_empty() { "/" } else { r.pattern };
            out.push_str(&format!(
                "| {} | `{}` | {} |\n",
                r.method,
                path,
                r.endpoint.as_str()
            ));
        }
        return out;
    }
    let endpoint = Endpoint::WITH_SCHEMA
        .into_iter()
        .find(|e| format!("fields:{}", e.as_str()) == name)
        .unwrap_or_else(|| panic!("no table named {name}"));
    out.push_str("| field | what it must be (else it is text) |\n|---|---|\n");
    for (path, s) in endpoint.schema().describe() {
        out.push_str(&format!(
            "| `{path}` | {} |\n",
            shape(s).replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn the_threat_models_tables_are_the_codes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC);
    let doc = std::fs::read_to_string(&path).unwrap();
    let mut out = String::with_capacity(doc.len());
    let mut rest = doc.as_str();
    let mut names = Vec::new();
    while let Some(start) = rest.find("<!-- table ") {
        let open_end = start + rest[start..].find("-->").unwrap() + 3;
        let name = rest[start + 11..open_end - 3].trim().to_owned();
        let close = open_end + rest[open_end..].find("<!-- end -->").unwrap();
        out.push_str(&rest[..open_end]);
        out.push('\n');
        out.push_str(&block(&name));
        out.push_str("<!-- end -->");
        rest = &rest[close + "<!-- end -->".len()..];
        names.push(name);
    }
    out.push_str(rest);
    for e in Endpoint::WITH_SCHEMA {
        assert!(
            names.contains(&format!("fields:{}", e.as_str())),
            "{DOC} has no table for {}",
            e.as_str()
        );
    }
    for a in Api::ALL {
        assert!(names.contains(&format!("endpoints:{}", a.as_str())));
    }
    if std::env::var_os("PARAVENT_BLESS").is_some() {
        std::fs::write(&path, &out).unwrap();
        return;
    }
    assert!(
        out == doc,
        "{DOC} differs from the code's tables: run PARAVENT_BLESS=1 cargo test --test it threat_model"
    );
}
