//! Parameter sweeps: one scenario run over many variations of its design, to answer "across
//! realistic variation, what share of calls fail, relay, or sound bad?".
//!
//! A scenario file's `sweep:` section (`file`) names parameters — a NAT's preset, a link's
//! latency, jitter or loss, a host's VPN client (off, on, full or split tunnel) — and the
//! values they take, as a grid of every combination or as random draws. Each value becomes
//! a generated scenario override (`plan`), patched into the topology by `suite`'s patch code
//! like the file's own, so a value the topology refuses is reported at its own line. Every
//! point then runs with `seeds` seeds: replica `r` uses the scenario's seed plus `r`, so
//! replica 0 is what `icepath run` would place and every point is compared on the same seeds.
//! Runs go in parallel (rayon); `aggregate` turns their rows into success rates, pair-type
//! shares and spreads, in run order, so the report is the same for any number of threads.
//! `charts` draws pair-type shares per value and MOS CDFs. Mutants are skipped; each call's
//! expectations are judged and reported as the share of runs in which they held.
//!
//! This module leaves the simulation to `scenario` and the file format to `suite`; it
//! knows nothing of terminals (the progress bar is the caller's).

mod aggregate;
mod charts;
mod file;
mod plan;

use std::path::Path as FsPath;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use aggregate::{
    Breakdown, Dist, ExpectHeader, ExpectationRate, Group, NO_PAIR, ParamHeader, RunRow, Share, Summary, ValueGroup,
    aggregate,
};
pub use charts::{MosCdf, PairShares, write_charts};

use crate::scenario::{CallOutcome, CallSpec, run_call};
use crate::schema::decode::{Decoder, Path};
use crate::schema::tree::{self, Node};
use crate::schema::{Diagnostic, LoadError, Overlay, Problem, load_patched};
use crate::suite::file::Override;
use crate::suite::{LoadFailure, Partition, Scenario};
use crate::topology::Topology;
use file::SweepDef;
use plan::Point;

/// A scenario with a valid `sweep:` section, ready to run.
#[derive(Debug)]
pub struct Sweep {
    scenario: Scenario,
    def: SweepDef,
}

/// How to run a sweep.
#[derive(Clone, Copy, Debug, Default)]
pub struct SweepOptions {
    /// Seeds per point (default: the section's `seeds`, else 1).
    pub seeds: Option<u32>,
    /// Run only this slice of the run list.
    pub partition: Option<Partition>,
}

/// What a sweep wrote: what was swept, the aggregates and every run's row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    #[serde(flatten)]
    pub header: SweepHeader,
    /// How many of the sweep's runs this report holds (all of them, unless partitioned).
    pub runs_included: usize,
    /// `k/n` when this report holds one slice of the runs.
    pub partition: Option<String>,
    pub summary: Summary,
    /// One row per call per run, by run index.
    pub runs: Vec<RunRow>,
}

/// What identifies a sweep: reports with the same header can be merged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepHeader {
    pub scenario: String,
    pub title: String,
    pub file: String,
    pub topology: String,
    pub seed: u64,
    /// `grid` or `random`.
    pub mode: String,
    pub points: usize,
    pub seeds: u32,
    pub runs_total: usize,
    pub calls: Vec<String>,
    pub parameters: Vec<ParamHeader>,
    pub expectations: Vec<ExpectHeader>,
}

impl Sweep {
    /// The scenario the sweep varies.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// How many points the section defines.
    pub fn points(&self) -> usize {
        plan::points(&self.def, self.scenario.def.seed).len()
    }

    fn seeds(&self, opts: &SweepOptions) -> u32 {
        opts.seeds.or(self.def.seeds).unwrap_or(1).max(1)
    }

    /// The header of this sweep's report when run with `seeds` seeds per point.
    pub fn header(&self, opts: &SweepOptions) -> SweepHeader {
        let s = &self.scenario;
        let seeds = self.seeds(opts);
        let points = self.points();
        SweepHeader {
            scenario: s.def.id.clone(),
            title: s.def.title.clone(),
            file: s.file.clone(),
            topology: s.topology_file.clone(),
            seed: s.def.seed,
            mode: if self.def.draws.is_some() { "random" } else { "grid" }.into(),
            points,
            seeds,
            runs_total: points * seeds as usize,
            calls: s.calls.iter().map(|c| c.name.clone()).collect(),
            parameters: self
                .def
                .params
                .iter()
                .map(|p| ParamHeader { name: p.name.clone(), values: plan::labels(p, self.def.draws.is_some()) })
                .collect(),
            expectations: s
                .calls
                .iter()
                .flat_map(|c| {
                    let dummy = CallOutcome::not_placed(&s.topology, &spec_for(s, c, &s.topology, 0), "");
                    c.expect.iter().map(move |e| ExpectHeader {
                        call: c.name.clone(),
                        what: crate::suite::expect::judge(e, &dummy, &[]).what,
                    })
                })
                .collect(),
        }
    }
}

