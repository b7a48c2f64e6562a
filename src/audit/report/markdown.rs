//! \[pure\] The report as Markdown (CommonMark with GitHub tables), the same sections as
//! the HTML page. Every string from a record goes through [`esc`], so a principal named
//! `a|b` cannot break a table and `<script>` or `[x](y)` stays text.

use std::fmt::Write as _;

use super::words::{self, FINDINGS, GROUPS, NOT_REPORTED};
use super::{Group, Report, format_energy};

/// Escapes text for a Markdown table cell or sentence: the punctuation Markdown could
/// read inline is backslash-escaped, `<` and `>` become entities, line breaks become spaces.
///
/// ```
/// use paravent::audit::report::markdown::esc;
/// assert_eq!(esc("a|b <i>*x*</i>"), r"a\|b &lt;i&gt;\*x\*&lt;/i&gt;");
/// ```
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            // `(` `#` `+` `!` need no escape here: only after `]`, at a line's start or
            // before `[`, none of which can happen in a cell once `[` is escaped.
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| NOT_REPORTED.to_owned(), |n| n.to_string())
}

fn text(v: Option<&str>) -> String {
    v.map_or_else(|| format!("*{NOT_REPORTED}*"), esc)
}

fn table(md: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(md, "| {} |", headers.join(" | "));
    let _ = writeln!(
        md,
        "|{}|",
        headers
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---" } else { "---:" })
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let _ = writeln!(md, "| {} |", r.join(" | "));
    }
    md.push('\n');
}

