//! The population file: a small YAML description of an enterprise and how its users call,
//! read the way topology files are (every problem at once, with file, line, column, the
//! place in the document, what was expected and a hint).
//!
//! ```yaml
//! name: contoso                      # optional; default: the file name without extension
//! seed: 7                            # optional; default 1 (`--seed` overrides it)
//! sites:                             # offices: a LAN of users and an internet breakout
//!   count: 2                         # 0 to 200
//!   users: 20                        # per site
//!   lan: {latency: 0.2ms, bandwidth: 1Gbit}
//!   wan: {latency: 8ms, jitter: 1ms, bandwidth: 100Mbit}      # site to data centre
//!   breakout: {latency: 3ms, bandwidth: 1Gbit}                # site to the internet
//!   nat: symmetric                   # the breakout firewall's NAT preset
//! homes:                             # remote users, each behind a home router
//!   users: 20
//!   nat: {port-restricted-cone: 60%, full-cone: 20%, symmetric: 20%}
//!   access: {latency: 15ms, jitter: 2ms, bandwidth: 50Mbit}   # the broadband line
//!   vpn: {share: 25%, full: 50%}     # share on the VPN; of those, share on a full tunnel
//! vpn: {concentrators: 1, crypto-delay: 1ms, crypto-jitter: 2ms, capacity: 20000pps}
//! edges: {pools: 1, servers: 2, dmz: {latency: 0.2ms, bandwidth: 1Gbit}}
//! calls:
//!   arrivals: poisson                # or `concurrent` (count: N placed over `ramp`)
//!   per-user-per-hour: 4
//!   duration: 60s                    # the mean for `exponential`, every call for `fixed`
//!   distribution: exponential
//!   video: 10%                       # share of calls with video (the rest audio)
//!   codec: pcmu                      # pcmu | opus (audio)
//! ```

use super::units_text::{bandwidth_text, duration_text};
use crate::schema::decode::{Decoder, Fields, Path};
use crate::schema::tree::{self, Value};
use crate::schema::units::{self, UnitError};
use crate::schema::{Diagnostic, LoadError, Problem, Severity};
use crate::time::SimDuration;
use crate::topology::NatPreset;
use crate::wire::rtp::Codec;

/// The most sites the address plan has room for (10.1.0.0/16 to 10.200.0.0/16).
pub const MAX_SITES: u64 = 200;
/// The most Edge servers in all pools (203.0.113.10 to .209 in the DMZ).
pub const MAX_EDGES: u64 = 200;
/// The most VPN concentrators (pools 10.240.0.0/16 to 10.249.0.0/16).
pub const MAX_CONCENTRATORS: u64 = 10;
/// The most home users (one /30 each in 172.16.0.0/12).
pub const MAX_HOMES: u64 = 262_000;
/// The most users per site (1,024 segments of 61 in a /16).
pub const MAX_SITE_USERS: u64 = 62_000;

/// One kind of link as the file gives it: the text is kept (it was checked) so the generated
/// topology says exactly what the population file said.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkModel {
    pub latency: SimDuration,
    pub jitter: Option<SimDuration>,
    /// A probability.
    pub loss: f64,
    /// Bits per second; `None` for an infinitely fast link.
    pub bandwidth: Option<u64>,
}

impl LinkModel {
    fn new(latency_us: u64, jitter_us: Option<u64>, bandwidth: Option<u64>) -> LinkModel {
        LinkModel {
            latency: SimDuration::from_micros(latency_us),
            jitter: jitter_us.map(SimDuration::from_micros),
            loss: 0.0,
            bandwidth,
        }
    }

    /// The link's properties as topology YAML flow-map entries (`latency: 2ms, ...`).
    pub fn yaml(&self) -> String {
        let mut s = format!("latency: {}", duration_text(self.latency));
        if let Some(j) = self.jitter {
            s.push_str(&format!(", jitter: {}", duration_text(j)));
        }
        if self.loss > 0.0 {
            s.push_str(&format!(", loss: {}", self.loss));
        }
        if let Some(b) = self.bandwidth {
            s.push_str(&format!(", bandwidth: {}", bandwidth_text(b)));
        }
        s
    }
}

/// The offices.
#[derive(Clone, Debug, PartialEq)]
pub struct Sites {
    pub count: u32,
    pub users: u32,
    pub lan: LinkModel,
    pub wan: LinkModel,
    pub breakout: LinkModel,
    pub nat: NatPreset,
}

