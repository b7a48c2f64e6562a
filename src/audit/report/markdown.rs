//! \[pure\] The report as Markdown (CommonMark with GitHub tables), the same sections as
//! the HTML page. Every string from a record goes through [`esc`], so a principal named
//! `a|b` cannot break a table and `<script>` or `[x](y)` stays text.

use std::fmt::Write as _;

use super::words::{FINDINGS, GROUPS, OBSERVED, Words};
use super::{Group, Lang, Report, evidence};

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

fn opt(w: &Words, v: Option<u64>) -> String {
    v.map_or_else(|| w.not_reported.to_owned(), |n| w.n(n))
}

fn text(w: &Words, v: Option<&str>) -> String {
    v.map_or_else(|| format!("*{}*", esc(w.not_reported)), esc)
}

/// A table: the first header, then `headers`, then the rows (cells already escaped).
fn table(md: &mut String, first: &str, headers: &[&str], rows: &[Vec<String>]) {
    table_aligned(md, first, headers, rows, "---:");
}

/// [`table`] whose columns after the first are aligned as `align` says (`---` for text).
fn table_aligned(
    md: &mut String,
    first: &str,
    headers: &[&str],
    rows: &[Vec<String>],
    align: &str,
) {
    let heads: Vec<String> = std::iter::once(&first)
        .chain(headers)
        .map(|h| esc(h))
        .collect();
    let _ = writeln!(md, "| {} |", heads.join(" | "));
    let _ = writeln!(
        md,
        "|{}|",
        heads
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---" } else { align })
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let _ = writeln!(md, "| {} |", r.join(" | "));
    }
    md.push('\n');
}