/// Reads a scenario file with a `sweep:` section: the scenario is checked as `icepath run`
/// checks it, the section as a part of the file, and every value each parameter takes is
/// patched into the topology once, so a bad value or name is reported before anything runs.
pub fn load(path: &FsPath) -> Result<Sweep, LoadFailure> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).ok();
    let mut dc = Decoder::with_overlay(&file, &file);
    let mut def = None;
    if let Some(Ok(mut doc)) = text.as_deref().map(tree::parse) {
        doc.set_src(1);
        let found = match &doc.node {
            Node::Map(entries) => entries.iter().find(|(k, _)| k.name == "sweep").map(|(_, v)| v.clone()),
            _ => None,
        };
        match found {
            Some(v) => def = file::read_sweep(&mut dc, &v, &Path::root().field("sweep")),
            None => {
                let problem = Problem::MissingField { field: "sweep" };
                let hint = "add a `sweep:` section with `parameters:` (see docs/scenario-format.md)";
                dc.report(doc.pos, &Path::root(), problem, Some(hint.into()));
            }
        }
    }
    let scenario = match crate::suite::load(path) {
        Ok(s) => s,
        Err(mut e) => {
            e.diagnostics.extend(dc.diagnostics);
            e.diagnostics.sort_by_key(|d| (d.file != file, d.line, d.column));
            return Err(e);
        }
    };
    let sources = || {
        vec![
            (scenario.file.clone(), text.clone().unwrap_or_default()),
            (scenario.topology_file.clone(), scenario.topology_text.clone()),
        ]
    };
    if scenario.calls.is_empty() && !dc.has_errors() {
        let problem = Problem::InvalidValue { expected: "at least one call to sweep".into(), found: "none".into() };
        dc.report(Default::default(), &Path::root().field("calls"), problem, None);
    }
    if let Some(def) = &def {
        for (i, p) in def.params.iter().enumerate() {
            if def.params[..i].iter().any(|q| q.name == p.name) {
                let problem = Problem::InvalidValue {
                    expected: "each parameter once".into(),
                    found: format!("{} again", p.name),
                };
                dc.report(p.target.pos, &p.path, problem, Some("merge the two entries' values".into()));
            }
        }
    }
    let (Some(def), false) = (def, dc.has_errors()) else {
        return Err(LoadFailure { diagnostics: dc.diagnostics, sources: sources() });
    };
    // Every value, each on its own, through the topology's checks.
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    for p in &def.params {
        for c in plan::grid_choices(p).iter().chain(range_ends(p).iter()) {
            if let Err(e) = topology_with(&scenario, &c.overrides) {
                for d in e.diagnostics {
                    if !diagnostics.iter().any(|x| x.to_string() == d.to_string()) {
                        diagnostics.push(d);
                    }
                }
            }
        }
    }
    if !diagnostics.is_empty() {
        diagnostics.sort_by_key(|d| (d.file != file, d.line, d.column));
        return Err(LoadFailure { diagnostics, sources: sources() });
    }
    Ok(Sweep { scenario, def })
}

/// A range's far end, which a grid without a step or the draws may reach.
fn range_ends(p: &file::Param) -> Vec<plan::Choice> {
    let mut q = p.clone();
    if let file::ParamKind::Link { domain: file::Domain::Range { from, to, step, .. }, .. } = &mut q.kind {
        *from = *to;
        *step = None;
        return plan::grid_choices(&q);
    }
    Vec::new()
}

/// The scenario's topology with its overrides and then `extra` applied.
fn topology_with(s: &Scenario, extra: &[(Path, Override)]) -> Result<Topology, LoadError> {
    let apply = |dc: &mut Decoder<'_>, doc: &mut tree::Value| {
        crate::suite::patch::apply(dc, doc, &s.def.overrides);
        for (path, o) in extra {
            crate::suite::patch::apply_one(dc, doc, o, path);
        }
    };
    let overlay = Overlay { file: &s.file, apply: &apply };
    load_patched(&s.topology_file, &s.topology_text, Some(overlay)).map(|l| l.topology)
}

