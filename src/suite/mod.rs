//! Scenario files and the regression suite: a design (a topology, with overrides), the
//! calls placed on it and what each must do, judged from what the simulated packets did.
//!
//! `load` reads a scenario file and its topology (overrides patched into the topology's
//! document, so they are checked like the rest of it), resolves every name, and reports
//! every problem at once with file, line and column. `run` places the calls (each in its own
//! simulation, from the scenario's seed), runs the zone audit when asked, judges the
//! expectations, and then breaks the design once per listed mutant to show that the
//! expectations notice. `run_suite` does that for many files in parallel, in a fixed order.
//!
//! The format is documented in `docs/scenario-format.md`.

mod audit;
pub(crate) mod expect;
pub(crate) mod file;
mod junit;
pub(crate) mod patch;
mod report;

use std::path::{Path as FsPath, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

pub use audit::{AuditReport, Reachable, ZonePair, audit};
pub use expect::Check;
pub use file::{ScenarioFile, read_scenario};
pub use junit::junit_xml;
pub use report::{folder_name, write_index, write_report};

use crate::scenario::{BackgroundFlow, CallOutcome, CallSpec, run_call};
use crate::schema::decode::{Decoder, unknown_hint};
use crate::schema::{Diagnostic, LoadError, Overlay, Problem, RefKind, load_patched};
use crate::topology::{NodeId, Topology};

/// A scenario that failed to load: every problem, and the texts they point into.
#[derive(Debug)]
pub struct LoadFailure {
    pub diagnostics: Vec<Diagnostic>,
    /// (file name as shown, text) of the scenario and, when it was read, its topology.
    pub sources: Vec<(String, String)>,
}

impl LoadFailure {
    fn io(file: &str, what: &str, e: &std::io::Error) -> LoadFailure {
        let problem = Problem::InvalidValue { expected: format!("a readable {what}"), found: e.to_string() };
        let d = Diagnostic {
            severity: crate::schema::Severity::Error,
            file: file.to_string(),
            line: 1,
            column: 1,
            path: String::new(),
            message: problem.to_string(),
            hint: None,
            problem,
            offset: 0,
            len: 0,
        };
        LoadFailure { diagnostics: vec![d], sources: Vec::new() }
    }

    /// Compiler-style text with a source snippet under each problem.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            let text = self.sources.iter().find(|(f, _)| *f == d.file).map_or("", |(_, t)| t.as_str());
            out.push_str(&crate::schema::render(std::slice::from_ref(d), text));
        }
        out
    }
}

/// A scenario ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The scenario file as given.
    pub file: String,
    pub def: ScenarioFile,
    /// The topology file, as resolved against the scenario's folder.
    pub topology_file: String,
    pub(crate) topology_text: String,
    pub topology: Topology,
    /// The calls whose names `resolve` checked (each is resolved again on the topology it
    /// runs on: a mutant's is another `Topology`).
    pub(crate) calls: Vec<file::CallDef>,
    pub(crate) background: Vec<BackgroundFlow>,
}

/// Reads a scenario and its topology from disk.
pub fn load(path: &FsPath) -> Result<Scenario, LoadFailure> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadFailure::io(&file, "scenario file", &e))?;
    let def = read_scenario(&file, &text)
        .map_err(|diagnostics| LoadFailure { diagnostics, sources: vec![(file.clone(), text.clone())] })?;
    let dir = path.parent().unwrap_or(FsPath::new("."));
    let topo_path: PathBuf = dir.join(&def.topology.value);
    let topology_file = topo_path.display().to_string();
    let topology_text = match std::fs::read_to_string(&topo_path) {
        Ok(t) => t,
        Err(e) => {
            let problem = Problem::InvalidValue {
                expected: "the path of a topology file, relative to the scenario file".into(),
                found: format!("{:?} ({e})", def.topology.value),
            };
            let mut dc = Decoder::with_overlay(&file, &file);
            dc.report(def.topology.pos, &def.topology.path, problem, Some(format!("looked for {topology_file}")));
            return Err(LoadFailure { diagnostics: dc.diagnostics, sources: vec![(file, text)] });
        }
    };
    build(file, text, def, topology_file, topology_text)
}

