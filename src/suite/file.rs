//! Reading a scenario file: YAML text in, a `ScenarioFile` (names still unresolved, each with
//! its place in the file) or every problem out, with the same diagnostics as topology files.

use crate::schema::decode::{At, Decoder, Fields, Path};
use crate::schema::tree::{self, Key, Node, Value};
use crate::schema::units::{parse_duration, parse_loss};
use crate::schema::{Diagnostic, Problem};
use crate::time::SimDuration;

/// A scenario as written, before its topology is loaded.
#[derive(Clone, Debug)]
pub struct ScenarioFile {
    /// The S-number or short id (`scenario: S05`).
    pub id: String,
    pub title: String,
    /// The file's opening comment (which document it reproduces, and why each expectation
    /// is what it is), as paragraphs, for reports.
    pub description: Vec<String>,
    /// The topology file, relative to the scenario file.
    pub(crate) topology: At<String>,
    pub seed: u64,
    pub(crate) overrides: Vec<Override>,
    pub(crate) background: Vec<BackgroundDef>,
    pub(crate) calls: Vec<CallDef>,
    pub(crate) audit: Vec<AuditDef>,
    pub(crate) mutants: Vec<MutantDef>,
}

/// One edit of the topology (`overrides:` and each mutant's list).
#[derive(Clone, Debug)]
pub(crate) struct Override {
    pub target: Target,
    pub op: Op,
    /// The whole entry, for problems about it as a unit.
    pub at: Value,
}

#[derive(Clone, Debug)]
pub(crate) enum Target {
    Node(At<String>),
    Link(At<String>),
}

#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// Replace (or add, or with `null` remove) keys of the node's or link's map.
    Set(Vec<(Key, Value)>),
    AddRoute(Value),
    /// The route's `to` as written.
    RemoveRoute(At<String>),
    AddRule {
        rule: Value,
        before: Option<At<String>>,
    },
    /// The rule's `name`.
    RemoveRule(At<String>),
    /// Replace (or with `null` remove) one field inside a block of the node or link, such as
    /// `nat.preset`: every key but the last must name an existing map. Written by sweeps
    /// (`crate::sweep`), not by scenario files.
    SetIn(Vec<Key>, Value),
}

#[derive(Clone, Debug)]
pub(crate) struct BackgroundDef {
    pub from: At<String>,
    pub to: At<String>,
    pub rate: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct CallDef {
    pub name: String,
    pub from: At<String>,
    pub to: At<String>,
    pub profile: crate::proto::ice::Profile,
    pub media: crate::scenario::MediaType,
    pub codec: crate::wire::rtp::Codec,
    pub start: SimDuration,
    pub duration: SimDuration,
    pub timeout: SimDuration,
    pub expect: Vec<Expect>,
}

/// A candidate as an expectation names it: its type, and optionally its transport. For a
/// relayed candidate the transport is the one the relay was allocated over — `relay udp` is
/// the documents' "UDP Relay" (TURN over UDP 3478), `relay tcp` their "TCP Relay" (TURN over
/// TCP 443, the last resort) — although the relayed address itself is UDP in both cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CandidatePattern {
    /// `host`, `srflx`, `prflx` or `relay`.
    pub kind: String,
    /// `udp` or `tcp`; any when absent.
    pub transport: Option<String>,
}

impl CandidatePattern {
    /// Whether a candidate described as `"relay udp 203.0.113.20:50000"` matches.
    pub fn matches(&self, described: &str) -> bool {
        let mut words = described.split_whitespace();
        let kind = words.next().unwrap_or_default();
        let transport = words.next().unwrap_or_default();
        kind == self.kind && self.transport.as_deref().is_none_or(|t| t == transport)
    }

    /// Whether an SDP candidate line (`a=candidate:1 1 UDP 2130706431 10.0.0.1 50000 typ host`)
    /// matches; a relayed candidate's transport is the one its relay was allocated over,
    /// read from its priority under `profile` (see `matches`' callers in `expect`).
    pub fn matches_sdp(&self, line: &str, profile: crate::proto::ice::Profile) -> bool {
        self.matches(&super::expect::short_candidate(line, profile))
    }
}

impl std::fmt::Display for CandidatePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.transport {
            Some(t) => write!(f, "{} {t}", self.kind),
            None => f.write_str(&self.kind),
        }
    }
}