fn spec_for(s: &Scenario, c: &crate::suite::file::CallDef, t: &Topology, seed: u64) -> CallSpec {
    let (caller, callee) = (t.node_by_name(&c.from.value), t.node_by_name(&c.to.value));
    CallSpec {
        profile: c.profile,
        media: c.media,
        codec: c.codec,
        media_duration: c.duration,
        // Resolved on the scenario's topology: overrides never add, remove or renumber nodes.
        background: s.background.clone(),
        seed,
        connect_timeout: c.timeout,
        start: c.start,
        capture: false,
        ..CallSpec::new(caller.unwrap_or(crate::topology::NodeId(0)), callee.unwrap_or(crate::topology::NodeId(0)))
    }
}

/// Runs the sweep (or the partition's slice of it) on the current rayon pool, calling
/// `tick` once per finished run, and aggregates the rows in run order.
pub fn run(sweep: &Sweep, opts: &SweepOptions, tick: &(dyn Fn() + Sync)) -> SweepReport {
    let header = sweep.header(opts);
    let seeds = header.seeds as usize;
    let points = plan::points(&sweep.def, sweep.scenario.def.seed);
    // The runs this slice takes, grouped by point so each point's topology loads once.
    let groups: Vec<(usize, Vec<usize>)> = (0..points.len())
        .map(|p| (p, (0..seeds).filter(|r| opts.partition.is_none_or(|k| k.takes(p * seeds + r))).collect()))
        .filter(|(_, r): &(usize, Vec<usize>)| !r.is_empty())
        .collect();
    let rows: Vec<RunRow> = groups
        .par_iter()
        .flat_map_iter(|(p, replicas)| {
            let point = &points[*p];
            let topo = topology_with(&sweep.scenario, &point.overrides());
            let rows: Vec<Vec<RunRow>> = replicas
                .par_iter()
                .map(|&r| {
                    let out = run_point(sweep, point, topo.as_ref().map_err(|e| e.to_string()), *p, r, seeds);
                    tick();
                    out
                })
                .collect();
            rows.into_iter().flatten()
        })
        .collect();
    let summary = aggregate(&header.parameters, &header.calls, &header.expectations, &rows);
    SweepReport {
        runs_included: rows.iter().map(|r| r.run).collect::<std::collections::BTreeSet<_>>().len(),
        partition: opts.partition.map(|p| format!("{}/{}", p.k, p.n)),
        header,
        summary,
        runs: rows,
    }
}

/// Places every call of the scenario at one point with one seed.
fn run_point(
    sweep: &Sweep,
    point: &Point,
    topo: Result<&Topology, String>,
    p: usize,
    replica: usize,
    seeds: usize,
) -> Vec<RunRow> {
    let s = &sweep.scenario;
    let seed = s.def.seed.wrapping_add(replica as u64);
    let values: Vec<String> = point.choices.iter().map(|c| c.label.clone()).collect();
    let exact: Vec<String> = if point.choices.iter().any(|c| c.exact != c.label) {
        point.choices.iter().map(|c| c.exact.clone()).collect()
    } else {
        Vec::new()
    };
    let base = |call: &str| RunRow {
        run: p * seeds + replica,
        point: p,
        replica: replica as u32,
        seed,
        call: call.to_string(),
        values: values.clone(),
        exact: exact.clone(),
        connected: false,
        pair: NO_PAIR.into(),
        time_to_connect_ms: None,
        delay_ms: None,
        jitter_ms: None,
        mos: None,
        expectations: Vec::new(),
        error: None,
    };
    let t = match topo {
        Ok(t) => t,
        Err(e) => return s.calls.iter().map(|c| RunRow { error: Some(e.clone()), ..base(&c.name) }).collect(),
    };
    let outcomes: Vec<CallOutcome> = s
        .calls
        .iter()
        .map(|c| {
            let spec = spec_for(s, c, t, seed);
            match (t.node_by_name(&c.from.value), t.node_by_name(&c.to.value)) {
                (Some(_), Some(_)) => {
                    run_call(t, &spec).unwrap_or_else(|e| CallOutcome::not_placed(t, &spec, &e.to_string()))
                }
                _ => CallOutcome::not_placed(t, &spec, "a node of the call is missing"),
            }
        })
        .collect();
    let named: Vec<(&str, &CallOutcome)> = s.calls.iter().map(|c| c.name.as_str()).zip(outcomes.iter()).collect();
    s.calls
        .iter()
        .zip(&outcomes)
        .map(|(c, o)| {
            let path = crate::suite::expect::selected_path(o);
            let delay = path.and_then(|m| m.summary.delay.as_ref().map(|d| d.mean.as_millis_f64()));
            RunRow {
                connected: o.connected(),
                pair: pair_type(o),
                time_to_connect_ms: o.time_to_connect.map(|d| d.as_millis_f64()),
                delay_ms: delay,
                jitter_ms: path.filter(|_| delay.is_some()).map(|m| m.summary.jitter.as_millis_f64()),
                mos: path.and_then(|m| m.mos),
                expectations: c.expect.iter().map(|e| crate::suite::expect::judge(e, o, &named).passed).collect(),
                ..base(&c.name)
            }
        })
        .collect()
}