/// Loads from texts already read (tests, and `load`).
pub fn build(
    file: String,
    text: String,
    def: ScenarioFile,
    topology_file: String,
    topology_text: String,
) -> Result<Scenario, LoadFailure> {
    let sources = || vec![(file.clone(), text.clone()), (topology_file.clone(), topology_text.clone())];
    let topology = load_with(&file, &topology_file, &topology_text, &def.overrides)
        .map_err(|e| LoadFailure { diagnostics: e.diagnostics, sources: sources() })?;
    let mut dc = Decoder::with_overlay(&file, &file);
    let (calls, background) = resolve(&mut dc, &def, &topology);
    // Mutants must load too: a broken mutant would "kill" the scenario for the wrong reason.
    for m in &def.mutants {
        let mut all = def.overrides.clone();
        all.extend(m.overrides.iter().cloned());
        if let Err(e) = load_with(&file, &topology_file, &topology_text, &all) {
            dc.diagnostics.extend(e.diagnostics);
        }
    }
    if dc.has_errors() {
        let mut d = dc.diagnostics;
        d.sort_by_key(|d| (d.file != file, d.line, d.column));
        return Err(LoadFailure { diagnostics: d, sources: sources() });
    }
    Ok(Scenario { file, def, topology_file, topology_text, topology, calls, background })
}

pub(crate) fn load_with(
    scenario_file: &str,
    topology_file: &str,
    topology_text: &str,
    overrides: &[file::Override],
) -> Result<Topology, LoadError> {
    let apply = |dc: &mut Decoder<'_>, doc: &mut crate::schema::tree::Value| patch::apply(dc, doc, overrides);
    let overlay = Overlay { file: scenario_file, apply: &apply };
    load_patched(topology_file, topology_text, Some(overlay)).map(|l| l.topology)
}

fn resolve(dc: &mut Decoder<'_>, def: &ScenarioFile, t: &Topology) -> (Vec<file::CallDef>, Vec<BackgroundFlow>) {
    let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
    let node = |dc: &mut Decoder<'_>, at: &crate::schema::decode::At<String>| -> Option<NodeId> {
        let id = t.node_by_name(&at.value);
        if id.is_none() {
            let hint = unknown_hint(&at.value, "nodes", &names);
            dc.report(
                at.pos,
                &at.path,
                Problem::UnknownReference { kind: RefKind::Node, name: at.value.clone() },
                Some(hint),
            );
        }
        id
    };
    let mut calls = Vec::new();
    for c in &def.calls {
        let caller = node(dc, &c.from);
        let callee = node(dc, &c.to);
        for e in &c.expect {
            if let file::Expect::Via(list) | file::Expect::Avoids(list) = e {
                for n in list {
                    node(dc, n);
                }
            }
            if let file::Expect::WorseThan(other) = e
                && !def.calls.iter().any(|x| x.name == other.value && x.name != c.name)
            {
                let names: Vec<&str> = def.calls.iter().map(|c| c.name.as_str()).collect();
                let hint = unknown_hint(&other.value, "calls", &names);
                let problem = Problem::InvalidValue {
                    expected: "the name of another call of this scenario".into(),
                    found: format!("{:?}", other.value),
                };
                dc.report(other.pos, &other.path, problem, Some(hint));
            }
        }
        for (at, id) in [(&c.from, caller), (&c.to, callee)] {
            if let Some(id) = id
                && t.node(id).roles.sip.as_ref().and_then(|s| s.registrar).is_none()
            {
                let problem = Problem::InvalidValue {
                    expected: "a client with a `sip:` block (a registrar to call through)".into(),
                    found: format!("node `{}` without one", at.value),
                };
                dc.report(at.pos, &at.path, problem, Some("give the node `sip: {user: ..., registrar: ...}`".into()));
            }
        }
        if caller.is_some() && callee.is_some() {
            calls.push(c.clone());
        }
    }
    let mut background = Vec::new();
    for b in &def.background {
        if let (Some(from), Some(to)) = (node(dc, &b.from), node(dc, &b.to)) {
            background.push(BackgroundFlow { from, to, rate: b.rate });
        }
    }
    let zones: Vec<&str> = t.zones.keys().map(String::as_str).collect();
    for a in &def.audit {
        for (i, z) in [&a.from, &a.to].into_iter().enumerate() {
            // A source may also be one NIC of a multi-homed server: `edge01/ext0`.
            if i == 0
                && let Some((node, nic)) = z.value.split_once('/')
            {
                let ok = t.node_by_name(node).is_some_and(|n| {
                    let n = t.node(n);
                    n.zone.is_some() && n.ifaces.iter().any(|&f| t.iface(f).name == nic)
                });
                if !ok {
                    let problem = Problem::InvalidValue {
                        expected: "a zone, or NODE/NIC of a node in a zone".into(),
                        found: format!("{:?}", z.value),
                    };
                    dc.report(z.pos, &z.path, problem, Some(format!("zones: {}", zones.join(", "))));
                }
                continue;
            }
            if !t.zones.contains_key(&z.value) {
                let hint = unknown_hint(&z.value, "zones", &zones);
                let problem = Problem::UnknownReference { kind: RefKind::Zone, name: z.value.clone() };
                dc.report(z.pos, &z.path, problem, Some(hint));
            }
        }
    }
    (calls, background)
}

