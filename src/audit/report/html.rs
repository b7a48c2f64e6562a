//! \[pure\] The report as one self-contained, accessible HTML page (RGAA 4 / WCAG 2.1 AA).
//!
//! Inline CSS, no script, no external resource. Headings in order (one `h1`, `h2` per
//! section), a skip link and a table of contents, every table with a `caption` and
//! `th scope`, text and bars above the AA contrast ratios, each chart an SVG with
//! `role="img"`, a title and a description, and its figures in the table next to it.
//! Every string from a record goes through [`esc`]: a principal named `<script>` is text.

use std::fmt::Write as _;

use super::words::{FINDINGS, GROUPS, OBSERVED, Words};
use super::{Group, Lang, Report, evidence};

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
svg .d0 { fill: #1f4e79; }
svg .d1 { fill: #5b3a8c; }
svg .d2 { fill: #8a1010; }
svg .d3 { fill: #595959; }
.evidence table { width: 100%; }
.evidence td, .evidence th { overflow-wrap: anywhere; }
.evidence td:last-child { width: 30%; font-size: 0.9em; }
.evidence td ul { margin: 0; padding-left: 1.1rem; }
details { margin: 0.5rem 0 1rem; }
summary { cursor: pointer; color: #0b3d91; }
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

/// Renders the report as an HTML document in `lang`.
pub fn render(r: &Report, lang: Lang) -> String {
    let w = lang.words();
    let mut h = String::with_capacity(64 * 1024);
    let period = w.period(&r.period);
    let title = format!("{} — {period}", w.report_title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"paravent audit report\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">{}</a>\n\
         <header>\n<p>{}</p>\n</header>\n\
         <main id=\"main\" tabindex=\"-1\">\n<h1>{}</h1>\n",
        lang.code(),
        esc(&title),
        esc(w.skip),
        esc(w.header),
        esc(w.h1)
    );
    let _ = writeln!(
        h,
        "<p>{}</p>",
        w.period_line(&esc(&period), &esc(&r.generated_at))
    );
    let (class, label) = if r.integrity.verified {
        ("ok", w.integrity_ok)
    } else {
        ("bad", w.integrity_bad)
    };
    let _ = writeln!(
        h,
        "<div class=\"banner {class}\" role=\"note\" aria-label=\"{}\"><p><strong>{}{}</strong> {}</p></div>",
        esc(w.integrity_aria),
        esc(label),
        w.colon(),
        esc(&w.integrity_line(r))
    );
    // Over more than two months: the months first, each month's days folded.
    let long = r.by_day.len() > FOLD_DAYS;
    toc(&mut h, w, long);
    evidence_section(&mut h, r, w);
    summary(&mut h, r, w);
    chart_per_day(&mut h, r, w);
    for (i, (((id, dim), title), rows)) in GROUPS
        .iter()
        .zip(w.group_titles)
        .zip(r.groups())
        .enumerate()
    {
        if i == 2 {
            findings_section(&mut h, r, w);
            let _ = writeln!(h, "<h2 id=\"requests\">{}</h2>", esc(w.requests));
        }
        match (long, i) {
            (true, 0) => {}
            (true, 1) => {
                group_table(&mut h, w, id, title, dim, rows);
                let (day_id, day_dim) = GROUPS[0];
                days_by_month(&mut h, r, w, day_id, w.group_titles[0], day_dim);
            }
            _ => group_table(&mut h, w, id, title, dim, rows),
        }
    }
    refusals(&mut h, r, w);
    routes(&mut h, r, w);
    observed(&mut h, r, w);
    repeated(&mut h, r, w);
    provenance(&mut h, r, w);
    let _ = write!(
        h,
        "</main>\n<footer>\n<p>{}</p>\n</footer>\n</body>\n</html>\n",
        esc(w.footer)
    );
    h
}

/// Days above which the per-day table is folded month by month under the per-month one.
const FOLD_DAYS: usize = 62;

/// The per-day table of a long period: one folded table per month (`<details>`), the
/// month's total in its summary.
fn days_by_month(h: &mut String, r: &Report, w: &Words, id: &str, title: &str, dim: &str) {
    let _ = writeln!(h, "<h3 id=\"{id}\">{}</h3>", esc(title));
    let mut start = 0;
    while start < r.by_day.len() {
        let month = r.by_day[start].key.as_deref().map(|k| &k[..k.len().min(7)]);
        let len = r.by_day[start..]
            .iter()
            .take_while(|g| g.key.as_deref().map(|k| &k[..k.len().min(7)]) == month)
            .count();
        let days = &r.by_day[start..start + len];
        let requests: u64 = days.iter().map(|g| g.requests).sum();
        let label = match month {
            Some(m) => esc(m),
            None => esc(w.missing(dim)),
        };
        let _ = writeln!(
            h,
            "<details>\n<summary>{label} — {}{} {}</summary>",
            esc(w.group_heads[0]),
            w.colon(),
            w.n(requests)
        );
        let table_id = format!("{id}-{}-table", month.unwrap_or("none"));
        table_start_plain(
            h,
            &table_id,
            &format!("{title} — {label}"),
            w.dimension(dim),
            &w.group_heads,
        );
        for g in days {
            group_row(h, w, dim, g);
        }
        table_end(h);
        h.push_str("</details>\n");
        start += len;
    }
}

fn toc(h: &mut String, w: &Words, long: bool) {
    let _ = write!(
        h,
        "<nav aria-labelledby=\"toc\">\n<h2 id=\"toc\">{}</h2>\n<ul>\n",
        esc(w.contents)
    );
    let (day, month) = (
        (GROUPS[0].0, w.group_titles[0]),
        (GROUPS[1].0, w.group_titles[1]),
    );
    let x = w.evidence();
    let mut items = vec![
        ("evidence", x.title),
        ("evidence-terms", x.terms_title),
        ("evidence-assistants", x.assistants_title),
        ("chart-nature", x.chart_nature_title),
        ("chart-provider", x.chart_provider_title),
        ("summary", w.summary),
        ("chart", w.chart),
    ];
    items.extend(if long { [month, day] } else { [day, month] });
    items.push(("findings", w.findings));
    for ((id, _), title) in FINDINGS.iter().zip(w.finding_titles) {
        items.push((id, title));
    }
    items.push(("requests", w.requests));
    for ((id, _), title) in GROUPS[2..].iter().zip(&w.group_titles[2..]) {
        items.push((id, title));
    }
    items.extend([
        ("refusals", w.refusals),
        ("routes", w.routes),
        ("observed", w.observed),
        ("repeated", w.repeated),
        ("provenance", w.provenance),
    ]);
    for (id, title) in items {
        let _ = writeln!(h, "<li><a href=\"#{id}\">{}</a></li>", esc(title));
    }
    h.push_str("</ul>\n</nav>\n");
}

fn summary(h: &mut String, r: &Report, w: &Words) {
    let t = &r.totals;
    let _ = writeln!(
        h,
        "<h2 id=\"summary\">{}</h2>\n<dl class=\"summary\">",
        esc(w.summary)
    );
    let mut item = |k: &str, v: String| {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    };
    item(w.s_requests, w.n(t.requests));
    item(w.s_forwarded, w.n(t.forwarded));
    item(w.s_routed, w.n(t.routed));
    item(w.s_blocked, w.n(t.blocked));
    item(w.s_refused, w.n(t.refused));
    if t.decision_not_reported > 0 {
        item(w.s_decision_not_reported, w.n(t.decision_not_reported));
    }
    item(w.s_findings, w.n(t.findings));
    item(
        w.s_bytes,
        format!("{} / {}", w.n(t.bytes_in), w.n(t.bytes_out)),
    );
    item(w.s_tokens, w.tokens(&t.tokens));
    item(w.s_energy, w.energy_total(&t.energy));
    item(w.s_outside, w.n(r.period.outside_period));
    if r.integrity.unreadable_lines > 0 {
        item(w.s_unreadable, w.n(r.integrity.unreadable_lines));
    }
    if !r.integrity.files_skipped.is_empty() {
        item(w.s_skipped, w.n(r.integrity.files_skipped.len() as u64));
    }
    h.push_str("</dl>\n");
}

/// An SVG bar chart of requests per day, with its text alternative.
fn chart_per_day(h: &mut String, r: &Report, w: &Words) {
    let _ = writeln!(h, "<h2 id=\"chart\">{}</h2>", esc(w.chart));
    let days = chart_days(&r.by_day);
    if days.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(w.no_request));
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
    let alt = w.chart_alt(days.len(), first, last, max);
    let _ = writeln!(
        h,
        "<figure>\n<svg role=\"img\" aria-labelledby=\"chart-title chart-desc\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <title id=\"chart-title\">{}</title>\n<desc id=\"chart-desc\">{}</desc>",
        esc(w.chart_title),
        esc(&alt)
    );
    let base = top + plot_h;
    let _ = writeln!(
        h,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>\n<text x=\"4\" y=\"{}\">{}</text>\n<text x=\"4\" y=\"{base}\">0</text>",
        width - 5,
        top + 4,
        w.n(max)
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
    let (caption, link) = w.chart_caption(max);
    let _ = writeln!(
        h,
        "</svg>\n<figcaption>{}<a href=\"#by-day\">{}</a>.</figcaption>\n</figure>",
        esc(&caption),
        esc(&link)
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

/// A number cell; `None` shows as not reported.
fn num_cell(h: &mut String, w: &Words, v: Option<u64>) {
    match v {
        Some(n) => {
            let _ = write!(h, "<td class=\"num\">{}</td>", w.n(n));
        }
        None => {
            let _ = write!(h, "<td class=\"muted\">{}</td>", esc(w.not_reported));
        }
    }
}

/// Starts a table in a keyboard-scrollable region labelled by its caption.
fn table_start(h: &mut String, id: &str, caption: &str, first: &str, headers: &[&str]) {
    table_start_plain(h, id, &esc(caption), first, headers);
}

/// [`table_start`] with a caption already escaped.
fn table_start_plain(h: &mut String, id: &str, caption: &str, first: &str, headers: &[&str]) {
    let _ = write!(
        h,
        "<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-labelledby=\"{id}-caption\">\n<table>\n<caption id=\"{id}-caption\">{caption}</caption>\n<thead><tr>"
    );
    for head in std::iter::once(&first).chain(headers) {
        let _ = write!(h, "<th scope=\"col\">{}</th>", esc(head));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
}

fn table_end(h: &mut String) {
    h.push_str("</tbody>\n</table>\n</div>\n");
}

/// Opens a group's row with its header cell: the group's term, or the dimension's word
/// for "none" (muted).
fn row_head(h: &mut String, w: &Words, dimension: &str, key: Option<&str>) {
    h.push_str("<tr>");
    match key {
        Some(k) => {
            let _ = write!(h, "<th scope=\"row\">{}</th>", esc(&w.term(dimension, k)));
        }
        None => {
            let _ = write!(
                h,
                "<th scope=\"row\" class=\"muted\">{}</th>",
                esc(w.missing(dimension))
            );
        }
    }
}

fn group_table(h: &mut String, w: &Words, id: &str, title: &str, dimension: &str, rows: &[Group]) {
    let _ = writeln!(h, "<h3 id=\"{id}\">{}</h3>", esc(title));
    if rows.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(w.no_request));
        return;
    }
    table_start(
        h,
        &format!("{id}-table"),
        title,
        w.dimension(dimension),
        &w.group_heads,
    );
    for g in rows {
        group_row(h, w, dimension, g);
    }
    table_end(h);
}

/// One group's row.
fn group_row(h: &mut String, w: &Words, dimension: &str, g: &Group) {
    row_head(h, w, dimension, g.key.as_deref());
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
        num_cell(h, w, Some(v));
    }
    for v in [g.input_tokens, g.output_tokens, g.energy_uwh] {
        num_cell(h, w, v);
    }
    h.push_str("</tr>\n");
}

fn findings_section(h: &mut String, r: &Report, w: &Words) {
    let _ = writeln!(
        h,
        "<h2 id=\"findings\">{}</h2>\n<p>{}</p>",
        esc(w.findings),
        esc(w.findings_intro)
    );
    let tables = FINDINGS
        .iter()
        .zip(w.finding_titles)
        .zip(r.finding_tables());
    dimension_tables(h, w, tables, &w.finding_heads, |h, dim, c| {
        let _ = write!(
            h,
            "<tr><th scope=\"row\">{}</th>",
            esc(&w.term(dim, &c.key))
        );
        for v in [c.findings, c.requests, c.requests_sent, c.requests_stopped] {
            num_cell(h, w, Some(v));
        }
        h.push_str("</tr>\n");
    });
}

/// One `<h3>` and one table per dimension (`(id, dimension)`, its title, its rows), or
/// the word for "none" when it has no row; `row` writes one row.
fn dimension_tables<'a, T: 'a>(
    h: &mut String,
    w: &Words,
    tables: impl Iterator<Item = ((&'a (&'a str, &'a str), &'a str), &'a [T])>,
    heads: &[&str],
    mut row: impl FnMut(&mut String, &str, &T),
) {
    for (((id, dim), title), rows) in tables {
        let _ = writeln!(h, "<h3 id=\"{id}\">{}</h3>", esc(title));
        if rows.is_empty() {
            let _ = writeln!(h, "<p>{}</p>", esc(w.none));
            continue;
        }
        table_start(h, &format!("{id}-table"), title, w.dimension(dim), heads);
        for x in rows {
            row(h, dim, x);
        }
        table_end(h);
    }
}

fn text_or_missing(w: &Words, v: Option<&str>) -> String {
    match v {
        Some(s) => esc(s),
        None => format!("<span class=\"muted\">{}</span>", esc(w.not_reported)),
    }
}

fn refusals(h: &mut String, r: &Report, w: &Words) {
    let _ = writeln!(
        h,
        "<h2 id=\"refusals\">{}</h2>\n<p>{}</p>",
        esc(w.refusals),
        esc(w.refusals_intro)
    );
    if r.refusals.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(w.none));
        return;
    }
    let [first, heads @ ..] = &w.refusal_heads;
    table_start(h, "refusals-table", w.refusals_caption, first, heads);
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
            // The report keeps the first ids only: the count says how many there were.
            let more = (f.requests as usize).saturating_sub(shown.len());
            let mut s = shown.join(", ");
            if more > 0 {
                s.push_str(&esc(&w.more_ids(more)));
            }
            s
        };
        let _ = writeln!(
            h,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{ids}</td></tr>",
            esc(&w.term("decision", f.decision.as_str())),
            text_or_missing(w, f.code.as_deref()),
            text_or_missing(w, f.rule.as_deref()),
            w.n(f.requests)
        );
    }
    table_end(h);
}

fn routes(h: &mut String, r: &Report, w: &Words) {
    let _ = writeln!(h, "<h2 id=\"routes\">{}</h2>", esc(w.routes));
    if r.routes.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(w.none));
        return;
    }
    let [first, heads @ ..] = &w.route_heads;
    table_start(h, "routes-table", w.routes_caption, first, heads);
    for x in &r.routes {
        let _ = writeln!(
            h,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            text_or_missing(w, x.from.as_deref()),
            text_or_missing(w, x.to.as_deref()),
            text_or_missing(w, x.rule.as_deref()),
            w.n(x.requests)
        );
    }
    table_end(h);
}