/// The selected pair as expectations name its candidates: `srflx udp -> relay udp` (a
/// relay by the transport it was allocated over), or `none`.
fn pair_type(o: &CallOutcome) -> String {
    let Some(sel) = &o.selected else { return NO_PAIR.into() };
    let short = |described: String| described.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let local = short(crate::suite::expect::named(o, &sel.local, true));
    let remote = short(crate::suite::expect::named(o, &sel.remote, false));
    format!("{local} -> {remote}")
}

impl SweepReport {
    /// The report as JSON: the header and aggregates indented, then one line per run row.
    /// Keys keep their declared order (maps are sorted), so the text is the same for any
    /// number of threads and on any machine.
    pub fn to_json(&self) -> String {
        let mut head = self.clone();
        head.runs = Vec::new();
        let text = serde_json::to_string_pretty(&head).expect("invariant: reports serialize");
        let body = text.strip_suffix("\n}").and_then(|t| t.strip_suffix("\"runs\": []")).unwrap_or(&text);
        let mut out = body.to_string();
        out.push_str("\"runs\": [");
        for (i, r) in self.runs.iter().enumerate() {
            out.push_str(if i == 0 { "\n    " } else { ",\n    " });
            out.push_str(&serde_json::to_string(r).expect("invariant: rows serialize"));
        }
        out.push_str(if self.runs.is_empty() { "]\n}\n" } else { "\n  ]\n}\n" });
        out
    }

    /// Merges reports of the same sweep (the slices of a partitioned run): rows are joined
    /// by run index and aggregated again. All slices together give exactly the report one
    /// machine would have written.
    pub fn merge(parts: Vec<SweepReport>) -> Result<SweepReport, String> {
        let mut parts = parts.into_iter();
        let first = parts.next().ok_or("nothing to merge")?;
        let header = first.header.clone();
        let mut rows = first.runs;
        for (i, p) in parts.enumerate() {
            if p.header != header {
                return Err(format!(
                    "report {} is of another sweep (scenario, seed, parameters, points or seeds differ)",
                    i + 2
                ));
            }
            rows.extend(p.runs);
        }
        let call_index = |r: &RunRow| header.calls.iter().position(|c| *c == r.call).unwrap_or(usize::MAX);
        rows.sort_by_key(|r| (r.run, call_index(r)));
        let mut out: Vec<RunRow> = Vec::with_capacity(rows.len());
        for r in rows {
            match out.last() {
                Some(last) if (last.run, &last.call) == (r.run, &r.call) => {
                    if *last != r {
                        return Err(format!("run {} ({}) differs between the reports", r.run, r.call));
                    }
                }
                _ => out.push(r),
            }
        }
        let summary = aggregate(&header.parameters, &header.calls, &header.expectations, &out);
        let included = out.iter().map(|r| r.run).collect::<std::collections::BTreeSet<_>>().len();
        Ok(SweepReport { header, runs_included: included, partition: None, summary, runs: out })
    }