/// The remote users.
#[derive(Clone, Debug, PartialEq)]
pub struct Homes {
    pub users: u32,
    /// Home router NAT presets and their shares (summing to 1), in file order.
    pub nat: Vec<(NatPreset, f64)>,
    pub access: LinkModel,
    /// Share of home users on the VPN.
    pub vpn_share: f64,
    /// Of the VPN users, the share on a full tunnel (the rest split).
    pub vpn_full: f64,
}

/// The VPN concentrators.
#[derive(Clone, Debug, PartialEq)]
pub struct Vpn {
    pub concentrators: u32,
    pub crypto_delay: SimDuration,
    pub crypto_jitter: SimDuration,
    /// Packets per second; `None`: unlimited.
    pub capacity: Option<u64>,
}

/// The A/V Edge pools.
#[derive(Clone, Debug, PartialEq)]
pub struct Edges {
    pub pools: u32,
    /// Servers per pool.
    pub servers: u32,
    pub dmz: LinkModel,
}

/// How calls arrive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrivals {
    /// A Poisson process: each user places this many calls per hour on average.
    Poisson { per_user_per_hour: f64 },
    /// Exactly `count` calls, started evenly over `ramp` (a load test).
    Concurrent { count: u32, ramp: SimDuration },
}

/// How long calls last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationModel {
    Fixed,
    Exponential,
}

/// The call model.
#[derive(Clone, Debug, PartialEq)]
pub struct CallModel {
    pub arrivals: Arrivals,
    /// Every call's media time (`Fixed`), or its mean (`Exponential`).
    pub duration: SimDuration,
    pub distribution: DurationModel,
    /// Share of calls carrying video (the rest are audio).
    pub video_share: f64,
    pub codec: Codec,
    /// Video bitrate.
    pub video_bitrate: u64,
}

/// A population file, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct PopulationSpec {
    pub name: String,
    pub seed: u64,
    pub sites: Sites,
    pub homes: Homes,
    pub vpn: Vpn,
    pub edges: Edges,
    pub calls: CallModel,
}

impl PopulationSpec {
    /// Every user: site users then home users.
    pub fn users(&self) -> u64 {
        self.sites.count as u64 * self.sites.users as u64 + self.homes.users as u64
    }
}

/// Reads a population file. Pure: `file` names the file in messages and gives the default
/// name. Never panics; on failure returns every problem, sorted by position.
pub fn read_population(file: &str, text: &str) -> Result<PopulationSpec, LoadError> {
    let mut dc = Decoder::new(file);
    let spec = match tree::parse(text) {
        Ok(doc) => read_doc(&mut dc, &doc, file),
        Err(e) => {
            dc.report(e.pos, &Path::root(), Problem::Syntax { message: e.message }, e.hint);
            None
        }
    };
    let mut diagnostics: Vec<Diagnostic> = dc.diagnostics;
    diagnostics.sort_by_key(|d| (d.line, d.column));
    match spec {
        Some(s) if !diagnostics.iter().any(|d| d.severity == Severity::Error) => Ok(s),
        _ => Err(LoadError { diagnostics }),
    }
}

const TOP: &[&str] = &["name", "seed", "sites", "homes", "vpn", "edges", "calls"];
const LINK: &[&str] = &["latency", "jitter", "loss", "bandwidth"];
const SHARE_EXPECTED: &str = "a share like 25% or 0.25";