/// A bound on a quantity (`{min: .., max: ..}`), in the quantity's own unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Bound {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// One expectation of a call, in domain terms.
#[derive(Clone, Debug)]
pub(crate) enum Expect {
    Connected(bool),
    SignalingOk(bool),
    Selected {
        local: Option<CandidatePattern>,
        remote: Option<CandidatePattern>,
    },
    EarlyMedia(Option<(Option<CandidatePattern>, Option<CandidatePattern>)>),
    Promoted(bool),
    Via(Vec<At<String>>),
    Avoids(Vec<At<String>>),
    /// Mean one-way delay of the selected path, milliseconds.
    Delay(Bound),
    /// RFC 3550 interarrival jitter of the selected path, milliseconds.
    Jitter(Bound),
    /// Loss of the selected path, a fraction.
    Loss(Bound),
    Mos(Bound),
    /// Seconds from the INVITE to the first selected pair.
    TimeToConnect(Bound),
    /// Words the failure (and the pair table's reasons) must contain.
    FailureMentions(Vec<String>),
    /// Words some pair's reason must contain (why checks were dropped, by whom).
    PairsMention(Vec<String>),
    Candidates {
        caller: bool,
        has: Vec<CandidatePattern>,
        lacks: Vec<CandidatePattern>,
    },
    /// Whether ICE chose the best-sounding of the working paths.
    BestPath(bool),
    /// This call's selected media is worse (higher mean delay and higher jitter) than that
    /// of another call of the scenario, named here: seed 000's VPN-versus-Edge comparison.
    WorseThan(At<String>),
}

/// One assertion about the zone audit.
#[derive(Clone, Debug)]
pub(crate) struct AuditDef {
    pub from: At<String>,
    pub to: At<String>,
    pub expect: AuditExpect,
}

#[derive(Clone, Debug)]
pub(crate) enum AuditExpect {
    /// Nothing in `to` is reachable unsolicited from `from`.
    Nothing,
    /// Exactly these services are (`edge01 udp/3478`, `edge01 udp/50000-59999`).
    Only(Vec<At<String>>),
    /// At least these are.
    Includes(Vec<At<String>>),
}

/// A deliberate break of the design that the scenario's expectations must catch.
#[derive(Clone, Debug)]
pub(crate) struct MutantDef {
    pub name: String,
    pub overrides: Vec<Override>,
}

/// `sweep` is read by `crate::sweep` (`icepath sweep`); a scenario run ignores it and runs
/// the design as written.
const TOP: &[&str] =
    &["scenario", "title", "topology", "seed", "overrides", "background", "calls", "audit", "mutants", "sweep"];
const CALL: &[&str] = &["name", "from", "to", "profile", "media", "codec", "start", "duration", "timeout", "expect"];
const EXPECT: &[&str] = &[
    "result",
    "signaling",
    "selected",
    "early-media",
    "promoted",
    "via",
    "avoids",
    "delay",
    "jitter",
    "loss",
    "mos",
    "time-to-connect",
    "failure-mentions",
    "pairs-mention",
    "caller-candidates",
    "callee-candidates",
    "best-path",
    "worse-than",
];
const OVERRIDE: &[&str] = &["node", "link", "set", "add-route", "remove-route", "add-rule", "remove-rule", "before"];

/// Reads a scenario file. Pure: `file` names it in messages.
pub fn read_scenario(file: &str, text: &str) -> Result<ScenarioFile, Vec<Diagnostic>> {
    let mut dc = Decoder::with_overlay(file, file);
    let doc = match tree::parse(text) {
        Ok(mut doc) => {
            doc.set_src(1);
            doc
        }
        Err(e) => {
            let problem = Problem::Syntax { message: e.message };
            dc.report(e.pos, &Path::root(), problem, e.hint);
            return Err(dc.diagnostics);
        }
    };
    let s = read_top(&mut dc, &doc);
    match s {
        Some(mut s) if !dc.has_errors() => {
            s.description = opening_comment(text);
            Ok(s)
        }
        _ => {
            let mut d = dc.diagnostics;
            d.sort_by_key(|d| (d.line, d.column));
            Err(d)
        }
    }
}