    /// A readable summary: overall figures, then per parameter a table with one column
    /// per value, then how often each expectation held.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let h = &self.header;
        let mut o = String::new();
        let _ = writeln!(o, "sweep {}: {}", h.scenario, h.title);
        let _ = writeln!(o, "file: {}  topology: {}  seed: {}", h.file, h.topology, h.seed);
        let _ = writeln!(
            o,
            "{} of {} points x {} seed{} (seeds {}..{}) = {} runs{}",
            h.mode,
            h.points,
            h.seeds,
            if h.seeds == 1 { "" } else { "s" },
            h.seed,
            h.seed.wrapping_add(h.seeds as u64 - 1),
            h.runs_total,
            match &self.partition {
                Some(p) => format!("; partition {p}: {} runs here", self.runs_included),
                None if self.runs_included != h.runs_total => format!("; {} runs here", self.runs_included),
                None => String::new(),
            }
        );
        let g = &self.summary.overall;
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "overall: {} call{}, {} connected ({})",
            g.runs,
            plural(g.runs),
            g.connected,
            pct(g.success_rate)
        );
        for (pair, s) in sorted_pairs(g) {
            let _ = writeln!(o, "  {:>7}  {pair}", pct(s.share));
        }
        let _ = writeln!(o, "  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9}", "", "min", "p50", "p95", "max", "mean");
        for (name, d, unit) in [
            ("time to connect", &g.time_to_connect_ms, "ms"),
            ("one-way delay", &g.delay_ms, "ms"),
            ("jitter", &g.jitter_ms, "ms"),
            ("MOS", &g.mos, ""),
        ] {
            match d {
                Some(d) => {
                    let f = |x: f64| if unit.is_empty() { format!("{x:.2}") } else { format!("{x:.1}{unit}") };
                    let _ = writeln!(
                        o,
                        "  {name:<22} {:>9} {:>9} {:>9} {:>9} {:>9}",
                        f(d.min),
                        f(d.p50),
                        f(d.p95),
                        f(d.max),
                        f(d.mean)
                    );
                }
                None => {
                    let _ = writeln!(o, "  {name:<22} {:>9}", "-");
                }
            }
        }
        for b in &self.summary.by_parameter {
            let _ = writeln!(o);
            let mut pairs: Vec<String> = Vec::new();
            for v in &b.values {
                for (p, _) in sorted_pairs(&v.group) {
                    if !pairs.contains(&p) {
                        pairs.push(p);
                    }
                }
            }
            pairs.sort_by_key(|p| pair_rank(p));
            let w = pairs.iter().map(|p| p.len()).chain([b.parameter.len(), 16]).max().unwrap_or(16);
            let widths: Vec<usize> = b.values.iter().map(|v| v.value.len().max(7)).collect();
            let mut line = format!("{:<w$}", b.parameter);
            for (v, cw) in b.values.iter().zip(&widths) {
                let _ = write!(line, "  {:>cw$}", v.value);
            }
            let _ = writeln!(o, "{}", line.trim_end());
            let mut row = |label: &str, f: &dyn Fn(&Group) -> String| {
                let mut line = format!("  {label:<w$}");
                for (v, cw) in b.values.iter().zip(&widths) {
                    let _ = write!(line, "{:>cw$}  ", f(&v.group));
                }
                let _ = writeln!(o, "{}", line.trim_end());
            };
            row("runs", &|g| g.runs.to_string());
            row("connected", &|g| pct(g.success_rate));
            for p in &pairs {
                row(p, &|g| g.pair_types.get(p).map_or_else(|| "-".into(), |s| pct(s.share)));
            }
            row("MOS p50", &|g| g.mos.as_ref().map_or_else(|| "-".into(), |d| format!("{:.2}", d.p50)));
            row("delay p50 (ms)", &|g| g.delay_ms.as_ref().map_or_else(|| "-".into(), |d| format!("{:.1}", d.p50)));
            row("connect p95 (ms)", &|g| {
                g.time_to_connect_ms.as_ref().map_or_else(|| "-".into(), |d| format!("{:.0}", d.p95))
            });
        }
        if !self.summary.expectations.is_empty() {
            let _ = writeln!(o);
            let _ = writeln!(o, "expectations (share of runs in which each held):");
            for e in &self.summary.expectations {
                let _ = writeln!(o, "  {:>7}  {}: {}", pct(e.share), e.call, e.what);
            }
        }
        o
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A group's pair types, most preferred first (Lync's order: host, srflx, prflx, UDP
/// relay, TCP relay; `none` last).
fn sorted_pairs(g: &Group) -> Vec<(String, &Share)> {
    let mut v: Vec<(String, &Share)> = g.pair_types.iter().map(|(k, s)| (k.clone(), s)).collect();
    v.sort_by_key(|(k, _)| pair_rank(k));
    v
}

/// Sorts pair types by preference of the local side, then the remote side.
pub(crate) fn pair_rank(pair: &str) -> (u8, u8, String) {
    let side = |s: &str| match s.trim() {
        x if x.starts_with("host udp") => 0,
        x if x.starts_with("host") => 1,
        x if x.starts_with("srflx") => 2,
        x if x.starts_with("prflx") => 3,
        x if x.starts_with("relay udp") => 4,
        x if x.starts_with("relay") => 5,
        _ => 9,
    };
    match pair.split_once("->") {
        Some((l, r)) => (side(l), side(r), pair.to_string()),
        None => (10, 10, pair.to_string()),
    }
}

#[cfg(test)]
mod tests;