fn observed(h: &mut String, r: &Report, w: &Words) {
    let _ = writeln!(
        h,
        "<h2 id=\"observed\">{}</h2>\n<p>{}</p>",
        esc(w.observed),
        esc(w.observed_intro)
    );
    let total = &r.observed.total;
    if total.requests == 0 {
        let _ = writeln!(h, "<p>{}</p>", esc(w.no_observed));
        return;
    }
    let _ = writeln!(h, "<p>{}</p>", esc(&w.observed_line(total)));
    let tables = OBSERVED
        .iter()
        .zip(w.observed_titles)
        .zip(r.observed_tables());
    dimension_tables(h, w, tables, &w.observed_heads, |h, dim, g| {
        row_head(h, w, dim, g.key.as_deref());
        for v in [
            g.requests,
            g.would_forward,
            g.would_route,
            g.would_block,
            g.would_refuse,
            g.pseudonymised,
            g.redacted,
        ] {
            num_cell(h, w, Some(v));
        }
        h.push_str("</tr>\n");
    });
}

fn repeated(h: &mut String, r: &Report, w: &Words) {
    let _ = writeln!(
        h,
        "<h2 id=\"repeated\">{}</h2>\n<p>{}</p>",
        esc(w.repeated),
        esc(w.repeated_intro)
    );
    if r.repeated_values.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(w.no_repeated));
        return;
    }
    let [first, heads @ ..] = &w.repeated_heads;
    table_start(h, "repeated-table", w.repeated_caption, first, heads);
    for x in &r.repeated_values {
        // Sampled (too many distinct values to count in bounded memory): estimates.
        let sampled = if x.sampling > 1 {
            format!(" <span class=\"muted\">(≈ 1/{})</span>", x.sampling)
        } else {
            String::new()
        };
        let _ = write!(h, "<tr><th scope=\"row\">{}{sampled}</th>", esc(&x.entity));
        for v in [
            x.distinct_values,
            x.repeated_values,
            x.occurrences,
            x.max_requests_per_value,
        ] {
            num_cell(h, w, Some(v));
        }
        h.push_str("</tr>\n");
    }
    table_end(h);
}