/// Renders the report as Markdown in `lang`.
pub fn render(r: &Report, lang: Lang) -> String {
    let w = lang.words();
    let mut md = String::with_capacity(16 * 1024);
    let t = &r.totals;
    let p = &r.period;
    let _ = writeln!(md, "# {}\n", esc(w.report_title));
    let _ = writeln!(
        md,
        "{}\n",
        w.period_line(&esc(&w.period(p)), &esc(&r.generated_at))
    );
    let label = if r.integrity.verified {
        w.integrity_ok.to_owned()
    } else {
        w.integrity_bad.to_uppercase()
    };
    let _ = writeln!(
        md,
        "> **{}{}** {}\n",
        esc(&label),
        w.colon(),
        esc(&w.integrity_line(r))
    );

    evidence_section(&mut md, r, w);

    let _ = writeln!(md, "## {}\n", esc(w.summary));
    let row = |k: &str, v: &str| vec![esc(k), esc(v)];
    let mut rows = vec![
        row(w.s_requests, &w.n(t.requests)),
        row(w.s_forwarded, &w.n(t.forwarded)),
        row(w.s_routed, &w.n(t.routed)),
        row(w.s_blocked, &w.n(t.blocked)),
        row(w.s_refused, &w.n(t.refused)),
    ];
    if t.decision_not_reported > 0 {
        rows.push(row(
            w.s_decision_not_reported,
            &w.n(t.decision_not_reported),
        ));
    }
    rows.extend([
        row(w.s_findings, &w.n(t.findings)),
        row(
            w.s_bytes,
            &format!("{} / {}", w.n(t.bytes_in), w.n(t.bytes_out)),
        ),
        row(w.s_tokens, &w.tokens(&t.tokens)),
        row(w.s_energy, &w.energy_total(&t.energy)),
        row(w.s_outside, &w.n(p.outside_period)),
    ]);
    if r.integrity.unreadable_lines > 0 {
        rows.push(row(w.s_unreadable, &w.n(r.integrity.unreadable_lines)));
    }
    if !r.integrity.files_skipped.is_empty() {
        let skipped = r.integrity.files_skipped.len() as u64;
        rows.push(row(w.s_skipped, &w.n(skipped)));
    }
    table(&mut md, w.figure_value[0], &w.figure_value[1..], &rows);

    let _ = writeln!(md, "## {}\n", esc(w.findings));
    for (((_, dim), title), counts) in FINDINGS
        .iter()
        .zip(w.finding_titles)
        .zip(r.finding_tables())
    {
        let _ = writeln!(md, "### {}\n", esc(title));
        if counts.is_empty() {
            let _ = writeln!(md, "{}\n", esc(w.none));
            continue;
        }
        let rows: Vec<Vec<String>> = counts
            .iter()
            .map(|c| {
                vec![
                    esc(&w.term(dim, &c.key)),
                    w.n(c.findings),
                    w.n(c.requests),
                    w.n(c.requests_sent),
                    w.n(c.requests_stopped),
                ]
            })
            .collect();
        table(&mut md, w.dimension(dim), &w.finding_heads, &rows);
    }

    let _ = writeln!(md, "## {}\n", esc(w.requests));
    for (((_, dim), title), groups) in GROUPS.iter().zip(w.group_titles).zip(r.groups()) {
        let _ = writeln!(md, "### {}\n", esc(title));
        if groups.is_empty() {
            let _ = writeln!(md, "{}\n", esc(w.no_request));
            continue;
        }
        let rows: Vec<Vec<String>> = groups.iter().map(|g| group_row(w, g, dim)).collect();
        table(&mut md, w.dimension(dim), &w.group_heads, &rows);
    }

    let _ = writeln!(md, "## {}\n", esc(w.refusals));
    if r.refusals.is_empty() {
        let _ = writeln!(md, "{}\n", esc(w.none));
    } else {
        let rows: Vec<Vec<String>> = r
            .refusals
            .iter()
            .map(|f| {
                vec![
                    esc(&w.term("decision", f.decision.as_str())),
                    text(w, f.code.as_deref()),
                    text(w, f.rule.as_deref()),
                    w.n(f.requests),
                    if f.request_ids.is_empty() {
                        "-".to_owned()
                    } else {
                        let mut ids = f
                            .request_ids
                            .iter()
                            .map(|id| esc(id))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let more = f.requests.saturating_sub(f.request_ids.len() as u64);
                        if more > 0 {
                            ids.push_str(&esc(&w.more_ids(more as usize)));
                        }
                        ids
                    },
                ]
            })
            .collect();
        let [first, heads @ ..] = &w.refusal_heads;
        table(&mut md, first, heads, &rows);
    }

    let _ = writeln!(md, "## {}\n", esc(w.routes));
    if r.routes.is_empty() {
        let _ = writeln!(md, "{}\n", esc(w.none));
    } else {
        let rows: Vec<Vec<String>> = r
            .routes
            .iter()
            .map(|x| {
                vec![
                    text(w, x.from.as_deref()),
                    text(w, x.to.as_deref()),
                    text(w, x.rule.as_deref()),
                    w.n(x.requests),
                ]
            })
            .collect();
        let [first, heads @ ..] = &w.route_heads;
        table(&mut md, first, heads, &rows);
    }

    observed(&mut md, r, w);

    let _ = writeln!(md, "## {}\n", esc(w.repeated));
    let _ = writeln!(md, "{}\n", esc(w.repeated_intro));
    if r.repeated_values.is_empty() {
        let _ = writeln!(md, "{}\n", esc(w.no_repeated));
    } else {
        let rows: Vec<Vec<String>> = r
            .repeated_values
            .iter()
            .map(|x| {
                vec![
                    if x.sampling > 1 {
                        // Estimates: one value in N counted (bounded memory).
                        format!("{} (≈ 1/{})", esc(&x.entity), x.sampling)
                    } else {
                        esc(&x.entity)
                    },
                    w.n(x.distinct_values),
                    w.n(x.repeated_values),
                    w.n(x.occurrences),
                    w.n(x.max_requests_per_value),
                ]
            })
            .collect();
        let [first, heads @ ..] = &w.repeated_heads;
        table(&mut md, first, heads, &rows);
    }

    let _ = writeln!(md, "## {}\n", esc(w.provenance));
    for (head, tallies) in [
        (w.version_head, &r.policy_versions),
        (w.instance_head, &r.instances),
    ] {
        if tallies.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = tallies
            .iter()
            .map(|x| vec![esc(&x.key), w.n(x.requests)])
            .collect();
        table(&mut md, head, &[w.s_requests], &rows);
    }
    if !r.integrity.by_chain.is_empty() {
        let rows: Vec<Vec<String>> = r
            .integrity
            .by_chain
            .iter()
            .map(|c| {
                vec![
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
                ]
            })
            .collect();
        let _ = writeln!(md, "### {}\n", esc(w.chains_caption));
        let [first, heads @ ..] = &w.chain_heads;
        table(&mut md, first, heads, &rows);
    }
    let files = r
        .integrity
        .files
        .iter()
        .map(|f| esc(f))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(md, "{}", w.files(&files));
    md
}