/// One call's run and judgement.
#[derive(Clone, Debug, Serialize)]
pub struct CallResult {
    pub name: String,
    pub outcome: CallOutcome,
    pub checks: Vec<Check>,
}

/// What a deliberate break did to the expectations.
#[derive(Clone, Debug, Serialize)]
pub struct MutantResult {
    pub name: String,
    /// Whether at least one expectation failed, as it must.
    pub killed: bool,
    /// The expectations that failed under the mutant.
    pub failing: Vec<String>,
}

/// A scenario's run.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    pub file: String,
    pub id: String,
    pub title: String,
    pub topology: String,
    pub seed: u64,
    pub calls: Vec<CallResult>,
    pub audit: Option<AuditReport>,
    pub audit_checks: Vec<Check>,
    pub mutants: Vec<MutantResult>,
}

impl ScenarioResult {
    /// Every judged line in order: calls' expectations, the audit's, then one per mutant.
    pub fn lines(&self) -> Vec<(String, Check)> {
        let mut out = Vec::new();
        for c in &self.calls {
            for k in &c.checks {
                out.push((c.name.clone(), k.clone()));
            }
        }
        for k in &self.audit_checks {
            out.push(("audit".to_string(), k.clone()));
        }
        for m in &self.mutants {
            let detail = if m.killed {
                format!("caught by: {}", m.failing.join("; "))
            } else {
                "every expectation still held: they do not test this".to_string()
            };
            out.push((
                "mutant".to_string(),
                Check { what: format!("breaking it is noticed: {}", m.name), passed: m.killed, detail },
            ));
        }
        out
    }

    pub fn passed(&self) -> bool {
        self.lines().iter().all(|(_, c)| c.passed)
    }

    /// (passed, failed) counts.
    pub fn counts(&self) -> (usize, usize) {
        let lines = self.lines();
        let ok = lines.iter().filter(|(_, c)| c.passed).count();
        (ok, lines.len() - ok)
    }
}

/// Options for a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Keep every packet of each call for a capture file.
    pub capture: bool,
    /// Skip the mutants (a quick look; `icepath test` always runs them).
    pub skip_mutants: bool,
}

