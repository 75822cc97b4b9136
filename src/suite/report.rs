//! A scenario's design-review report on disk: `index.html` (self-contained: inline SVG and
//! CSS), a PNG of every chart for slides, `results.json` (the full result), and
//! `trace.pcap` (every packet of every call). And the suite's index page linking them.
//!
//! Everything written is a function of the scenario, its topology and the seed: no wall
//! clock, no host names, so reports can be committed and diffed.

use std::fs;
use std::io;
use std::path::Path;

use super::{Scenario, ScenarioResult};
use crate::report::charts::CallCharts;
use crate::report::html::{CallSection, Expectation, ExtraSection, IndexEntry, ReportPage, index_page, render_page};
use crate::time::SimDuration;

/// Writes the report of one run of `s` into `dir` (created if needed). The run must have
/// been made with `RunOptions { capture: true, .. }` for the capture to hold packets.
pub fn write_report(s: &Scenario, r: &ScenarioResult, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut calls = Vec::new();
    for (i, c) in r.calls.iter().enumerate() {
        let n = i + 1;
        let charts = CallCharts::from_call(&c.outcome, &s.topology);
        for (name, png) in charts.pngs() {
            fs::write(dir.join(format!("call{n}-{name}.png")), png)?;
        }
        let mut section = CallSection::from_call(&c.outcome, &charts, Some(&format!("call{n}-")));
        section.heading = format!("{}: {}", c.name, section.heading);
        section.passed = (!c.checks.is_empty()).then(|| c.checks.iter().all(|k| k.passed));
        section.expectations = c
            .checks
            .iter()
            .map(|k| Expectation { text: k.what.clone(), passed: k.passed, detail: k.detail.clone() })
            .collect();
        if !c.outcome.gathering.is_empty() {
            section.verdict.extend(c.outcome.gathering.iter().map(|g| format!("Gathering: {g}.")));
        }
        calls.push(section);
    }
    let mut extras = Vec::new();
    if let Some(a) = &r.audit {
        extras.push(ExtraSection {
            heading: "Zone audit: unsolicited reachability".into(),
            text: Some(a.to_text()),
            expectations: r
                .audit_checks
                .iter()
                .map(|k| Expectation { text: k.what.clone(), passed: k.passed, detail: k.detail.clone() })
                .collect(),
        });
    }
    if !r.mutants.is_empty() {
        extras.push(ExtraSection {
            heading: "Mutants: deliberate breaks the expectations must catch".into(),
            text: None,
            expectations: r
                .mutants
                .iter()
                .map(|m| Expectation {
                    text: m.name.clone(),
                    passed: m.killed,
                    detail: if m.killed {
                        format!("caught by: {}", m.failing.join("; "))
                    } else {
                        "every expectation still held".to_string()
                    },
                })
                .collect(),
        });
    }
    let mut summary = vec![format!(
        "Scenario {} on {} (seed {}). The design and the argument behind each expectation, from the scenario file:",
        r.id, s.def.topology.value, r.seed
    )];
    summary.extend(s.def.description.iter().cloned());
    let page = ReportPage { title: format!("{}: {}", r.id, r.title), summary, calls, extras };
    fs::write(dir.join("index.html"), render_page(&page))?;
    let json = serde_json::to_string_pretty(r).map_err(io::Error::other)? + "\n";
    fs::write(dir.join("results.json"), json)?;
    fs::write(dir.join("trace.pcap"), capture(r))?;
    Ok(())
}

/// Every call's packets in one capture: each call ran in its own simulation from time zero,
/// so each is shifted to start a second after the previous one ended.
fn capture(r: &ScenarioResult) -> Vec<u8> {
    let mut offset = SimDuration::ZERO;
    let mut all = Vec::new();
    for c in &r.calls {
        let mut last = SimDuration::ZERO;
        for (t, d) in &c.outcome.capture {
            let since = *t - crate::time::SimTime::ZERO;
            all.push((crate::time::SimTime::ZERO + offset + since, d));
            last = last.max(since);
        }
        offset = offset + last + SimDuration::from_secs(1);
    }
    crate::report::pcap::pcap_bytes(all)
}

/// The suite's index: one row per scenario with its verdict, linking `<id>/index.html`.
pub fn write_index(entries: &[(String, String, bool, String)], dir: &Path) -> io::Result<()> {
    let rows: Vec<IndexEntry> = entries
        .iter()
        .map(|(name, href, passed, summary)| IndexEntry {
            name: name.clone(),
            href: href.clone(),
            passed: *passed,
            summary: summary.clone(),
        })
        .collect();
    fs::create_dir_all(dir)?;
    fs::write(dir.join("index.html"), index_page("icepath scenarios", &rows))
}

/// The folder name of a scenario's report: its file name without the extension (ids can be
/// shared: two files may reproduce one S-number).
pub fn folder_name(file: &str) -> String {
    Path::new(file).file_stem().map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned())
}