fn provenance(h: &mut String, r: &Report, w: &Words) {
    let _ = writeln!(h, "<h2 id=\"provenance\">{}</h2>", esc(w.provenance));
    for (id, title, head, rows) in [
        (
            "policy-versions",
            w.versions_caption,
            w.version_head,
            &r.policy_versions,
        ),
        (
            "instances",
            w.instances_caption,
            w.instance_head,
            &r.instances,
        ),
    ] {
        if rows.is_empty() {
            continue;
        }
        table_start(h, id, title, head, &[w.s_requests]);
        for t in rows {
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\"><code>{}</code></th><td class=\"num\">{}</td></tr>",
                esc(&t.key),
                w.n(t.requests)
            );
        }
        table_end(h);
    }
    if !r.integrity.by_chain.is_empty() {
        let [first, heads @ ..] = &w.chain_heads;
        table_start(h, "chains", w.chains_caption, first, heads);
        for c in &r.integrity.by_chain {
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\"><code>{}</code></th><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.instance_id),
                esc(&c.chain_id),
                w.n(c.records),
                esc(&c.first_time),
                esc(&c.last_time),
                esc(if c.closed {
                    w.chain_closed
                } else {
                    w.chain_open
                }),
                esc(if c.bad.is_none() {
                    w.chain_verified
                } else {
                    w.chain_broken
                }),
            );
        }
        table_end(h);
    }
    let files = r
        .integrity
        .files
        .iter()
        .map(|f| format!("<code>{}</code>", esc(f)))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(h, "<p>{}</p>", w.files(&files));
}

