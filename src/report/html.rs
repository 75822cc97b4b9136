//! The HTML report: one self-contained page per scenario (inline SVG charts and CSS, no
//! scripts, no fonts or images fetched) and an index page for a suite.
//!
//! The page is built from plain input structs, so the runner decides what goes in (which
//! calls, which expectations) and this module only lays it out. Every piece of text is
//! escaped; the charts are our own SVG and are embedded as they are. The output is
//! deterministic: no dates, nothing iterated out of a hash map.

use std::fmt::Write as _;

use crate::report::charts::CallCharts;
use crate::scenario::CallOutcome;

/// The icepath version printed in every page's footer.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One scenario's page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportPage {
    /// The scenario's name.
    pub title: String,
    /// What the design is and what the scenario checks, as paragraphs of plain text.
    pub summary: Vec<String>,
    pub calls: Vec<CallSection>,
    /// Further judged sections after the calls (the zone audit, the mutants).
    pub extras: Vec<ExtraSection>,
}

/// A judged section that is not a call: a heading, preformatted text (the audit table),
/// and expectation rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExtraSection {
    pub heading: String,
    pub text: Option<String>,
    pub expectations: Vec<Expectation>,
}

/// One call of a scenario.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallSection {
    /// A heading (`laptop-full → desk-pc (audio)`).
    pub heading: String,
    /// Whether the call's expectations held; `None` when it had none.
    pub passed: Option<bool>,
    /// The outcome in a sentence or two (connected on which pair, the quality verdict, or
    /// why it failed).
    pub verdict: Vec<String>,
    pub figures: Vec<Figure>,
    pub caller: String,
    pub callee: String,
    /// `a=candidate:` lines as offered.
    pub caller_candidates: Vec<String>,
    pub callee_candidates: Vec<String>,
    pub pairs: Vec<PairLine>,
    pub expectations: Vec<Expectation>,
    pub seed: u64,
}

/// A chart on the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub caption: String,
    /// The chart's SVG document, embedded as is (produced by `charts::svg`, not user
    /// text), or why there was nothing to draw (the page then says so in one line).
    pub svg: Result<String, String>,
    /// Where the PNG of the same chart is, relative to the page, when it was written.
    pub png: Option<String>,
}

/// A row of the pair table.
#[derive(Clone, Debug, PartialEq)]
pub struct PairLine {
    pub local: String,
    pub remote: String,
    pub state: String,
    pub nominated: bool,
    pub reason: String,
}

/// One expectation of the scenario and whether it held.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// What was expected, as the scenario file says it.
    pub text: String,
    pub passed: bool,
    /// What was found.
    pub detail: String,
}

/// A scenario on the suite's index page.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexEntry {
    pub name: String,
    /// The scenario's page, relative to the index (`s01/index.html`).
    pub href: String,
    pub passed: bool,
    /// One line: what was found.
    pub summary: String,
}

impl CallSection {
    /// A call's section: its verdict, the charts (SVG embedded; with `png_prefix`, each
    /// figure links `<prefix><chart name>.png`, written by the caller), the candidates and
    /// the pair table. Expectations are the runner's to add, with `passed`.
    pub fn from_call(call: &CallOutcome, charts: &CallCharts, png_prefix: Option<&str>) -> CallSection {
        let figures = charts
            .svgs()
            .into_iter()
            .map(|(name, caption, svg)| Figure {
                caption: caption.to_string(),
                png: svg.is_ok().then(|| png_prefix.map(|p| format!("{p}{name}.png"))).flatten(),
                svg: svg.map_err(String::from),
            })
            .collect();
        let mut verdict = Vec::new();
        match (&call.selected, &call.failure) {
            (Some(sel), _) => {
                verdict.push(format!("Connected on {} → {} at {}.", sel.local, sel.remote, sel.at));
                if let Some(t) = call.time_to_connect {
                    verdict.push(format!("Time to connect: {t} after the INVITE."));
                }
            }
            (None, Some(f)) => verdict.push(format!("Failed: {f}.")),
            (None, None) => verdict.push("No pair was selected.".to_string()),
        }
        if let Some(v) = &call.verdict {
            verdict.push(format!("Quality: {v}."));
        }
        CallSection {
            heading: format!("{} → {} ({}, {})", call.caller, call.callee, media_name(call), call.profile),
            passed: None,
            verdict,
            figures,
            caller: call.caller.clone(),
            callee: call.callee.clone(),
            caller_candidates: call.caller_candidates.clone(),
            callee_candidates: call.callee_candidates.clone(),
            pairs: call
                .pairs
                .iter()
                .map(|p| PairLine {
                    local: p.local.clone(),
                    remote: p.remote.clone(),
                    state: p.state.clone(),
                    nominated: p.nominated,
                    reason: p.reason.clone(),
                })
                .collect(),
            expectations: Vec::new(),
            seed: call.seed,
        }
    }
}