/// Runs a scenario: its calls, its audit, and its mutants.
pub fn run(s: &Scenario, opts: RunOptions) -> ScenarioResult {
    let (calls, audit_report, audit_checks) = run_design(s, &s.topology, opts.capture);
    let mut mutants = Vec::new();
    if !opts.skip_mutants {
        for m in &s.def.mutants {
            let mut all = s.def.overrides.clone();
            all.extend(m.overrides.iter().cloned());
            let failing = match load_with(&s.file, &s.topology_file, &s.topology_text, &all) {
                Ok(t) => {
                    let (calls, _, audit_checks) = run_design(s, &t, false);
                    let mut failing: Vec<String> = calls
                        .iter()
                        .flat_map(|c| {
                            c.checks.iter().filter(|k| !k.passed).map(move |k| format!("{}: {}", c.name, k.what))
                        })
                        .collect();
                    failing.extend(audit_checks.iter().filter(|k| !k.passed).map(|k| format!("audit: {}", k.what)));
                    failing
                }
                // `build` loads every mutant first, so this is only reached if the file changed.
                Err(e) => vec![format!("the mutant does not load: {e}")],
            };
            mutants.push(MutantResult { name: m.name.clone(), killed: !failing.is_empty(), failing });
        }
    }
    ScenarioResult {
        file: s.file.clone(),
        id: s.def.id.clone(),
        title: s.def.title.clone(),
        topology: s.topology_file.clone(),
        seed: s.def.seed,
        calls,
        audit: audit_report,
        audit_checks,
        mutants,
    }
}

/// Places the scenario's calls on `t` and runs its audit there.
fn run_design(s: &Scenario, t: &Topology, capture: bool) -> (Vec<CallResult>, Option<AuditReport>, Vec<Check>) {
    let mut calls = Vec::new();
    let mut outcomes = Vec::new();
    for c in &s.calls {
        // Names resolve the same way on a mutant: overrides never rename or remove nodes.
        let (Some(caller), Some(callee)) = (t.node_by_name(&c.from.value), t.node_by_name(&c.to.value)) else {
            continue;
        };
        let spec = CallSpec {
            profile: c.profile,
            media: c.media,
            codec: c.codec,
            media_duration: c.duration,
            background: s.background.clone(),
            seed: s.def.seed,
            connect_timeout: c.timeout,
            start: c.start,
            capture,
            ..CallSpec::new(caller, callee)
        };
        let outcome = match run_call(t, &spec) {
            Ok(outcome) => outcome,
            // `resolve` checked both ends have a registrar; a mutant may remove one.
            Err(e) => CallOutcome::not_placed(t, &spec, &e.to_string()),
        };
        outcomes.push((c, outcome));
    }
    // Judge every call first (a comparison reads another call's outcome), then move the
    // outcomes, captures and all, into the results without copying them.
    let named: Vec<(&str, &CallOutcome)> = outcomes.iter().map(|(c, o)| (c.name.as_str(), o)).collect();
    let checks: Vec<Vec<Check>> =
        outcomes.iter().map(|(c, o)| c.expect.iter().map(|e| expect::judge(e, o, &named)).collect()).collect();
    for ((c, outcome), checks) in outcomes.into_iter().zip(checks) {
        calls.push(CallResult { name: c.name.clone(), outcome, checks });
    }
    if s.def.audit.is_empty() {
        return (calls, None, Vec::new());
    }
    let report = audit(t);
    let checks = s.def.audit.iter().map(|a| audit::judge(a, &report)).collect();
    (calls, Some(report), checks)
}

/// The scenario files under `paths` (folders searched for `*.yaml`, recursively), sorted.
pub fn collect(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir)? {
                    let path = entry?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                        out.push(path);
                    }
                }
            }
        } else {
            // A missing file is reported when it is loaded, with the other problems.
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `k/n`: run the k-th of n slices (1-based), for splitting a suite across CI machines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub k: usize,
    pub n: usize,
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected k/n with 1 <= k <= n, like 2/4; found {s:?}");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Partition { k, n })
    }
}

impl Partition {
    /// Whether the `i`-th file of the sorted list belongs to this slice (round robin, so
    /// slices stay balanced as files are added).
    pub fn takes(&self, i: usize) -> bool {
        i % self.n == self.k - 1
    }
}

/// One file of a suite run: its result, or why it did not load.
#[derive(Debug)]
pub enum SuiteEntry {
    Ran(Box<ScenarioResult>),
    Broken { file: String, rendered: String, diagnostics: Vec<Diagnostic> },
}

impl SuiteEntry {
    /// Whether the file loaded and every expectation and mutant held.
    pub fn passed(&self) -> bool {
        matches!(self, SuiteEntry::Ran(r) if r.passed())
    }

    pub fn file(&self) -> &str {
        match self {
            SuiteEntry::Ran(r) => &r.file,
            SuiteEntry::Broken { file, .. } => file,
        }
    }
}