/// Escapes `s` and marks what is between backticks as code.
fn with_code(s: &str) -> String {
    s.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", esc(part))
            } else {
                esc(part)
            }
        })
        .collect()
}

/// The "Evidence" section: one row per criterion a proxy can evidence, the providers'
/// terms, the assistant profiles, and two charts with their figures.
fn evidence_section(h: &mut String, r: &Report, w: &Words) {
    let x = w.evidence();
    let _ = writeln!(
        h,
        "<h2 id=\"evidence\">{}</h2>\n<p>{}</p>",
        esc(x.title),
        with_code(x.intro)
    );
    let _ = write!(
        h,
        "<div class=\"table-wrap evidence\" role=\"region\" tabindex=\"0\" aria-labelledby=\"evidence-table-caption\">\n<table>\n<caption id=\"evidence-table-caption\">{}</caption>\n<thead><tr>",
        esc(x.caption)
    );
    for head in x.heads {
        let _ = write!(h, "<th scope=\"col\">{}</th>", esc(head));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for row in evidence::rows(r, w) {
        let mut figures = if row.no_data {
            format!("<span class=\"muted\">{}</span>", esc(x.no_data))
        } else if row.figures.len() == 1 {
            esc(&row.figures[0])
        } else {
            let items: String = row
                .figures
                .iter()
                .map(|f| format!("<li>{}</li>", esc(f)))
                .collect();
            format!("<ul>{items}</ul>")
        };
        if let Some(note) = row.note {
            let _ = write!(figures, " {}", with_code(note));
        }
        let _ = writeln!(
            h,
            "<tr><td>{}</td><th scope=\"row\">{}</th><td>{figures}</td><td>{}</td></tr>",
            if row.criterion.is_empty() {
                "—"
            } else {
                row.criterion
            },
            esc(row.topic),
            with_code(row.source)
        );
    }
    table_end(h);
    evidence_terms(h, r, w);
    evidence_assistants(h, r, w);
    nature_chart(h, r, w);
    provider_chart(h, r, w);
}

fn evidence_terms(h: &mut String, r: &Report, w: &Words) {
    let x = w.evidence();
    let _ = writeln!(h, "<h3 id=\"evidence-terms\">{}</h3>", esc(x.terms_title));
    let e = &r.evidence;
    if e.governance_records == 0 || e.providers.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(x.no_data));
        return;
    }
    table_start(
        h,
        "evidence-terms-table",
        x.terms_caption,
        x.provider,
        &x.terms_heads,
    );
    for p in &e.providers {
        let _ = write!(h, "<tr><th scope=\"row\">{}</th>", esc(&p.provider));
        let t = p.terms.as_ref();
        let cells = [
            t.and_then(|t| t.jurisdiction.clone()),
            t.and_then(|t| t.region.clone()),
            t.and_then(|t| t.retention_days)
                .map(|d| format!("{} {}", w.n(u64::from(d)), x.days)),
            t.and_then(|t| t.training_use)
                .map(|b| if b { x.yes } else { x.no }.to_owned()),
            t.and_then(|t| t.dpa)
                .map(|b| if b { x.yes } else { x.no }.to_owned()),
            t.map(|t| {
                if t.settings.is_empty() {
                    "—".to_owned()
                } else {
                    t.settings.join(", ")
                }
            }),
        ];
        for c in cells {
            let _ = write!(h, "<td>{}</td>", text_or_missing(w, c.as_deref()));
        }
        num_cell(h, w, Some(p.requests_sent));
        let _ = writeln!(
            h,
            "<td>{}</td></tr>",
            if p.missing.is_empty() {
                "—".to_owned()
            } else {
                esc(&p.missing.join(", "))
            }
        );
    }
    table_end(h);
}