/// The comment lines at the top of the file, joined into paragraphs (an empty `#` line
/// separates them; `- ` starts a new one, for lists).
fn opening_comment(text: &str) -> Vec<String> {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix('#') else { break };
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let trimmed = rest.trim();
        if trimmed.is_empty() || trimmed.starts_with("- ") {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            if trimmed.is_empty() {
                continue;
            }
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(trimmed);
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs
}

fn read_top(dc: &mut Decoder<'_>, doc: &Value) -> Option<ScenarioFile> {
    let mut f = dc.fields(doc, &Path::root(), "a scenario (a map with `scenario`, `topology` and `calls`)", TOP)?;
    let id = f.required(dc, "scenario").and_then(|(v, p)| dc.ident(v, &p, "a scenario id"));
    let title = f.optional("title").and_then(|(v, p)| dc.string(v, &p, "a one-line title"));
    let topology = f.required(dc, "topology").and_then(|(v, p)| dc.string(v, &p, "a topology file path"));
    let seed = match f.optional("seed") {
        Some((v, p)) => dc.number(v, &p, 0, u64::MAX),
        None => Some(1),
    };
    let overrides = f.optional("overrides").map(|(v, p)| read_overrides(dc, v, &p)).unwrap_or_default();
    let mut background = Vec::new();
    if let Some((v, p)) = f.optional("background") {
        for (i, item) in dc.seq(v, &p, "a list of flows").unwrap_or_default().iter().enumerate() {
            if let Some(b) = read_background(dc, item, &p.index(i)) {
                background.push(b);
            }
        }
    }
    let mut calls = Vec::new();
    if let Some((v, p)) = f.optional("calls") {
        for (i, item) in dc.seq(v, &p, "a list of calls").unwrap_or_default().iter().enumerate() {
            if let Some(c) = read_call(dc, item, &p.index(i), i) {
                calls.push(c);
            }
        }
    }
    let mut audit = Vec::new();
    if let Some((v, p)) = f.optional("audit") {
        for (i, item) in dc.seq(v, &p, "a list of zone-pair assertions").unwrap_or_default().iter().enumerate() {
            if let Some(a) = read_audit(dc, item, &p.index(i)) {
                audit.push(a);
            }
        }
    }
    let mut mutants = Vec::new();
    if let Some((v, p)) = f.optional("mutants") {
        for (i, item) in dc.seq(v, &p, "a list of mutants").unwrap_or_default().iter().enumerate() {
            let path = p.index(i);
            let Some(mut m) = dc.fields(item, &path, "a mutant (`name` and `overrides`)", &["name", "overrides"])
            else {
                continue;
            };
            let name = m.required(dc, "name").and_then(|(v, p)| dc.string(v, &p, "a name"));
            let ov = m.required(dc, "overrides").map(|(v, p)| read_overrides(dc, v, &p));
            m.finish(dc);
            if let (Some(name), Some(overrides)) = (name, ov) {
                mutants.push(MutantDef { name: name.value, overrides });
            }
        }
    }
    // Read (and checked) by `crate::sweep`; a scenario run ignores it.
    let _ = f.optional("sweep");
    let pos = f.pos;
    f.finish(dc);
    if calls.is_empty() && audit.is_empty() && !dc.has_errors() {
        let problem =
            Problem::InvalidValue { expected: "at least one call or audit assertion".into(), found: "neither".into() };
        dc.report(pos, &Path::root(), problem, Some("add a `calls:` list (or an `audit:` list)".into()));
    }
    let id = id?;
    Some(ScenarioFile {
        title: title.map_or_else(|| id.value.clone(), |t| t.value),
        id: id.value,
        description: Vec::new(),
        topology: topology?,
        seed: seed?,
        overrides,
        background,
        calls,
        audit,
        mutants,
    })
}

fn read_overrides(dc: &mut Decoder<'_>, v: &Value, p: &Path) -> Vec<Override> {
    let mut out = Vec::new();
    for (i, item) in dc.seq(v, p, "a list of overrides").unwrap_or_default().iter().enumerate() {
        if let Some(o) = read_override(dc, item, &p.index(i)) {
            out.push(o);
        }
    }
    out
}

fn read_override(dc: &mut Decoder<'_>, v: &Value, p: &Path) -> Option<Override> {
    let expected =
        "an override: `node:` or `link:`, and one of `set`, `add-route`, `remove-route`, `add-rule`, `remove-rule`";
    let mut f = dc.fields(v, p, expected, OVERRIDE)?;
    let node = f.optional("node").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let link = f.optional("link").and_then(|(v, p)| dc.ident(v, &p, "a link id"));
    let target = match (node, link) {
        (Some(n), None) => Some(Target::Node(n)),
        (None, Some(l)) => Some(Target::Link(l)),
        (Some(_), Some(_)) => {
            let problem = Problem::InvalidValue { expected: "`node` or `link`".into(), found: "both".into() };
            dc.report(f.pos, p, problem, Some("write one override per node or link".into()));
            None
        }
        (None, None) => {
            dc.report(f.pos, p, Problem::MissingField { field: "node" }, Some("or `link:`".into()));
            None
        }
    };
    let mut ops = Vec::new();
    if let Some((v, p)) = f.optional("set")
        && let Some(entries) = dc.map(v, &p, "a map of fields to replace (`null` removes one)")
    {
        ops.push(Op::Set(entries.to_vec()));
    }
    if let Some((v, _)) = f.optional("add-route") {
        ops.push(Op::AddRoute(v.clone()));
    }
    if let Some((v, p)) = f.optional("remove-route")
        && let Some(s) = dc.string(v, &p, "the `to` of the route to remove")
    {
        ops.push(Op::RemoveRoute(s));
    }
    let before = f.optional("before").and_then(|(v, p)| dc.string(v, &p, "the name of a rule"));
    if let Some((v, _)) = f.optional("add-rule") {
        ops.push(Op::AddRule { rule: v.clone(), before: before.clone() });
    } else if let Some(b) = &before {
        let problem =
            Problem::InvalidValue { expected: "`before` beside `add-rule`".into(), found: "no `add-rule`".into() };
        dc.report(b.pos, &b.path, problem, None);
    }
    if let Some((v, p)) = f.optional("remove-rule")
        && let Some(s) = dc.string(v, &p, "the name of the rule to remove")
    {
        ops.push(Op::RemoveRule(s));
    }
    let pos = f.pos;
    f.finish(dc);
    if ops.len() != 1 {
        let problem = Problem::InvalidValue {
            expected: "exactly one of `set`, `add-route`, `remove-route`, `add-rule`, `remove-rule`".into(),
            found: format!("{}", ops.len()),
        };
        dc.report(pos, p, problem, Some("write one change per override entry".into()));
        return None;
    }
    if matches!(target, Some(Target::Link(_))) && !matches!(ops[0], Op::Set(_)) {
        let problem =
            Problem::InvalidValue { expected: "`set` on a link".into(), found: "a route or rule change".into() };
        dc.report(pos, p, problem, Some("routes and rules belong to nodes: use `node:`".into()));
        return None;
    }
    Some(Override { target: target?, op: ops.pop()?, at: v.clone() })
}

fn read_background(dc: &mut Decoder<'_>, v: &Value, p: &Path) -> Option<BackgroundDef> {
    let mut f = dc.fields(v, p, "a flow (`from`, `to`, `rate`)", &["from", "to", "rate"])?;
    let from = f.required(dc, "from").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let to = f.required(dc, "to").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let rate = f.required(dc, "rate").and_then(|(v, p)| {
        let s = dc.scalar(v, &p, "a rate like 20Mbit")?;
        match crate::schema::parse_bandwidth(s) {
            Ok(r) if r > 0 => Some(r),
            _ => {
                dc.invalid(v, &p, "a rate like 20Mbit (bit, kbit, Mbit, Gbit)", None);
                None
            }
        }
    });
    f.finish(dc);
    Some(BackgroundDef { from: from?, to: to?, rate: rate? })
}

/// One of a fixed set of words, with a did-you-mean.
fn word<'w>(dc: &mut Decoder<'_>, v: &Value, p: &Path, words: &[&'w str]) -> Option<&'w str> {
    let expected = format!("one of {}", words.join(", "));
    let s = dc.scalar(v, p, &expected)?;
    if let Some(w) = words.iter().find(|w| **w == s) {
        return Some(w);
    }
    let hint = crate::schema::suggest(s, words).map(|w| format!("did you mean `{w}`?"));
    dc.invalid(v, p, &expected, hint);
    None
}

fn duration(dc: &mut Decoder<'_>, v: &Value, p: &Path) -> Option<SimDuration> {
    let s = dc.scalar(v, p, "a duration like 5s or 150ms")?;
    match parse_duration(s) {
        Ok(d) => Some(d),
        Err(e) => {
            dc.invalid(v, p, "a duration like 5s or 150ms", Some(e.to_string()));
            None
        }
    }
}

fn read_call(dc: &mut Decoder<'_>, v: &Value, p: &Path, index: usize) -> Option<CallDef> {
    use crate::proto::ice::Profile;
    use crate::scenario::MediaType;
    use crate::wire::rtp::Codec;
    let mut f = dc.fields(v, p, "a call (`from`, `to`, `expect`...)", CALL)?;
    let name = f.optional("name").and_then(|(v, p)| dc.string(v, &p, "a name")).map(|s| s.value);
    let from = f.required(dc, "from").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let to = f.required(dc, "to").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let profile = match f.optional("profile") {
        Some((v, p)) => word(dc, v, &p, &["ms-ice2", "rfc8445"]).map(|w| match w {
            "rfc8445" => Profile::Rfc8445,
            _ => Profile::MsIce2,
        }),
        None => Some(Profile::MsIce2),
    };
    let media = match f.optional("media") {
        Some((v, p)) => word(dc, v, &p, &["audio", "video", "desktop-sharing", "file-transfer"]).map(|w| match w {
            "video" => MediaType::Video,
            "desktop-sharing" => MediaType::DesktopSharing,
            "file-transfer" => MediaType::FileTransfer,
            _ => MediaType::Audio,
        }),
        None => Some(MediaType::Audio),
    };
    let codec = match f.optional("codec") {
        Some((v, p)) => word(dc, v, &p, &["pcmu", "opus"]).map(|w| match w {
            "opus" => Codec::OPUS,
            _ => Codec::PCMU,
        }),
        // Each kind of media sends what `icepath call` sends for it by default.
        None => media.map(|m| match m {
            MediaType::Video => Codec::conference_video(1_500_000),
            MediaType::DesktopSharing => Codec::desktop_sharing(500_000),
            MediaType::Audio | MediaType::FileTransfer => Codec::PCMU,
        }),
    };
    let mut dur = |f: &mut Fields<'_>, name: &str, default: SimDuration| match f.optional(name) {
        Some((v, p)) => duration(dc, v, &p),
        None => Some(default),
    };
    let start = dur(&mut f, "start", SimDuration::ZERO);
    let duration_ = dur(&mut f, "duration", SimDuration::from_secs(5));
    let timeout = dur(&mut f, "timeout", SimDuration::from_secs(45));
    let expect = f.required(dc, "expect").map(|(v, p)| read_expect(dc, v, &p)).unwrap_or_default();
    f.finish(dc);
    Some(CallDef {
        name: name.unwrap_or_else(|| format!("call {}", index + 1)),
        from: from?,
        to: to?,
        profile: profile?,
        media: media?,
        codec: codec?,
        start: start?,
        duration: duration_?,
        timeout: timeout?,
        expect,
    })
}

fn read_expect(dc: &mut Decoder<'_>, v: &Value, p: &Path) -> Vec<Expect> {
    let mut out = Vec::new();
    let Some(mut f) = dc.fields(v, p, "a map of expectations", EXPECT) else { return out };
    if let Some((v, p)) = f.optional("result")
        && let Some(w) = word(dc, v, &p, &["connected", "failed"])
    {
        out.push(Expect::Connected(w == "connected"));
    }
    if let Some((v, p)) = f.optional("signaling")
        && let Some(w) = word(dc, v, &p, &["ok", "failed"])
    {
        out.push(Expect::SignalingOk(w == "ok"));
    }
    if let Some((v, p)) = f.optional("selected")
        && let Some((local, remote)) = read_pair(dc, v, &p)
    {
        out.push(Expect::Selected { local, remote });
    }
    if let Some((v, p)) = f.optional("early-media") {
        if matches!(&v.node, Node::Scalar(s) if s == "none") {
            out.push(Expect::EarlyMedia(None));
        } else if let Some(pair) = read_pair(dc, v, &p) {
            out.push(Expect::EarlyMedia(Some(pair)));
        }
    }
    if let Some((v, p)) = f.optional("promoted")
        && let Some(b) = dc.bool(v, &p)
    {
        out.push(Expect::Promoted(b));
    }
    for (key, via) in [("via", true), ("avoids", false)] {
        if let Some((v, p)) = f.optional(key) {
            let names: Vec<At<String>> = dc
                .seq(v, &p, "a list of node ids")
                .unwrap_or_default()
                .iter()
                .enumerate()
                .filter_map(|(i, x)| dc.ident(x, &p.index(i), "a node id"))
                .collect();
            out.push(if via { Expect::Via(names) } else { Expect::Avoids(names) });
        }
    }
    if let Some((v, p)) = f.optional("delay")
        && let Some(b) = read_bound(dc, v, &p, Quantity::Millis)
    {
        out.push(Expect::Delay(b));
    }
    if let Some((v, p)) = f.optional("jitter")
        && let Some(b) = read_bound(dc, v, &p, Quantity::Millis)
    {
        out.push(Expect::Jitter(b));
    }
    if let Some((v, p)) = f.optional("loss")
        && let Some(b) = read_bound(dc, v, &p, Quantity::Fraction)
    {
        out.push(Expect::Loss(b));
    }
    if let Some((v, p)) = f.optional("mos")
        && let Some(b) = read_bound(dc, v, &p, Quantity::Mos)
    {
        out.push(Expect::Mos(b));
    }
    if let Some((v, p)) = f.optional("time-to-connect")
        && let Some(b) = read_bound(dc, v, &p, Quantity::Seconds)
    {
        out.push(Expect::TimeToConnect(b));
    }
    for (key, failure) in [("failure-mentions", true), ("pairs-mention", false)] {
        if let Some((v, p)) = f.optional(key) {
            let words: Vec<String> = dc
                .seq(v, &p, "a list of words")
                .unwrap_or_default()
                .iter()
                .enumerate()
                .filter_map(|(i, x)| dc.string(x, &p.index(i), "a word or phrase").map(|s| s.value))
                .collect();
            out.push(if failure { Expect::FailureMentions(words) } else { Expect::PairsMention(words) });
        }
    }
    for (key, caller) in [("caller-candidates", true), ("callee-candidates", false)] {
        if let Some((v, p)) = f.optional(key) {
            let Some(mut c) = dc.fields(v, &p, "`has` and/or `lacks` lists of candidate kinds", &["has", "lacks"])
            else {
                continue;
            };
            let mut list = |c: &mut Fields<'_>, name: &str| -> Vec<CandidatePattern> {
                let Some((v, p)) = c.optional(name) else { return Vec::new() };
                dc.seq(v, &p, "a list of candidate kinds like `relay udp`")
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, x)| read_candidate(dc, x, &p.index(i)))
                    .collect()
            };
            let has = list(&mut c, "has");
            let lacks = list(&mut c, "lacks");
            c.finish(dc);
            out.push(Expect::Candidates { caller, has, lacks });
        }
    }
    if let Some((v, p)) = f.optional("worse-than")
        && let Some(name) = dc.string(v, &p, "the name of another call of this scenario")
    {
        out.push(Expect::WorseThan(name));
    }
    if let Some((v, p)) = f.optional("best-path")
        && let Some(b) = dc.bool(v, &p)
    {
        out.push(Expect::BestPath(b));
    }
    f.finish(dc);
    out
}