/// Loads and runs every file, in parallel, returning results in the order of `files`.
pub fn run_suite(files: &[PathBuf], opts: RunOptions) -> Vec<SuiteEntry> {
    files
        .par_iter()
        .map(|f| match load(f) {
            Ok(s) => SuiteEntry::Ran(Box::new(run(&s, opts))),
            Err(e) => {
                SuiteEntry::Broken { file: f.display().to_string(), rendered: e.render(), diagnostics: e.diagnostics }
            }
        })
        .collect()
}

/// The readable summary `icepath run` prints.
pub fn to_text(r: &ScenarioResult) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "scenario {}: {}", r.id, r.title);
    let _ = writeln!(o, "file: {}  topology: {}  seed: {}", r.file, r.topology, r.seed);
    for c in &r.calls {
        let _ = writeln!(o);
        let _ = writeln!(o, "== {} ==", c.name);
        o.push_str(&c.outcome.to_text());
        let _ = writeln!(o, "expectations:");
        for k in &c.checks {
            let _ = writeln!(o, "  {} {}: {}", if k.passed { "ok  " } else { "FAIL" }, k.what, k.detail);
        }
    }
    if let Some(a) = &r.audit {
        let _ = writeln!(o);
        let _ = writeln!(o, "== zone audit ==");
        o.push_str(&a.to_text());
        for k in &r.audit_checks {
            let _ = writeln!(o, "  {} {}: {}", if k.passed { "ok  " } else { "FAIL" }, k.what, k.detail);
        }
    }
    if !r.mutants.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "== mutants (each must make an expectation fail) ==");
        for m in &r.mutants {
            let _ = writeln!(
                o,
                "  {} {}: {}",
                if m.killed { "ok  " } else { "FAIL" },
                m.name,
                if m.killed { m.failing.join("; ") } else { "nothing noticed".to_string() }
            );
        }
    }
    let (ok, bad) = r.counts();
    let _ = writeln!(o);
    let _ = writeln!(o, "{}: {ok} passed, {bad} failed", if bad == 0 { "PASS" } else { "FAIL" });
    o
}

/// The lines `icepath test` prints for a suite, ending with the `N passed, N failed` line.
pub fn suite_text(entries: &[SuiteEntry]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let (mut ok, mut bad) = (0, 0);
    for e in entries {
        match e {
            SuiteEntry::Ran(r) => {
                for (call, k) in r.lines() {
                    let mark = if k.passed { "ok  " } else { "FAIL" };
                    let _ = writeln!(o, "{mark} {} {call}: {}", r.id, k.what);
                    if !k.passed {
                        let _ = writeln!(o, "       {}", k.detail);
                    }
                    if k.passed {
                        ok += 1;
                    } else {
                        bad += 1;
                    }
                }
            }
            SuiteEntry::Broken { file, rendered, .. } => {
                let _ = writeln!(o, "FAIL {file}: does not load");
                for line in rendered.lines() {
                    let _ = writeln!(o, "       {line}");
                }
                bad += 1;
            }
        }
    }
    let _ = writeln!(o, "{ok} passed, {bad} failed");
    o
}

/// The suite as JSON: one object per file.
pub fn suite_json(entries: &[SuiteEntry]) -> String {
    #[derive(Serialize)]
    #[serde(tag = "status", rename_all = "kebab-case")]
    enum J<'a> {
        Ran { file: &'a str, passed: usize, failed: usize, result: &'a ScenarioResult },
        Broken { file: &'a str, errors: Vec<String> },
    }
    let items: Vec<J<'_>> = entries
        .iter()
        .map(|e| match e {
            SuiteEntry::Ran(r) => {
                let (passed, failed) = r.counts();
                J::Ran { file: &r.file, passed, failed, result: r }
            }
            SuiteEntry::Broken { file, diagnostics, .. } => {
                J::Broken { file, errors: diagnostics.iter().map(|d| d.to_string()).collect() }
            }
        })
        .collect();
    serde_json::to_string_pretty(&items).expect("invariant: results serialize") + "\n"
}

#[cfg(test)]
mod tests;