fn group_row(w: &Words, g: &Group, dimension: &str) -> Vec<String> {
    let key = g.key.as_deref().map_or_else(
        || format!("*{}*", esc(w.missing(dimension))),
        |k| esc(&w.term(dimension, k)),
    );
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
        .map(|&n| w.n(n)),
    );
    row.extend([
        opt(w, g.input_tokens),
        opt(w, g.output_tokens),
        opt(w, g.energy_uwh),
    ]);
    row
}

/// The observe-mode section: what enforcement would have done.
fn observed(md: &mut String, r: &Report, w: &Words) {
    let _ = writeln!(md, "## {}\n", esc(w.observed));
    let _ = writeln!(md, "{}\n", esc(w.observed_intro));
    let total = &r.observed.total;
    if total.requests == 0 {
        let _ = writeln!(md, "{}\n", esc(w.no_observed));
        return;
    }
    let _ = writeln!(md, "{}\n", esc(&w.observed_line(total)));
    for (((_, dim), title), groups) in OBSERVED
        .iter()
        .zip(w.observed_titles)
        .zip(r.observed_tables())
    {
        let _ = writeln!(md, "### {}\n", esc(title));
        if groups.is_empty() {
            let _ = writeln!(md, "{}\n", esc(w.none));
            continue;
        }
        let rows: Vec<Vec<String>> = groups
            .iter()
            .map(|g| {
                let key = match &g.key {
                    Some(k) => esc(&w.term(dim, k)),
                    None => format!("*{}*", esc(w.missing(dim))),
                };
                let mut row = vec![key];
                row.extend(
                    [
                        g.requests,
                        g.would_forward,
                        g.would_route,
                        g.would_block,
                        g.would_refuse,
                        g.pseudonymised,
                        g.redacted,
                    ]
                    .map(|v| w.n(v)),
                );
                row
            })
            .collect();
        table(md, w.dimension(dim), &w.observed_heads, &rows);
    }
}

/// Escapes `s` and keeps what is between backticks as a code span.
fn with_code(s: &str) -> String {
    s.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("`{part}`")
            } else {
                esc(part)
            }
        })
        .collect()
}