type PairPattern = (Option<CandidatePattern>, Option<CandidatePattern>);

fn read_pair(dc: &mut Decoder<'_>, v: &Value, p: &Path) -> Option<PairPattern> {
    let mut f = dc.fields(v, p, "a pair (`local:` and/or `remote:` like `relay udp`)", &["local", "remote"])?;
    let local = f.optional("local").map(|(v, p)| read_candidate(dc, v, &p));
    let remote = f.optional("remote").map(|(v, p)| read_candidate(dc, v, &p));
    f.finish(dc);
    let ok = |x: &Option<Option<CandidatePattern>>| !matches!(x, Some(None));
    (ok(&local) && ok(&remote)).then(|| (local.flatten(), remote.flatten()))
}

fn read_candidate(dc: &mut Decoder<'_>, v: &Value, p: &Path) -> Option<CandidatePattern> {
    const KINDS: &[&str] = &["host", "srflx", "prflx", "relay"];
    let expected = "a candidate kind (host, srflx, prflx, relay), optionally with a transport: `relay tcp`";
    let s = dc.scalar(v, p, expected)?;
    let mut words = s.split_whitespace();
    let kind = words.next().unwrap_or_default();
    let transport = words.next();
    let extra = words.next();
    let kind_ok = KINDS.contains(&kind);
    let transport_ok = transport.is_none_or(|t| t == "udp" || t == "tcp");
    if kind_ok && transport_ok && extra.is_none() {
        return Some(CandidatePattern { kind: kind.to_string(), transport: transport.map(str::to_string) });
    }
    let hint = if kind_ok {
        Some("the transport is `udp` or `tcp`".to_string())
    } else {
        crate::schema::suggest(kind, KINDS).map(|k| format!("did you mean `{k}`?"))
    };
    dc.invalid(v, p, expected, hint);
    None
}