fn evidence_assistants(h: &mut String, r: &Report, w: &Words) {
    let x = w.evidence();
    let _ = writeln!(
        h,
        "<h3 id=\"evidence-assistants\">{}</h3>",
        esc(x.assistants_title)
    );
    let e = &r.evidence;
    if e.assistants.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(x.no_data));
        return;
    }
    table_start(
        h,
        "evidence-assistants-table",
        x.assistants_caption,
        x.profile,
        &x.assistants_heads,
    );
    for a in &e.assistants {
        let _ = write!(
            h,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td>",
            esc(&a.name),
            text_or_missing(w, a.info.as_ref().map(|i| i.owner.as_str())),
            text_or_missing(w, a.info.as_ref().map(|i| i.purpose.as_str())),
        );
        for v in [a.requests, a.blocked, a.findings] {
            num_cell(h, w, Some(v));
        }
        let natures = a
            .findings_by_nature
            .iter()
            .map(|(k, n)| format!("{}{} {}", w.term("nature", k), w.colon(), w.n(*n)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            h,
            "<td>{}</td>",
            if natures.is_empty() {
                "—".to_owned()
            } else {
                esc(&natures)
            }
        );
        for v in [a.input_tokens, a.output_tokens, a.energy_uwh] {
            num_cell(h, w, v);
        }
        h.push_str("</tr>\n");
    }
    table_end(h);
}