fn media_name(call: &CallOutcome) -> &'static str {
    use crate::scenario::MediaType;
    match call.media {
        MediaType::Audio => "audio",
        MediaType::Video => "video",
        MediaType::DesktopSharing => "desktop sharing",
        MediaType::FileTransfer => "file transfer",
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The styles every page shares: readable on a projector, printable in grey (every status
/// also has a symbol and a word).
const CSS: &str = r#"
:root { --ink: #1a1a1a; --muted: #5f5f5f; --line: #d0d0d0; --pass: #1b7837; --fail: #b2182b; --band: #f4f4f4; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); margin: 0 auto;
  max-width: 1320px; padding: 24px 32px 48px; line-height: 1.45; font-size: 16px; background: #fff; }
h1 { font-size: 30px; margin: 0 0 8px; }
h2 { font-size: 24px; margin: 40px 0 8px; padding-top: 16px; border-top: 3px solid var(--ink); }
h3 { font-size: 19px; margin: 28px 0 8px; }
p.summary { max-width: 920px; }
.meta { color: var(--muted); font-size: 14px; }
.status { display: inline-block; font-weight: bold; padding: 2px 10px; border-radius: 4px; border: 2px solid; margin-left: 8px;
  font-size: 15px; vertical-align: middle; }
.status.pass { color: var(--pass); border-color: var(--pass); }
.status.fail { color: #fff; background: var(--fail); border-color: var(--fail); }
.status.none { color: var(--muted); border-color: var(--line); }
.verdict { font-size: 18px; background: var(--band); border-left: 6px solid var(--ink); padding: 10px 16px; margin: 12px 0; }
.verdict p { margin: 4px 0; }
figure { margin: 20px 0; }
figure svg { display: block; width: 100%; height: auto; max-width: 1280px; border: 1px solid var(--line); }
p.nodata { color: var(--muted); font-style: italic; border: 1px dashed var(--line); padding: 8px 12px; }
figcaption { color: var(--muted); font-size: 14px; margin-top: 4px; }
pre { background: var(--band); padding: 10px 12px; overflow-x: auto; font-size: 13px; line-height: 1.35; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 8px 0; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--band); border-bottom: 2px solid var(--ink); }
td.mono { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 13px; white-space: nowrap; }
td.state-succeeded { color: var(--pass); font-weight: bold; }
td.state-failed { color: var(--fail); font-weight: bold; }
td.ok { color: var(--pass); font-weight: bold; white-space: nowrap; }
td.bad { color: var(--fail); font-weight: bold; white-space: nowrap; }
.columns { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 900px) { .columns { grid-template-columns: 1fr; } }
footer { margin-top: 48px; color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); padding-top: 8px; }
a { color: #08519c; }
@media print { body { max-width: none; padding: 0; } h2 { break-before: page; } figure { break-inside: avoid; } }
"#;

fn head(o: &mut String, title: &str) {
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(o, "<title>{}</title>", escape(title));
    let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>");
}

fn footer(o: &mut String, seeds: &[u64]) {
    let seeds = match seeds {
        [] => String::new(),
        [s] => format!(", seed {s}"),
        many => format!(", seeds {}", many.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    };
    let _ = writeln!(
        o,
        "<footer>Generated by icepath {VERSION}{seeds}. Times are virtual (since the start of the simulated run); the same inputs and seed give the same page.</footer>\n</body>\n</html>"
    );
}

fn status(passed: Option<bool>) -> &'static str {
    match passed {
        Some(true) => "<span class=\"status pass\">✔ PASS</span>",
        Some(false) => "<span class=\"status fail\">✘ FAIL</span>",
        None => "<span class=\"status none\">no expectations</span>",
    }
}

/// A scenario's page: summary, then per call its verdict, charts, candidates, pairs and
/// expectations.
pub fn render_page(page: &ReportPage) -> String {
    let mut o = String::new();
    head(&mut o, &page.title);
    let extras_failed = page.extras.iter().any(|x| x.expectations.iter().any(|e| !e.passed));
    let overall = if extras_failed || page.calls.iter().any(|c| c.passed == Some(false)) {
        Some(false)
    } else if page.calls.iter().any(|c| c.passed == Some(true)) {
        Some(true)
    } else {
        None
    };
    let _ = writeln!(o, "<h1>{} {}</h1>", escape(&page.title), status(overall));
    for p in &page.summary {
        let _ = writeln!(o, "<p class=\"summary\">{}</p>", escape(p));
    }
    if page.calls.is_empty() {
        o.push_str("<p class=\"meta\">This scenario placed no calls.</p>\n");
    }
    for (i, c) in page.calls.iter().enumerate() {
        call_section(&mut o, i + 1, c);
    }
    for (i, x) in page.extras.iter().enumerate() {
        let passed = (!x.expectations.is_empty()).then(|| x.expectations.iter().all(|e| e.passed));
        let _ = writeln!(o, "<section id=\"extra-{}\">", i + 1);
        let _ = writeln!(o, "<h2>{} {}</h2>", escape(&x.heading), status(passed));
        if let Some(t) = &x.text {
            let _ = writeln!(o, "<pre>{}</pre>", escape(t));
        }
        expectation_table(&mut o, &x.expectations);
        o.push_str("</section>\n");
    }
    let seeds: Vec<u64> = {
        let mut s: Vec<u64> = page.calls.iter().map(|c| c.seed).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    footer(&mut o, &seeds);
    o
}

fn call_section(o: &mut String, n: usize, c: &CallSection) {
    let _ = writeln!(o, "<section id=\"call-{n}\">");
    let _ = writeln!(o, "<h2>Call {n}: {} {}</h2>", escape(&c.heading), status(c.passed));
    let _ = writeln!(o, "<p class=\"meta\">seed {}</p>", c.seed);
    o.push_str("<div class=\"verdict\">\n");
    for v in &c.verdict {
        let _ = writeln!(o, "<p>{}</p>", escape(v));
    }
    o.push_str("</div>\n");
    expectation_table(o, &c.expectations);
    for (k, f) in c.figures.iter().enumerate() {
        let svg = match &f.svg {
            Ok(svg) => svg,
            Err(why) => {
                let _ = writeln!(o, "<p class=\"nodata\">{}: no chart ({}).</p>", escape(&f.caption), escape(why));
                continue;
            }
        };
        let _ = writeln!(o, "<figure id=\"call-{n}-figure-{}\">", k + 1);
        o.push_str(strip_xml_prolog(svg));
        if !svg.ends_with('\n') {
            o.push('\n');
        }
        let png = f.png.as_ref().map_or(String::new(), |p| format!(" (<a href=\"{}\">PNG for slides</a>)", escape(p)));
        let _ = writeln!(o, "<figcaption>{}{png}</figcaption>\n</figure>", escape(&f.caption));
    }
    let _ = writeln!(o, "<h3 id=\"call-{n}-candidates\">Candidates offered (SDP)</h3>\n<div class=\"columns\">");
    for (who, lines) in [(&c.caller, &c.caller_candidates), (&c.callee, &c.callee_candidates)] {
        let body = if lines.is_empty() { "(none)".to_string() } else { escape(&lines.join("\n")) };
        let _ = writeln!(o, "<div><p><b>{}</b></p>\n<pre>{body}</pre></div>", escape(who));
    }
    o.push_str("</div>\n");
    let _ = writeln!(o, "<h3>Candidate pairs ({}'s check list)</h3>", escape(&c.caller));
    if c.pairs.is_empty() {
        o.push_str("<p class=\"meta\">No pairs were formed.</p>\n");
    } else {
        o.push_str("<table>\n<tr><th>local</th><th>remote</th><th>state</th><th>why</th></tr>\n");
        for p in &c.pairs {
            let nominated = if p.nominated { " (nominated)" } else { "" };
            let class: String = p.state.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            let _ = writeln!(
                o,
                "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"state-{class}\">{}{nominated}</td><td>{}</td></tr>",
                escape(&p.local),
                escape(&p.remote),
                escape(&p.state),
                escape(&p.reason)
            );
        }
        o.push_str("</table>\n");
    }
    o.push_str("</section>\n");
}

fn expectation_table(o: &mut String, expectations: &[Expectation]) {
    if expectations.is_empty() {
        return;
    }
    o.push_str("<h3>Expectations</h3>\n<table>\n<tr><th>result</th><th>expected</th><th>found</th></tr>\n");
    for e in expectations {
        let (class, mark) = if e.passed { ("ok", "✔ pass") } else { ("bad", "✘ fail") };
        let _ = writeln!(
            o,
            "<tr><td class=\"{class}\">{mark}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.text),
            escape(&e.detail)
        );
    }
    o.push_str("</table>\n");
}

/// The SVG element without an XML declaration, which is not allowed inside HTML.
fn strip_xml_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(k) => &svg[k..],
        None => svg,
    }
}

/// A suite's index: every scenario with its result, linking to its page.
pub fn index_page(title: &str, entries: &[IndexEntry]) -> String {
    let mut o = String::new();
    head(&mut o, title);
    let failed = entries.iter().filter(|e| !e.passed).count();
    let overall = if entries.is_empty() { None } else { Some(failed == 0) };
    let _ = writeln!(o, "<h1>{} {}</h1>", escape(title), status(overall));
    let _ = writeln!(
        o,
        "<p class=\"summary\">{} scenarios: {} passed, {} failed.</p>",
        entries.len(),
        entries.len() - failed,
        failed
    );
    o.push_str("<table>\n<tr><th>result</th><th>scenario</th><th>what was found</th></tr>\n");
    for e in entries {
        let (class, mark) = if e.passed { ("ok", "✔ pass") } else { ("bad", "✘ fail") };
        let _ = writeln!(
            o,
            "<tr><td class=\"{class}\">{mark}</td><td><a href=\"{}\">{}</a></td><td>{}</td></tr>",
            escape(&e.href),
            escape(&e.name),
            escape(&e.summary)
        );
    }
    o.push_str("</table>\n");
    footer(&mut o, &[]);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_everywhere() {
        let page = ReportPage {
            title: "<script>alert(1)</script>".into(),
            summary: vec!["a & b \"c\" 'd'".into()],
            calls: vec![CallSection {
                heading: "x<y".into(),
                passed: Some(false),
                verdict: vec!["<b>".into()],
                caller_candidates: vec!["a=candidate:<evil>".into()],
                pairs: vec![PairLine {
                    local: "<l>".into(),
                    remote: "<r>".into(),
                    state: "fa\"iled".into(),
                    nominated: true,
                    reason: "</td>".into(),
                }],
                expectations: vec![Expectation { text: "<e>".into(), passed: false, detail: "&".into() }],
                ..CallSection::default()
            }],
            extras: vec![ExtraSection {
                heading: "<h>".into(),
                text: Some("<pre>".into()),
                expectations: vec![Expectation { text: "<e>".into(), passed: true, detail: "<d>".into() }],
            }],
        };
        let html = render_page(&page);
        assert!(
            !html.contains("<script>")
                && !html.contains("<evil>")
                && !html.contains("<l>")
                && !html.contains("</td>\"")
        );
        assert!(html.contains("&lt;script&gt;") && html.contains("a &amp; b &quot;c&quot; &#39;d&#39;"));
        assert!(html.contains("class=\"state-failed\""), "state classes are sanitised");
        assert!(html.contains("✘ FAIL"));
        let idx = index_page(
            "suite & co",
            &[IndexEntry { name: "<s>".into(), href: "a\"b/index.html".into(), passed: true, summary: "ok".into() }],
        );
        assert!(
            idx.contains("suite &amp; co") && idx.contains("href=\"a&quot;b/index.html\"") && idx.contains("&lt;s&gt;")
        );
    }

    #[test]
    fn pages_are_self_contained() {
        let page = ReportPage { title: "t".into(), ..ReportPage::default() };
        let html = render_page(&page);
        for banned in ["http://", "https://", "<script", "<link", "@import", "src="] {
            assert!(!html.contains(banned), "{banned} in a page");
        }
        assert!(html.contains(VERSION));
    }

    #[test]
    fn the_svg_prolog_is_dropped() {
        assert_eq!(strip_xml_prolog("<?xml version=\"1.0\"?>\n<svg a>"), "<svg a>");
        assert_eq!(strip_xml_prolog("<svg/>"), "<svg/>");
    }
}