#[derive(Clone, Copy)]
enum Quantity {
    Millis,
    Seconds,
    Fraction,
    Mos,
}

fn read_bound(dc: &mut Decoder<'_>, v: &Value, p: &Path, q: Quantity) -> Option<Bound> {
    let mut f = dc.fields(v, p, "a bound: `{min: ..}`, `{max: ..}` or both", &["min", "max"])?;
    let mut one = |f: &mut Fields<'_>, name: &str| -> Option<Option<f64>> {
        let Some((v, p)) = f.optional(name) else { return Some(None) };
        let value = match q {
            Quantity::Millis => duration(dc, v, &p).map(|d| d.as_millis_f64()),
            Quantity::Seconds => duration(dc, v, &p).map(|d| d.as_millis_f64() / 1000.0),
            Quantity::Fraction => {
                let s = dc.scalar(v, &p, "a loss like 1% or 0.01")?;
                match parse_loss(s) {
                    Ok(x) => Some(x),
                    Err(e) => {
                        dc.invalid(v, &p, "a loss like 1% or 0.01", Some(e.to_string()));
                        None
                    }
                }
            }
            Quantity::Mos => {
                let s = dc.scalar(v, &p, "a MOS from 1 to 5")?;
                match s.parse::<f64>() {
                    Ok(x) if (1.0..=5.0).contains(&x) => Some(x),
                    _ => {
                        dc.invalid(v, &p, "a MOS from 1 to 5", None);
                        None
                    }
                }
            }
        };
        value.map(Some)
    };
    let min = one(&mut f, "min");
    let max = one(&mut f, "max");
    let pos = f.pos;
    f.finish(dc);
    let (min, max) = (min?, max?);
    if min.is_none() && max.is_none() {
        let problem = Problem::InvalidValue { expected: "`min`, `max` or both".into(), found: "neither".into() };
        dc.report(pos, p, problem, None);
        return None;
    }
    Some(Bound { min, max })
}