fn read_doc(dc: &mut Decoder<'_>, doc: &Value, file: &str) -> Option<PopulationSpec> {
    let root = Path::root();
    let mut f = dc.fields(doc, &root, "a population (a map with `sites`, `homes`, `edges`, `calls`)", TOP)?;
    let default_name = std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or("population");
    let name = match f.optional("name") {
        Some((v, p)) => dc.ident(v, &p, "a name").map(|a| a.value),
        None => Some(default_name.to_string()),
    };
    let seed = match f.optional("seed") {
        Some((v, p)) => dc.number(v, &p, 0, u64::MAX),
        None => Some(1),
    };
    let sites = match f.optional("sites") {
        Some((v, p)) => read_sites(dc, v, &p),
        None => Some(Sites {
            count: 0,
            users: 0,
            lan: default_lan(),
            wan: default_wan(),
            breakout: default_breakout(),
            nat: NatPreset::Symmetric,
        }),
    };
    let homes = match f.optional("homes") {
        Some((v, p)) => read_homes(dc, v, &p),
        None => Some(Homes {
            users: 0,
            nat: vec![(NatPreset::PortRestrictedCone, 1.0)],
            access: default_access(),
            vpn_share: 0.0,
            vpn_full: 0.0,
        }),
    };
    let vpn = match f.optional("vpn") {
        Some((v, p)) => read_vpn(dc, v, &p),
        None => Some(default_vpn()),
    };
    let edges = f.required(dc, "edges").and_then(|(v, p)| read_edges(dc, v, &p));
    let calls = f.required(dc, "calls").and_then(|(v, p)| read_calls(dc, v, &p));
    let pos = f.pos;
    f.finish(dc);
    let spec = PopulationSpec {
        name: name?,
        seed: seed?,
        sites: sites?,
        homes: homes?,
        vpn: vpn?,
        edges: edges?,
        calls: calls?,
    };
    if spec.users() < 2 {
        let problem = Problem::InvalidValue {
            expected: "at least two users (sites.count × sites.users + homes.users)".into(),
            found: spec.users().to_string(),
        };
        dc.report(pos, &root, problem, Some("a call needs a caller and a callee".into()));
        return None;
    }
    Some(spec)
}

fn default_lan() -> LinkModel {
    LinkModel::new(200, None, Some(1_000_000_000))
}
fn default_wan() -> LinkModel {
    LinkModel::new(8_000, Some(1_000), Some(100_000_000))
}
fn default_breakout() -> LinkModel {
    LinkModel::new(3_000, None, Some(1_000_000_000))
}
fn default_access() -> LinkModel {
    LinkModel::new(15_000, Some(2_000), Some(50_000_000))
}
fn default_dmz() -> LinkModel {
    LinkModel::new(200, None, Some(1_000_000_000))
}
fn default_vpn() -> Vpn {
    Vpn {
        concentrators: 1,
        crypto_delay: SimDuration::from_millis(1),
        crypto_jitter: SimDuration::from_millis(2),
        capacity: Some(20_000),
    }
}

fn read_link(dc: &mut Decoder<'_>, v: &Value, path: &Path, default: LinkModel) -> Option<LinkModel> {
    let mut f = dc.fields(v, path, "a link (a map with latency, jitter, loss, bandwidth)", LINK)?;
    let mut l = default;
    let mut ok = true;
    if let Some((v, p)) = f.optional("latency") {
        ok &= quantity(dc, v, &p, units::parse_duration).map(|d| l.latency = d).is_some();
    }
    if let Some((v, p)) = f.optional("jitter") {
        ok &= quantity(dc, v, &p, units::parse_duration)
            .map(|d| l.jitter = Some(d).filter(|d| *d != SimDuration::ZERO))
            .is_some();
    }
    if let Some((v, p)) = f.optional("loss") {
        ok &= quantity(dc, v, &p, units::parse_loss).map(|x| l.loss = x).is_some();
    }
    if let Some((v, p)) = f.optional("bandwidth") {
        ok &= quantity(dc, v, &p, units::parse_bandwidth).map(|b| l.bandwidth = Some(b)).is_some();
    }
    f.finish(dc);
    ok.then_some(l)
}