/// The "Evidence" section: the criteria table, the providers' terms, the assistant
/// profiles, and the figures of the HTML page's two charts as tables.
fn evidence_section(md: &mut String, r: &Report, w: &Words) {
    let x = w.evidence();
    let _ = writeln!(md, "## {}\n", esc(x.title));
    let _ = writeln!(md, "{}\n", with_code(x.intro));
    let rows: Vec<Vec<String>> = evidence::rows(r, w)
        .into_iter()
        .map(|row| {
            let mut figures = if row.no_data {
                format!("*{}*", esc(x.no_data))
            } else {
                row.figures
                    .iter()
                    .map(|f| esc(f))
                    .collect::<Vec<_>>()
                    .join("<br>")
            };
            if let Some(note) = row.note {
                figures.push_str(if row.no_data { " " } else { "<br>" });
                figures.push_str(&with_code(note));
            }
            vec![
                if row.criterion.is_empty() {
                    "—".to_owned()
                } else {
                    row.criterion.to_owned()
                },
                esc(row.topic),
                figures,
                with_code(row.source),
            ]
        })
        .collect();
    let [first, heads @ ..] = &x.heads;
    table_aligned(md, first, heads, &rows, "---");

    let e = &r.evidence;
    let _ = writeln!(md, "### {}\n", esc(x.terms_title));
    if e.governance_records == 0 || e.providers.is_empty() {
        let _ = writeln!(md, "{}\n", esc(x.no_data));
    } else {
        let rows: Vec<Vec<String>> = e
            .providers
            .iter()
            .map(|p| {
                let t = p.terms.as_ref();
                let yn = |b: Option<bool>| b.map(|b| if b { x.yes } else { x.no }.to_owned());
                let mut row = vec![esc(&p.provider)];
                row.extend(
                    [
                        t.and_then(|t| t.jurisdiction.clone()),
                        t.and_then(|t| t.region.clone()),
                        t.and_then(|t| t.retention_days)
                            .map(|d| format!("{} {}", w.n(u64::from(d)), x.days)),
                        yn(t.and_then(|t| t.training_use)),
                        yn(t.and_then(|t| t.dpa)),
                        t.map(|t| {
                            if t.settings.is_empty() {
                                "—".to_owned()
                            } else {
                                t.settings.join(", ")
                            }
                        }),
                    ]
                    .iter()
                    .map(|c| text(w, c.as_deref())),
                );
                row.push(w.n(p.requests_sent));
                row.push(if p.missing.is_empty() {
                    "—".to_owned()
                } else {
                    esc(&p.missing.join(", "))
                });
                row
            })
            .collect();
        table_aligned(md, x.provider, &x.terms_heads, &rows, "---");
    }

    let _ = writeln!(md, "### {}\n", esc(x.assistants_title));
    if e.assistants.is_empty() {
        let _ = writeln!(md, "{}\n", esc(x.no_data));
    } else {
        let rows: Vec<Vec<String>> = e
            .assistants
            .iter()
            .map(|a| {
                let natures = a
                    .findings_by_nature
                    .iter()
                    .map(|(k, n)| format!("{}{} {}", w.term("nature", k), w.colon(), w.n(*n)))
                    .collect::<Vec<_>>()
                    .join(", ");
                vec![
                    esc(&a.name),
                    text(w, a.info.as_ref().map(|i| i.owner.as_str())),
                    text(w, a.info.as_ref().map(|i| i.purpose.as_str())),
                    w.n(a.requests),
                    w.n(a.blocked),
                    w.n(a.findings),
                    if natures.is_empty() {
                        "—".to_owned()
                    } else {
                        esc(&natures)
                    },
                    opt(w, a.input_tokens),
                    opt(w, a.output_tokens),
                    opt(w, a.energy_uwh),
                ]
            })
            .collect();
        table_aligned(md, x.profile, &x.assistants_heads, &rows, "---");
    }

    let _ = writeln!(md, "### {}\n", esc(x.chart_nature_title));
    let s = evidence::NatureSeries::of(&e.findings_by_day);
    if s.natures.is_empty() || s.buckets.is_empty() {
        let _ = writeln!(md, "{}\n", esc(x.no_findings));
    } else {
        let heads: Vec<String> = s.natures.iter().map(|(k, _)| w.term("nature", k)).collect();
        let heads: Vec<&str> = heads.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = s
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut row = vec![esc(b)];
                row.extend(s.natures.iter().map(|(_, c)| w.n(c[i])));
                row
            })
            .collect();
        table(md, if s.monthly { x.month } else { x.day }, &heads, &rows);
    }

    let _ = writeln!(md, "### {}\n", esc(x.chart_provider_title));
    let decisions = evidence::provider_decisions(r, w);
    if decisions.is_empty() {
        let _ = writeln!(md, "{}\n", esc(w.no_request));
    } else {
        let heads: Vec<String> = ["forwarded", "routed", "blocked", "refused"]
            .iter()
            .map(|d| w.term("decision", d))
            .collect();
        let heads: Vec<&str> = heads.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = decisions
            .iter()
            .map(|(p, c)| {
                let mut row = vec![esc(p)];
                row.extend(c.iter().map(|n| w.n(*n)));
                row
            })
            .collect();
        table(md, x.provider, &heads, &rows);
    }
}