fn read_audit(dc: &mut Decoder<'_>, v: &Value, p: &Path) -> Option<AuditDef> {
    let expected = "an audit assertion (`from`, `to`, and `reachable: none`, `only: [...]` or `includes: [...]`)";
    let mut f = dc.fields(v, p, expected, &["from", "to", "reachable", "only", "includes"])?;
    let from = f.required(dc, "from").and_then(|(v, p)| dc.string(v, &p, "a zone, or NODE/NIC"));
    let to = f.required(dc, "to").and_then(|(v, p)| dc.ident(v, &p, "a zone"));
    let mut kinds = Vec::new();
    if let Some((v, p)) = f.optional("reachable")
        && word(dc, v, &p, &["none"]).is_some()
    {
        kinds.push(AuditExpect::Nothing);
    }
    for key in ["only", "includes"] {
        if let Some((v, p)) = f.optional(key) {
            let items: Vec<At<String>> = dc
                .seq(v, &p, "a list like [\"edge01 udp/3478\"]")
                .unwrap_or_default()
                .iter()
                .enumerate()
                .filter_map(|(i, x)| dc.string(x, &p.index(i), "a service like \"edge01 udp/3478\""))
                .collect();
            kinds.push(if key == "only" { AuditExpect::Only(items) } else { AuditExpect::Includes(items) });
        }
    }
    let pos = f.pos;
    f.finish(dc);
    if kinds.len() != 1 {
        let problem = Problem::InvalidValue {
            expected: "exactly one of `reachable: none`, `only`, `includes`".into(),
            found: kinds.len().to_string(),
        };
        dc.report(pos, p, problem, None);
        return None;
    }
    Some(AuditDef { from: from?, to: to?, expect: kinds.pop()? })
}