/// Small multiples: one row of bars per nature over the buckets, one scale, each row
/// labelled with its nature and total (no colour carries meaning).
fn nature_chart(h: &mut String, r: &Report, w: &Words) {
    let x = w.evidence();
    let _ = writeln!(
        h,
        "<h3 id=\"chart-nature\">{}</h3>",
        esc(x.chart_nature_title)
    );
    let s = evidence::NatureSeries::of(&r.evidence.findings_by_day);
    if s.natures.is_empty() || s.buckets.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(x.no_findings));
        return;
    }
    let n = s.buckets.len();
    let max = s
        .natures
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    let (label_w, row_h, bar_h) = (210usize, 56usize, 36usize);
    let step = (560 / n).clamp(3, 48);
    let bar_w = (step * 3 / 4).max(2);
    let width = label_w + n * step + 20;
    let height = 10 + s.natures.len() * row_h + 30;
    let series: Vec<(String, u64, (String, u64))> = s
        .natures
        .iter()
        .map(|(k, c)| {
            let (i, peak) = c
                .iter()
                .enumerate()
                .max_by_key(|(i, v)| (**v, std::cmp::Reverse(*i)))
                .map(|(i, v)| (i, *v))
                .unwrap_or((0, 0));
            (
                w.term("nature", k),
                c.iter().sum(),
                (s.buckets[i].clone(), peak),
            )
        })
        .collect();
    let (first, last) = (&s.buckets[0], &s.buckets[n - 1]);
    let alt = w.nature_chart_alt(s.monthly, first, last, &series);
    let _ = writeln!(
        h,
        "<figure>\n<svg role=\"img\" aria-labelledby=\"chart-nature-title chart-nature-desc\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <title id=\"chart-nature-title\">{}</title>\n<desc id=\"chart-nature-desc\">{}</desc>",
        esc(x.chart_nature_title),
        esc(&alt)
    );
    for (row, ((_, counts), (label, total, _))) in s.natures.iter().zip(&series).enumerate() {
        let base = 10 + row * row_h + bar_h + 4;
        let _ = writeln!(
            h,
            "<text x=\"4\" y=\"{}\">{}</text>\n<text x=\"4\" y=\"{}\">{}</text>\n<line class=\"axis\" x1=\"{label_w}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>",
            base - 18,
            esc(label),
            base - 2,
            esc(&format!("{} {}", w.n(*total), x.findings)),
            width - 10
        );
        for (i, v) in counts.iter().enumerate() {
            if *v == 0 {
                continue;
            }
            let bh = (*v as usize * bar_h).div_ceil(max as usize);
            let _ = writeln!(
                h,
                "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{bar_w}\" height=\"{bh}\"/>",
                label_w + i * step,
                base - bh
            );
        }
    }
    let bottom = 10 + s.natures.len() * row_h + 14;
    let _ = writeln!(
        h,
        "<text x=\"{label_w}\" y=\"{bottom}\">{}</text>",
        esc(first)
    );
    if n > 1 {
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            width - 10,
            bottom + 14,
            esc(last)
        );
    }
    let _ = writeln!(
        h,
        "</svg>\n<figcaption>{}</figcaption>\n</figure>",
        esc(&w.evidence_caption(x.chart_nature_title, max))
    );
    // The figures: one row per bucket, one column per nature.
    let _ = writeln!(h, "<details>\n<summary>{}</summary>", esc(x.figures_fold));
    let heads: Vec<String> = s.natures.iter().map(|(k, _)| w.term("nature", k)).collect();
    let heads: Vec<&str> = heads.iter().map(String::as_str).collect();
    table_start(
        h,
        "chart-nature-table",
        x.chart_nature_caption,
        if s.monthly { x.month } else { x.day },
        &heads,
    );
    for (i, b) in s.buckets.iter().enumerate() {
        let _ = write!(h, "<tr><th scope=\"row\">{}</th>", esc(b));
        for (_, c) in &s.natures {
            num_cell(h, w, Some(c[i]));
        }
        h.push_str("</tr>\n");
    }
    table_end(h);
    h.push_str("</details>\n");
}