fn read_sites(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<Sites> {
    const KNOWN: &[&str] = &["count", "users", "lan", "wan", "breakout", "nat"];
    let mut f = dc.fields(v, path, "the sites (a map with count, users, lan, wan, breakout, nat)", KNOWN)?;
    let count = f.required(dc, "count").and_then(|(v, p)| dc.number(v, &p, 0, MAX_SITES));
    let users = f.required(dc, "users").and_then(|(v, p)| dc.number(v, &p, 0, MAX_SITE_USERS));
    let lan = opt_link(dc, &mut f, "lan", default_lan());
    let wan = opt_link(dc, &mut f, "wan", default_wan());
    let breakout = opt_link(dc, &mut f, "breakout", default_breakout());
    let nat = match f.optional("nat") {
        Some((v, p)) => preset(dc, v, &p),
        None => Some(NatPreset::Symmetric),
    };
    f.finish(dc);
    Some(Sites { count: count? as u32, users: users? as u32, lan: lan?, wan: wan?, breakout: breakout?, nat: nat? })
}

fn opt_link(dc: &mut Decoder<'_>, f: &mut Fields<'_>, name: &str, default: LinkModel) -> Option<LinkModel> {
    match f.optional(name) {
        Some((v, p)) => read_link(dc, v, &p, default),
        None => Some(default),
    }
}

fn read_homes(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<Homes> {
    const KNOWN: &[&str] = &["users", "nat", "access", "vpn"];
    let mut f = dc.fields(v, path, "the home users (a map with users, nat, access, vpn)", KNOWN)?;
    let users = f.required(dc, "users").and_then(|(v, p)| dc.number(v, &p, 0, MAX_HOMES));
    let nat = match f.optional("nat") {
        Some((v, p)) => read_nat_mix(dc, v, &p),
        None => Some(vec![(NatPreset::PortRestrictedCone, 1.0)]),
    };
    let access = opt_link(dc, &mut f, "access", default_access());
    let (mut share, mut full) = (Some(0.0), Some(0.0));
    if let Some((v, p)) = f.optional("vpn") {
        const VPN: &[&str] = &["share", "full"];
        match dc.fields(v, &p, "the VPN users (a map with share, full)", VPN) {
            Some(mut g) => {
                share = g.required(dc, "share").and_then(|(v, p)| quantity(dc, v, &p, parse_share));
                full = match g.optional("full") {
                    Some((v, p)) => quantity(dc, v, &p, parse_share),
                    None => Some(0.5),
                };
                g.finish(dc);
            }
            None => share = None,
        }
    }
    f.finish(dc);
    Some(Homes { users: users? as u32, nat: nat?, access: access?, vpn_share: share?, vpn_full: full? })
}

fn read_nat_mix(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<Vec<(NatPreset, f64)>> {
    let entries = dc.map(v, path, "NAT presets with their shares, like {port-restricted-cone: 70%, symmetric: 30%}")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (k, val) in entries {
        let p = path.field(&k.name);
        let preset = NAT_PRESETS.iter().find(|(n, _)| *n == k.name).map(|(_, x)| *x);
        if preset.is_none() {
            let names: Vec<&str> = NAT_PRESETS.iter().map(|(n, _)| *n).collect();
            let hint = crate::schema::suggest(&k.name, &names)
                .map(|c| format!("did you mean `{c}`?"))
                .or_else(|| Some(format!("presets: {}", names.join(", "))));
            let problem = Problem::InvalidValue { expected: "a NAT preset".into(), found: format!("{:?}", k.name) };
            dc.report(k.pos, &p, problem, hint);
            ok = false;
        }
        let share = quantity(dc, val, &p, parse_share);
        match (preset, share) {
            (Some(preset), Some(s)) => out.push((preset, s)),
            _ => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let total: f64 = out.iter().map(|(_, s)| s).sum();
    if out.is_empty() || (total - 1.0).abs() > 1e-6 {
        let problem = Problem::InvalidValue {
            expected: "shares adding up to 100%".into(),
            found: format!("{:.4}%", total * 100.0),
        };
        dc.report(v.pos, path, problem, Some("every home user is behind one of these presets".into()));
        return None;
    }
    Some(out)
}

fn read_vpn(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<Vpn> {
    const KNOWN: &[&str] = &["concentrators", "crypto-delay", "crypto-jitter", "capacity"];
    let mut f =
        dc.fields(v, path, "the VPN (a map with concentrators, crypto-delay, crypto-jitter, capacity)", KNOWN)?;
    let mut vpn = default_vpn();
    let mut ok = true;
    if let Some((v, p)) = f.optional("concentrators") {
        ok &= dc.number(v, &p, 1, MAX_CONCENTRATORS).map(|n| vpn.concentrators = n as u32).is_some();
    }
    if let Some((v, p)) = f.optional("crypto-delay") {
        ok &= quantity(dc, v, &p, units::parse_duration).map(|d| vpn.crypto_delay = d).is_some();
    }
    if let Some((v, p)) = f.optional("crypto-jitter") {
        ok &= quantity(dc, v, &p, units::parse_duration).map(|d| vpn.crypto_jitter = d).is_some();
    }
    if let Some((v, p)) = f.optional("capacity") {
        ok &= quantity(dc, v, &p, units::parse_pps).map(|c| vpn.capacity = Some(c)).is_some();
    }
    f.finish(dc);
    ok.then_some(vpn)
}

fn read_edges(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<Edges> {
    const KNOWN: &[&str] = &["pools", "servers", "dmz"];
    let mut f = dc.fields(v, path, "the Edge pools (a map with pools, servers, dmz)", KNOWN)?;
    let pools = match f.optional("pools") {
        Some((v, p)) => dc.number(v, &p, 1, MAX_EDGES),
        None => Some(1),
    };
    let servers = match f.optional("servers") {
        Some((v, p)) => dc.number(v, &p, 1, MAX_EDGES),
        None => Some(1),
    };
    let dmz = opt_link(dc, &mut f, "dmz", default_dmz());
    let pos = f.pos;
    f.finish(dc);
    let (pools, servers) = (pools?, servers?);
    if pools * servers > MAX_EDGES {
        let problem = Problem::TooLarge {
            what: "pools × servers",
            found: (pools * servers).to_string(),
            limit: MAX_EDGES.to_string(),
        };
        dc.report(pos, path, problem, Some("the DMZ's address plan holds 200 Edge servers".into()));
        return None;
    }
    Some(Edges { pools: pools as u32, servers: servers as u32, dmz: dmz? })
}

fn read_calls(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<CallModel> {
    const KNOWN: &[&str] = &[
        "arrivals",
        "per-user-per-hour",
        "count",
        "ramp",
        "duration",
        "distribution",
        "video",
        "video-bitrate",
        "codec",
    ];
    let mut f = dc.fields(v, path, "the call model (a map with arrivals, per-user-per-hour, duration, ...)", KNOWN)?;
    let kind = match f.optional("arrivals") {
        Some((v, p)) => one_of(dc, v, &p, &["poisson", "concurrent"]),
        None => Some("poisson"),
    };
    let arrivals = match kind {
        Some("concurrent") => {
            let count = f.required(dc, "count").and_then(|(v, p)| dc.number(v, &p, 1, 10_000_000));
            let ramp = match f.optional("ramp") {
                Some((v, p)) => quantity(dc, v, &p, units::parse_duration),
                None => Some(SimDuration::from_secs(5)),
            };
            match (count, ramp) {
                (Some(c), Some(r)) => Some(Arrivals::Concurrent { count: c as u32, ramp: r }),
                _ => None,
            }
        }
        Some(_) => f
            .required(dc, "per-user-per-hour")
            .and_then(|(v, p)| quantity(dc, v, &p, parse_rate))
            .map(|r| Arrivals::Poisson { per_user_per_hour: r }),
        None => None,
    };
    let duration = match f.optional("duration") {
        Some((v, p)) => quantity(dc, v, &p, units::parse_duration),
        None => Some(SimDuration::from_secs(60)),
    };
    let distribution = match f.optional("distribution") {
        Some((v, p)) => one_of(dc, v, &p, &["exponential", "fixed"]).map(|d| match d {
            "fixed" => DurationModel::Fixed,
            _ => DurationModel::Exponential,
        }),
        None => Some(DurationModel::Exponential),
    };
    let video_share = match f.optional("video") {
        Some((v, p)) => quantity(dc, v, &p, parse_share),
        None => Some(0.0),
    };
    let video_bitrate = match f.optional("video-bitrate") {
        Some((v, p)) => quantity(dc, v, &p, units::parse_bandwidth),
        None => Some(1_500_000),
    };
    let codec = match f.optional("codec") {
        Some((v, p)) => {
            one_of(dc, v, &p, &["pcmu", "opus"]).map(|c| if c == "opus" { Codec::OPUS } else { Codec::PCMU })
        }
        None => Some(Codec::PCMU),
    };
    // Fields of the other arrival model are not an error to mention, just unused.
    for other in ["per-user-per-hour", "count", "ramp"] {
        let _ = f.optional(other);
    }
    f.finish(dc);
    let duration = duration?;
    if duration == SimDuration::ZERO {
        let (v, p) = (v, path.field("duration"));
        let problem = Problem::InvalidValue { expected: "a call duration above zero".into(), found: "0".into() };
        dc.report(v.pos, &p, problem, None);
        return None;
    }
    Some(CallModel {
        arrivals: arrivals?,
        duration,
        distribution: distribution?,
        video_share: video_share?,
        codec: codec?,
        video_bitrate: video_bitrate?,
    })
}

const NAT_PRESETS: [(&str, NatPreset); 5] = [
    ("full-cone", NatPreset::FullCone),
    ("restricted-cone", NatPreset::RestrictedCone),
    ("port-restricted-cone", NatPreset::PortRestrictedCone),
    ("symmetric", NatPreset::Symmetric),
    ("cgnat", NatPreset::Cgnat),
];

/// The preset's name as topology files write it.
pub fn preset_name(p: NatPreset) -> &'static str {
    NAT_PRESETS.iter().find(|(_, x)| *x == p).map_or("symmetric", |(n, _)| n)
}

fn preset(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<NatPreset> {
    let names: Vec<&str> = NAT_PRESETS.iter().map(|(n, _)| *n).collect();
    let name = one_of(dc, v, path, &names)?;
    NAT_PRESETS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// One of `options`, with a "did you mean" for a near miss.
fn one_of<'o>(dc: &mut Decoder<'_>, v: &Value, path: &Path, options: &[&'o str]) -> Option<&'o str> {
    let expected = format!("one of {}", options.join(", "));
    let s = dc.scalar(v, path, &expected)?;
    match options.iter().find(|o| **o == s) {
        Some(o) => Some(o),
        None => {
            let hint = crate::schema::suggest(s, options).map(|c| format!("did you mean `{c}`?"));
            dc.invalid(v, path, &expected, hint);
            None
        }
    }
}

fn quantity<T>(dc: &mut Decoder<'_>, v: &Value, path: &Path, parse: fn(&str) -> Result<T, UnitError>) -> Option<T> {
    let Some(s) = (match &v.node {
        tree::Node::Scalar(s) => Some(s.as_str()),
        _ => None,
    }) else {
        let expected = parse("").err().map_or_else(|| "a quantity".to_string(), |e| e.expected);
        dc.wrong_type(v, path, &expected);
        return None;
    };
    match parse(s) {
        Ok(x) => Some(x),
        Err(e) => {
            dc.invalid(v, path, &e.expected, e.hint);
            None
        }
    }
}

fn parse_share(text: &str) -> Result<f64, UnitError> {
    units::parse_loss(text).map_err(|e| UnitError {
        expected: SHARE_EXPECTED.to_string(),
        hint: e.hint.map(|h| {
            h.replace("a loss rate", "a share").replace("a link cannot lose more than every packet", "at most 100%")
        }),
    })
}

fn parse_rate(text: &str) -> Result<f64, UnitError> {
    let err = || UnitError { expected: "a number of calls per user per hour like 2 or 0.5".into(), hint: None };
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 3600.0 => Ok(x),
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "name: t\nsites: {count: 2, users: 3}\nhomes: {users: 4, nat: {symmetric: 50%, full-cone: 50%}, vpn: {share: 25%}}\nedges: {pools: 1, servers: 2}\ncalls: {per-user-per-hour: 6, duration: 20s}\n";

    #[test]
    fn a_good_file_reads_with_defaults() {
        let s = read_population("t.yaml", GOOD).unwrap();
        assert_eq!(s.users(), 10);
        assert_eq!(s.homes.nat, vec![(NatPreset::Symmetric, 0.5), (NatPreset::FullCone, 0.5)]);
        assert_eq!(s.homes.vpn_full, 0.5);
        assert_eq!(s.calls.arrivals, Arrivals::Poisson { per_user_per_hour: 6.0 });
        assert_eq!(s.calls.duration, SimDuration::from_secs(20));
        assert_eq!(s.edges.servers, 2);
    }

    #[test]
    fn problems_are_reported_with_place_and_hint() {
        let bad = GOOD.replace("symmetric: 50%", "symetric: 50%").replace("duration: 20s", "duration: 20 parsecs");
        let e = read_population("t.yaml", &bad).unwrap_err();
        let text: Vec<String> = e.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(text[0].starts_with("t.yaml:3:"), "{text:?}");
        assert!(text[0].contains("homes.nat.symetric") && text[0].contains("did you mean `symmetric`"), "{text:?}");
        assert!(text.iter().any(|t| t.contains("calls.duration")), "{text:?}");
    }

    #[test]
    fn shares_must_add_up() {
        let bad = GOOD.replace("full-cone: 50%", "full-cone: 40%");
        let e = read_population("t.yaml", &bad).unwrap_err();
        assert!(e.to_string().contains("shares adding up to 100%"), "{e}");
    }
}