/// Renders the report as Markdown.
pub fn render(r: &Report) -> String {
    let mut md = String::with_capacity(16 * 1024);
    let t = &r.totals;
    md.push_str("# Paravent audit report\n\n");
    let p = &r.period;
    let asked = match (&p.from, &p.to) {
        (None, None) => "all records".to_owned(),
        (Some(f), None) => format!("from {f}"),
        (None, Some(t)) => format!("before {t}"),
        (Some(f), Some(t)) => format!("from {f} to {t} (exclusive)"),
    };
    let _ = writeln!(
        md,
        "Period: {asked}; requests from {} to {}. Generated {}.\n",
        p.first_record.as_deref().map_or("-".to_owned(), esc),
        p.last_record.as_deref().map_or("-".to_owned(), esc),
        esc(&r.generated_at)
    );
    let label = if r.integrity.verified {
        "Integrity"
    } else {
        "WARNING"
    };
    let _ = writeln!(md, "> **{label}:** {}\n", esc(&r.integrity_line()));

    md.push_str("## Summary\n\n");
    let tokens = if t.tokens.requests_reported == 0 {
        NOT_REPORTED.to_owned()
    } else {
        format!(
            "{} / {} ({} requests reported usage, {} did not)",
            t.tokens.input_tokens,
            t.tokens.output_tokens,
            t.tokens.requests_reported,
            t.tokens.requests_not_reported
        )
    };
    let energy = if t.energy.requests_reported == 0 {
        NOT_REPORTED.to_owned()
    } else {
        format!(
            "{} ({} µWh; {} requests estimated, {} not)",
            format_energy(t.energy.uwh),
            t.energy.uwh,
            t.energy.requests_reported,
            t.energy.requests_not_reported
        )
    };
    let mut rows = vec![
        vec!["Requests".to_owned(), t.requests.to_string()],
        vec!["Forwarded".to_owned(), t.forwarded.to_string()],
        vec!["Routed".to_owned(), t.routed.to_string()],
        vec!["Blocked by the policy".to_owned(), t.blocked.to_string()],
        vec!["Refused (other reasons)".to_owned(), t.refused.to_string()],
    ];
    if t.decision_not_reported > 0 {
        rows.push(vec![
            "Decision not reported".to_owned(),
            t.decision_not_reported.to_string(),
        ]);
    }
    rows.extend([
        vec!["Findings".to_owned(), t.findings.to_string()],
        vec![
            "Bytes in / out".to_owned(),
            format!("{} / {}", t.bytes_in, t.bytes_out),
        ],
        vec!["Tokens in / out".to_owned(), tokens],
        vec!["Estimated energy".to_owned(), energy],
        vec![
            "Request records outside the period".to_owned(),
            p.outside_period.to_string(),
        ],
    ]);
    if r.integrity.unreadable_lines > 0 {
        rows.push(vec![
            "Lines that are not audit records".to_owned(),
            r.integrity.unreadable_lines.to_string(),
        ]);
    }
    table(&mut md, &["Figure", "Value"], &rows);

    md.push_str("## Findings\n\n");
    for ((_, title, dim), counts) in FINDINGS.iter().zip(r.finding_tables()) {
        let _ = writeln!(md, "### {title}\n");
        if counts.is_empty() {
            md.push_str("None in this period.\n\n");
            continue;
        }
        let rows: Vec<Vec<String>> = counts
            .iter()
            .map(|c| {
                vec![
                    esc(&c.key),
                    c.findings.to_string(),
                    c.requests.to_string(),
                    c.requests_sent.to_string(),
                    c.requests_stopped.to_string(),
                ]
            })
            .collect();
        table(
            &mut md,
            &[
                dim,
                "findings",
                "requests",
                "requests sent",
                "requests stopped",
            ],
            &rows,
        );
    }

    md.push_str("## Requests\n\n");
    for ((_, title, dim), groups) in GROUPS.iter().zip(r.groups()) {
        let _ = writeln!(md, "### {title}\n");
        if groups.is_empty() {
            md.push_str("No request in this period.\n\n");
            continue;
        }
        let rows: Vec<Vec<String>> = groups.iter().map(|g| group_row(g, dim)).collect();
        table(
            &mut md,
            &[
                dim,
                "requests",
                "forwarded",
                "routed",
                "blocked",
                "refused",
                "findings",
                "bytes in",
                "bytes out",
                "tokens in",
                "tokens out",
                "energy µWh",
            ],
            &rows,
        );
    }

    md.push_str("## Blocked and refused requests\n\n");
    if r.refusals.is_empty() {
        md.push_str("None in this period.\n\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .refusals
            .iter()
            .map(|f| {
                vec![
                    f.decision.as_str().to_owned(),
                    text(f.code.as_deref()),
                    text(f.rule.as_deref()),
                    f.requests.to_string(),
                    if f.request_ids.is_empty() {
                        "-".to_owned()
                    } else {
                        f.request_ids
                            .iter()
                            .map(|id| esc(id))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                ]
            })
            .collect();
        table(
            &mut md,
            &[
                "decision",
                "refusal code",
                "rule",
                "requests",
                "request ids",
            ],
            &rows,
        );
    }

    md.push_str("## Routed requests\n\n");
    if r.routes.is_empty() {
        md.push_str("None in this period.\n\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .routes
            .iter()
            .map(|x| {
                vec![
                    text(x.from.as_deref()),
                    text(x.to.as_deref()),
                    text(x.rule.as_deref()),
                    x.requests.to_string(),
                ]
            })
            .collect();
        table(
            &mut md,
            &["asked for", "sent to", "rule", "requests"],
            &rows,
        );
    }

    md.push_str("## Values sent more than once\n\n");
    md.push_str("Compared by their keyed hashes: the same value went out in several requests; the value is neither known nor shown.\n\n");
    if r.repeated_values.is_empty() {
        md.push_str("No value was sent in more than one request in this period.\n\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .repeated_values
            .iter()
            .map(|x| {
                vec![
                    esc(&x.entity),
                    x.distinct_values.to_string(),
                    x.repeated_values.to_string(),
                    x.occurrences.to_string(),
                    x.max_requests_per_value.to_string(),
                ]
            })
            .collect();
        table(
            &mut md,
            &[
                "entity",
                "distinct values sent",
                "values sent more than once",
                "requests carrying them",
                "most requests for one value",
            ],
            &rows,
        );
    }

    md.push_str("## Policy versions and instances\n\n");
    for (head, tallies) in [
        ("policy version", &r.policy_versions),
        ("instance", &r.instances),
    ] {
        if tallies.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = tallies
            .iter()
            .map(|x| vec![esc(&x.key), x.requests.to_string()])
            .collect();
        table(&mut md, &[head, "requests"], &rows);
    }
    let _ = writeln!(
        md,
        "Files, oldest first: {}.",
        r.integrity
            .files
            .iter()
            .map(|f| esc(f))
            .collect::<Vec<_>>()
            .join(", ")
    );
    md
}

fn group_row(g: &Group, dimension: &str) -> Vec<String> {
    let key = g
        .key
        .as_deref()
        .map_or_else(|| format!("*{}*", words::missing(dimension)), esc);
    let mut row = vec![key];
    row.extend(
        [
            g.requests,
            g.forwarded,
            g.routed,
            g.blocked,
            g.refused,
            g.findings,
            g.bytes_in,
            g.bytes_out,
        ]
        .iter()
        .map(u64::to_string),
    );
    row.extend([opt(g.input_tokens), opt(g.output_tokens), opt(g.energy_uwh)]);
    row
}