/// Fill classes of the four decisions (CSS `.d0`…`.d3`); each bar is also labelled.
const DECISIONS: [&str; 4] = ["forwarded", "routed", "blocked", "refused"];

/// Providers drawn in the chart (the table under it has them all).
const MAX_CHART_PROVIDERS: usize = 20;

/// Grouped horizontal bars: per provider, one bar per decision, labelled with the
/// decision and its count.
fn provider_chart(h: &mut String, r: &Report, w: &Words) {
    let x = w.evidence();
    let _ = writeln!(
        h,
        "<h3 id=\"chart-provider\">{}</h3>",
        esc(x.chart_provider_title)
    );
    let rows = evidence::provider_decisions(r, w);
    if rows.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(w.no_request));
        return;
    }
    let drawn = &rows[..rows.len().min(MAX_CHART_PROVIDERS)];
    let max = drawn
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    let (left, plot_w, bar_h, group_h) = (20usize, 360usize, 14usize, 4 * 16 + 24);
    let width = left + plot_w + 220;
    let height = 10 + drawn.len() * group_h;
    let alt = w.provider_chart_alt(drawn);
    let _ = writeln!(
        h,
        "<figure>\n<svg role=\"img\" aria-labelledby=\"chart-provider-title chart-provider-desc\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <title id=\"chart-provider-title\">{}</title>\n<desc id=\"chart-provider-desc\">{}</desc>",
        esc(x.chart_provider_title),
        esc(&alt)
    );
    for (g, (provider, counts)) in drawn.iter().enumerate() {
        let top = 10 + g * group_h;
        let _ = writeln!(
            h,
            "<text x=\"4\" y=\"{}\" font-weight=\"600\">{}</text>",
            top + 12,
            esc(provider)
        );
        for (i, v) in counts.iter().enumerate() {
            let y = top + 20 + i * 16;
            let bw = (*v as usize * plot_w).div_ceil(max as usize);
            if bw > 0 {
                let _ = writeln!(
                    h,
                    "<rect class=\"d{i}\" x=\"{left}\" y=\"{y}\" width=\"{bw}\" height=\"{bar_h}\"/>"
                );
            }
            let _ = writeln!(
                h,
                "<text x=\"{}\" y=\"{}\">{} {}</text>",
                left + bw + 6,
                y + 11,
                esc(&w.term("decision", DECISIONS[i])),
                w.n(*v)
            );
        }
    }
    let _ = writeln!(
        h,
        "</svg>\n<figcaption>{}</figcaption>\n</figure>",
        esc(&w.evidence_caption(x.chart_provider_title, max))
    );
    let _ = writeln!(h, "<details>\n<summary>{}</summary>", esc(x.figures_fold));
    let heads: Vec<String> = DECISIONS.iter().map(|d| w.term("decision", d)).collect();
    let heads: Vec<&str> = heads.iter().map(String::as_str).collect();
    table_start(
        h,
        "chart-provider-table",
        x.chart_provider_caption,
        x.provider,
        &heads,
    );
    for (provider, counts) in &rows {
        let _ = write!(h, "<tr><th scope=\"row\">{}</th>", esc(provider));
        for v in counts {
            num_cell(h, w, Some(*v));
        }
        h.push_str("</tr>\n");
    }
    table_end(h);
    h.push_str("</details>\n");
}
