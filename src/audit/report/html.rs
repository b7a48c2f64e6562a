//! \[pure\] The report as one self-contained, accessible HTML page (RGAA 4 / WCAG 2.1 AA).
//!
//! Inline CSS, no script, no external resource. Headings in order (one `h1`, `h2` per
//! section), a skip link and a table of contents, every table with a `caption` and
//! `th scope`, text and bars above the AA contrast ratios, each chart an SVG with
//! `role="img"`, a title and a description, and its figures in the table next to it.
//! Every string from a record goes through [`esc`]: a principal named `<script>` is text.

use std::fmt::Write as _;

use super::words::{self, FINDINGS, GROUPS, NOT_REPORTED};
use super::{Group, Report, format_energy};

/// Escapes text for HTML element content and quoted attribute values.
///
/// ```
/// use paravent::audit::report::html::esc;
/// assert_eq!(esc("<b a=\"1\">&'"), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
/// ```
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Blocked request ids shown per refusal row (the JSON report has them all).
const MAX_IDS_SHOWN: usize = 50;

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5;
  color: #1a1a1a; background: #ffffff; margin: 0; overflow-wrap: anywhere; }
.skip { position: absolute; left: 0.5rem; top: -4rem; background: #ffffff; color: #0b3d91;
  padding: 0.5rem 1rem; border: 2px solid #0b3d91; z-index: 10; }
.skip:focus { top: 0.5rem; }
header, main, footer { max-width: 72rem; margin: 0 auto; padding: 0 1rem; }
header { border-bottom: 1px solid #595959; padding-top: 1rem; }
h1 { font-size: 1.8rem; margin: 0.5rem 0; }
h2 { font-size: 1.4rem; margin-top: 2.5rem; border-bottom: 1px solid #d0d0d0; }
h3 { font-size: 1.15rem; margin-top: 1.5rem; }
a { color: #0b3d91; }
a:focus, [tabindex]:focus { outline: 3px solid #b35900; outline-offset: 2px; }
.banner { padding: 0.75rem 1rem; border: 2px solid; border-radius: 4px; margin: 1rem 0; }
.banner.ok { color: #0b5d1e; background: #e8f5ec; border-color: #0b5d1e; }
.banner.bad { color: #8a1010; background: #fdecec; border-color: #8a1010; }
.banner code { word-break: break-all; }
nav ul { columns: 2 16rem; padding-left: 1.2rem; }
.table-wrap { overflow-x: auto; margin: 1rem 0; }
table { border-collapse: collapse; min-width: 50%; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { border: 1px solid #8c8c8c; padding: 0.3rem 0.6rem; vertical-align: top; }
thead th { background: #e9eef5; text-align: left; }
tbody th { text-align: left; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #595959; font-style: italic; }
dl.summary { display: grid; grid-template-columns: minmax(0, max-content) minmax(0, 1fr);
  gap: 0.25rem 1.5rem; }
dl.summary dt { font-weight: 600; }
dl.summary dd { margin: 0; }
figure { margin: 1rem 0; }
svg { max-width: 100%; height: auto; }
th, td { overflow-wrap: normal; }
@media (max-width: 30rem) {
  dl.summary { display: block; }
  dl.summary dd { margin-bottom: 0.5rem; }
}
figcaption { color: #3b3b3b; }
svg .bar { fill: #1f4e79; }
svg text { fill: #1a1a1a; font-size: 12px; font-family: inherit; }
svg .axis { stroke: #595959; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.95em; }
footer { border-top: 1px solid #595959; margin-top: 3rem; padding: 1rem; color: #3b3b3b; }
@media print {
  .skip, nav { display: none; }
  body { font-size: 10pt; }
  a { color: #000000; text-decoration: none; }
  .table-wrap { overflow: visible; }
  h2 { break-after: avoid; }
  tr, figure { break-inside: avoid; }
}
"#;

/// Renders the report as an HTML document.
pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("Paravent audit report — {}", period_text(r));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"paravent audit report\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to the report</a>\n\
         <header>\n<p>Paravent · audit trail</p>\n</header>\n\
         <main id=\"main\" tabindex=\"-1\">\n<h1>Audit report</h1>\n",
        esc(&title)
    );
    let _ = writeln!(
        h,
        "<p>Period: {}. Generated {}.</p>",
        esc(&period_text(r)),
        esc(&r.generated_at)
    );
    let (class, label) = if r.integrity.verified {
        ("ok", "Integrity")
    } else {
        ("bad", "Warning")
    };
    let _ = writeln!(
        h,
        "<div class=\"banner {class}\" role=\"note\" aria-label=\"Chain integrity\"><p><strong>{label}:</strong> {}</p></div>",
        esc(&r.integrity_line())
    );
    toc(&mut h);
    summary(&mut h, r);
    chart_per_day(&mut h, r);
    for (i, ((id, title, dim), rows)) in GROUPS.iter().zip(r.groups()).enumerate() {
        if i == 2 {
            findings_section(&mut h, r);
            h.push_str("<h2 id=\"requests\">Requests</h2>\n");
        }
        group_table(&mut h, id, title, dim, rows);
    }
    refusals(&mut h, r);
    routes(&mut h, r);
    repeated(&mut h, r);
    provenance(&mut h, r);
    h.push_str("</main>\n<footer>\n<p>Figures are counts from the audit records: no record holds a value, a prompt or a key. Tokens are as the providers reported them; energy is an estimate (see the method in docs/AUDIT.md).</p>\n</footer>\n</body>\n</html>\n");
    h
}

fn period_text(r: &Report) -> String {
    let p = &r.period;
    let asked = match (&p.from, &p.to) {
        (None, None) => "all records".to_owned(),
        (Some(f), None) => format!("from {f}"),
        (None, Some(t)) => format!("before {t}"),
        (Some(f), Some(t)) => format!("from {f} to {t} (exclusive)"),
    };
    match (&p.first_record, &p.last_record) {
        (Some(a), Some(b)) => format!("{asked}; requests from {a} to {b}"),
        _ => format!("{asked}; no request"),
    }
}

fn toc(h: &mut String) {
    h.push_str("<nav aria-labelledby=\"toc\">\n<h2 id=\"toc\">Contents</h2>\n<ul>\n");
    let mut items = vec![
        ("summary", "Summary"),
        ("chart", "Requests over time"),
        (GROUPS[0].0, GROUPS[0].1),
        (GROUPS[1].0, GROUPS[1].1),
        ("findings", "Findings"),
    ];
    for (id, title, _) in &FINDINGS {
        items.push((id, title));
    }
    items.push(("requests", "Requests"));
    for (id, title, _) in &GROUPS[2..] {
        items.push((id, title));
    }
    items.extend([
        ("refusals", "Blocked and refused requests"),
        ("routes", "Routed requests"),
        ("repeated", "Values sent more than once"),
        ("provenance", "Policy versions and instances"),
    ]);
    for (id, title) in items {
        let _ = writeln!(h, "<li><a href=\"#{id}\">{}</a></li>", esc(title));
    }
    h.push_str("</ul>\n</nav>\n");
}

fn summary(h: &mut String, r: &Report) {
    let t = &r.totals;
    h.push_str("<h2 id=\"summary\">Summary</h2>\n<dl class=\"summary\">\n");
    let mut item = |k: &str, v: String| {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    };
    item("Requests", t.requests.to_string());
    item("Forwarded", t.forwarded.to_string());
    item("Routed", t.routed.to_string());
    item("Blocked by the policy", t.blocked.to_string());
    item("Refused (other reasons)", t.refused.to_string());
    if t.decision_not_reported > 0 {
        item("Decision not reported", t.decision_not_reported.to_string());
    }
    item("Findings", t.findings.to_string());
    item(
        "Bytes in / out",
        format!("{} / {}", t.bytes_in, t.bytes_out),
    );
    item(
        "Tokens in / out",
        if t.tokens.requests_reported == 0 {
            NOT_REPORTED.to_owned()
        } else {
            format!(
                "{} / {} ({} requests reported usage, {} did not)",
                t.tokens.input_tokens,
                t.tokens.output_tokens,
                t.tokens.requests_reported,
                t.tokens.requests_not_reported
            )
        },
    );
    item(
        "Estimated energy",
        if t.energy.requests_reported == 0 {
            NOT_REPORTED.to_owned()
        } else {
            format!(
                "{} ({} µWh; {} requests estimated, {} not)",
                format_energy(t.energy.uwh),
                t.energy.uwh,
                t.energy.requests_reported,
                t.energy.requests_not_reported
            )
        },
    );
    item(
        "Request records outside the period",
        r.period.outside_period.to_string(),
    );
    if r.integrity.unreadable_lines > 0 {
        item(
            "Lines that are not audit records",
            r.integrity.unreadable_lines.to_string(),
        );
    }
    h.push_str("</dl>\n");
}

/// An SVG bar chart of requests per day, with its text alternative.
fn chart_per_day(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"chart\">Requests over time</h2>\n");
    let days = chart_days(&r.by_day);
    if days.is_empty() {
        h.push_str("<p>No request in this period.</p>\n");
        return;
    }
    let max = days.iter().map(|d| d.1).max().unwrap_or(1).max(1);
    let (bar_w, gap): (usize, usize) = match days.len() {
        0..=60 => (24, 4),
        61..=200 => (6, 4),
        _ => (2, 1),
    };
    let (left, top, plot_h) = (40usize, 20usize, 160usize);
    let width = left + days.len() * (bar_w + gap) + 10;
    let height = top + plot_h + 40;
    let (first, last) = (&days[0].0, &days[days.len() - 1].0);
    let alt = format!(
        "Bar chart of requests per UTC day, {} day(s) from {first} to {last}; the busiest day had {max} request(s); days without requests are drawn at 0. The same figures are in the table “Requests per day (UTC)”.",
        days.len(),
    );
    let _ = writeln!(
        h,
        "<figure>\n<svg role=\"img\" aria-labelledby=\"chart-title chart-desc\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <title id=\"chart-title\">Requests per day</title>\n<desc id=\"chart-desc\">{}</desc>",
        esc(&alt)
    );
    let base = top + plot_h;
    let _ = writeln!(
        h,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>\n<text x=\"4\" y=\"{}\">{max}</text>\n<text x=\"4\" y=\"{base}\">0</text>",
        width - 5,
        top + 4
    );
    for (i, (_, requests)) in days.iter().enumerate() {
        let bh = (*requests as usize * plot_h).div_ceil(max as usize);
        let x = left + i * (bar_w + gap);
        let _ = writeln!(
            h,
            "<rect class=\"bar\" x=\"{x}\" y=\"{}\" width=\"{bar_w}\" height=\"{bh}\"/>",
            base - bh
        );
    }
    // First and last day under the axis.
    let _ = writeln!(
        h,
        "<text x=\"{left}\" y=\"{}\">{}</text>",
        base + 16,
        esc(first)
    );
    if days.len() > 1 {
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            width - 5,
            base + 32,
            esc(last)
        );
    }
    let _ = writeln!(
        h,
        "</svg>\n<figcaption>Requests per UTC day, from 0 to {max}. Figures: <a href=\"#by-day\">table “Requests per day (UTC)”</a>.</figcaption>\n</figure>"
    );
}

/// Longest span of days the chart fills with the days without requests.
const MAX_CHART_DAYS: i64 = 1_000;

/// (day, requests) from the first to the last day with requests, the days without any
/// included as 0 so that the bars keep the calendar's scale (unless the span is longer
/// than [`MAX_CHART_DAYS`]: then only the days with requests).
pub(super) fn chart_days(by_day: &[Group]) -> Vec<(String, u64)> {
    let known: Vec<(String, u64)> = by_day
        .iter()
        .filter_map(|g| Some((g.key.clone()?, g.requests)))
        .collect();
    let day_us = |d: &str| super::parse_time(d).map(|t| t.0 / super::DAY_US);
    let (Some(a), Some(b)) = (
        known.first().and_then(|k| day_us(&k.0)),
        known.last().and_then(|k| day_us(&k.0)),
    ) else {
        return known;
    };
    if b - a >= MAX_CHART_DAYS || a < 0 {
        return known;
    }
    let counts: std::collections::BTreeMap<&str, u64> =
        known.iter().map(|(d, n)| (d.as_str(), *n)).collect();
    (a..=b)
        .map(|day| {
            let key = super::time_of_us(day * super::DAY_US)[..10].to_owned();
            let n = counts.get(key.as_str()).copied().unwrap_or(0);
            (key, n)
        })
        .collect()
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| NOT_REPORTED.to_owned(), |n| n.to_string())
}

fn num_cell(h: &mut String, v: &str) {
    if v == NOT_REPORTED {
        let _ = write!(h, "<td class=\"muted\">{v}</td>");
    } else {
        let _ = write!(h, "<td class=\"num\">{}</td>", esc(v));
    }
}

/// Starts a table in a keyboard-scrollable region labelled by its caption.
fn table_start(h: &mut String, id: &str, caption: &str, headers: &[&str]) {
    let _ = write!(
        h,
        "<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-labelledby=\"{id}-caption\">\n<table>\n<caption id=\"{id}-caption\">{}</caption>\n<thead><tr>",
        esc(caption)
    );
    for head in headers {
        let _ = write!(h, "<th scope=\"col\">{}</th>", esc(head));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
}

fn table_end(h: &mut String) {
    h.push_str("</tbody>\n</table>\n</div>\n");
}

fn group_table(h: &mut String, id: &str, title: &str, dimension: &str, rows: &[Group]) {
    let _ = writeln!(h, "<h3 id=\"{id}\">{}</h3>", esc(title));
    if rows.is_empty() {
        h.push_str("<p>No request in this period.</p>\n");
        return;
    }
    let first = capitalise(dimension);
    table_start(
        h,
        &format!("{id}-table"),
        title,
        &[
            &first,
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
    );
    for g in rows {
        h.push_str("<tr>");
        match &g.key {
            Some(k) => {
                let _ = write!(h, "<th scope=\"row\">{}</th>", esc(k));
            }
            None => {
                let _ = write!(
                    h,
                    "<th scope=\"row\" class=\"muted\">{}</th>",
                    words::missing(dimension)
                );
            }
        }
        for v in [
            g.requests,
            g.forwarded,
            g.routed,
            g.blocked,
            g.refused,
            g.findings,
            g.bytes_in,
            g.bytes_out,
        ] {
            num_cell(h, &v.to_string());
        }
        for v in [g.input_tokens, g.output_tokens, g.energy_uwh] {
            num_cell(h, &opt(v));
        }
        h.push_str("</tr>\n");
    }
    table_end(h);
}

fn findings_section(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"findings\">Findings</h2>\n<p>A finding is one value detected in a request. “Requests sent” were forwarded or routed (values pseudonymised, redacted or allowed as the policy said); “requests stopped” were blocked or refused.</p>\n");
    for ((id, title, dim), rows) in FINDINGS.iter().zip(r.finding_tables()) {
        let _ = writeln!(h, "<h3 id=\"{id}\">{}</h3>", esc(title));
        if rows.is_empty() {
            h.push_str("<p>None in this period.</p>\n");
            continue;
        }
        table_start(
            h,
            &format!("{id}-table"),
            title,
            &[
                &capitalise(dim),
                "Findings",
                "Requests",
                "Requests sent",
                "Requests stopped",
            ],
        );
        for c in rows {
            let _ = write!(h, "<tr><th scope=\"row\">{}</th>", esc(&c.key));
            for v in [c.findings, c.requests, c.requests_sent, c.requests_stopped] {
                num_cell(h, &v.to_string());
            }
            h.push_str("</tr>\n");
        }
        table_end(h);
    }
}

fn text_or_missing(v: Option<&str>) -> String {
    match v {
        Some(s) => esc(s),
        None => format!("<span class=\"muted\">{NOT_REPORTED}</span>"),
    }
}

fn refusals(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"refusals\">Blocked and refused requests</h2>\n<p>Blocked: refused by the policy. Refused: stopped for another reason (unknown endpoint, invalid body, limits, audit unavailable…). Nothing was sent for either.</p>\n");
    if r.refusals.is_empty() {
        h.push_str("<p>None in this period.</p>\n");
        return;
    }
    table_start(
        h,
        "refusals-table",
        "Blocked and refused requests, by reason",
        &[
            "Decision",
            "Refusal code",
            "Rule",
            "Requests",
            "Request ids",
        ],
    );
    for f in &r.refusals {
        let ids = if f.request_ids.is_empty() {
            "—".to_owned()
        } else {
            let shown: Vec<String> = f
                .request_ids
                .iter()
                .take(MAX_IDS_SHOWN)
                .map(|id| format!("<code>{}</code>", esc(id)))
                .collect();
            let more = f.request_ids.len().saturating_sub(MAX_IDS_SHOWN);
            let mut s = shown.join(", ");
            if more > 0 {
                let _ = write!(s, " and {more} more (all in the JSON report)");
            }
            s
        };
        let _ = writeln!(
            h,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{ids}</td></tr>",
            f.decision.as_str(),
            text_or_missing(f.code.as_deref()),
            text_or_missing(f.rule.as_deref()),
            f.requests
        );
    }
    table_end(h);
}

fn routes(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"routes\">Routed requests</h2>\n");
    if r.routes.is_empty() {
        h.push_str("<p>None in this period.</p>\n");
        return;
    }
    table_start(
        h,
        "routes-table",
        "Routed requests: provider asked for, provider used, and the rule",
        &["Asked for", "Sent to", "Rule", "Requests"],
    );
    for x in &r.routes {
        let _ = writeln!(
            h,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            text_or_missing(x.from.as_deref()),
            text_or_missing(x.to.as_deref()),
            text_or_missing(x.rule.as_deref()),
            x.requests
        );
    }
    table_end(h);
}

fn repeated(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"repeated\">Values sent more than once</h2>\n<p>Values are compared by their keyed hashes in the records: the report tells that the same value went out in several requests without knowing or showing it.</p>\n");
    if r.repeated_values.is_empty() {
        h.push_str("<p>No value was sent in more than one request in this period.</p>\n");
        return;
    }
    table_start(
        h,
        "repeated-table",
        "Values sent in more than one request, per entity",
        &[
            "Entity",
            "Distinct values sent",
            "Values sent more than once",
            "Requests carrying them",
            "Most requests for one value",
        ],
    );
    for x in &r.repeated_values {
        let _ = write!(h, "<tr><th scope=\"row\">{}</th>", esc(&x.entity));
        for v in [
            x.distinct_values,
            x.repeated_values,
            x.occurrences,
            x.max_requests_per_value,
        ] {
            num_cell(h, &v.to_string());
        }
        h.push_str("</tr>\n");
    }
    table_end(h);
}

fn provenance(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"provenance\">Policy versions and instances</h2>\n");
    for (id, title, head, rows) in [
        (
            "policy-versions",
            "Requests per policy version (BLAKE3 of the configuration)",
            "Policy version",
            &r.policy_versions,
        ),
        (
            "instances",
            "Requests per Paravent instance",
            "Instance",
            &r.instances,
        ),
    ] {
        if rows.is_empty() {
            continue;
        }
        table_start(h, id, title, &[head, "Requests"]);
        for t in rows {
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\"><code>{}</code></th><td class=\"num\">{}</td></tr>",
                esc(&t.key),
                t.requests
            );
        }
        table_end(h);
    }
    let _ = writeln!(
        h,
        "<p>Files, oldest first: {}.</p>",
        r.integrity
            .files
            .iter()
            .map(|f| format!("<code>{}</code>", esc(f)))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
