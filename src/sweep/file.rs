//! Reading a scenario's `sweep:` section: which parameters vary, over which values, as a
//! grid or as random draws. Every problem is reported at once, with the scenario file's
//! line and column and a did-you-mean, like the rest of the file. Names (nodes, links) are
//! checked later, when the generated overrides are patched into the topology.

use crate::schema::Problem;
use crate::schema::decode::{At, Decoder, Fields, Path};
use crate::schema::tree::{Node, Pos, Value};
use crate::schema::units::{parse_duration, parse_loss};
use crate::topology::NatPreset;

/// More grid points than this is almost certainly a mistake (use `draws:`).
pub(crate) const MAX_POINTS: usize = 100_000;
/// The most values a range with a `step` may expand to.
const MAX_STEPS: usize = 1_000;

/// The `sweep:` section as written.
#[derive(Clone, Debug)]
pub(crate) struct SweepDef {
    /// `None`: every combination of the parameters' values (a grid). `Some(n)`: `n` random
    /// points, each drawn from the scenario's seed and the draw's index.
    pub draws: Option<usize>,
    /// How many seeds each point runs with when the command line does not say.
    pub seeds: Option<u32>,
    pub params: Vec<Param>,
}

/// One varied parameter.
#[derive(Clone, Debug)]
pub(crate) struct Param {
    /// How reports name it: `nat home-b-rtr`, `latency access-home-b`, `vpn laptop-full`.
    pub name: String,
    /// `sweep.parameters[i]`, for problems found when its overrides are applied.
    pub path: Path,
    /// The node or link it changes.
    pub target: At<String>,
    pub kind: ParamKind,
}

#[derive(Clone, Debug)]
pub(crate) enum ParamKind {
    /// The node's `nat.preset`, over these presets.
    Nat(Vec<At<NatPreset>>),
    /// A link field over a list of values (as the topology would take them) or a range.
    Link { field: LinkField, domain: Domain },
    /// A host's VPN client over these states; `share` (draws only) is the chance it is up.
    Vpn { states: Vec<At<VpnState>>, share: Option<f64>, include: Option<Value>, when_off: Option<Value> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkField {
    Latency,
    Jitter,
    Loss,
}

impl LinkField {
    pub fn key(self) -> &'static str {
        match self {
            LinkField::Latency => "latency",
            LinkField::Jitter => "jitter",
            LinkField::Loss => "loss",
        }
    }
}

/// The values a link field takes.
#[derive(Clone, Debug)]
pub(crate) enum Domain {
    /// Written out: each is patched in as written (so the topology's checks judge it).
    List(Vec<Value>),
    /// `{from, to, step}`: in the field's unit (ms for latency and jitter, a fraction for
    /// loss). A grid needs `step`; draws take any value in between (on the step, if given)
    /// and are reported in `bins` equal slices.
    Range { from: f64, to: f64, step: Option<f64>, bins: usize, pos: Pos },
}

/// What a VPN client is made to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VpnState {
    /// Disconnected: the `vpn:` block removed (and `when-off` fields set).
    Off,
    /// As the topology configures it.
    On,
    /// Tunnel-all.
    Full,
    /// Split tunnel.
    Split,
}

impl VpnState {
    pub const WORDS: [&'static str; 4] = ["off", "on", "full", "split"];

    pub fn as_str(self) -> &'static str {
        match self {
            VpnState::Off => "off",
            VpnState::On => "on",
            VpnState::Full => "full",
            VpnState::Split => "split",
        }
    }
}

const SECTION: &[&str] = &["draws", "seeds", "parameters"];
const PARAM: &[&str] =
    &["nat", "presets", "link", "latency", "jitter", "loss", "vpn", "states", "share", "include", "when-off", "bins"];

/// Reads the section under `sweep:` (positions already marked as the scenario's).
pub(crate) fn read_sweep(dc: &mut Decoder<'_>, v: &Value, p: &Path) -> Option<SweepDef> {
    let mut f = dc.fields(v, p, "a sweep (`parameters`, and optionally `draws` and `seeds`)", SECTION)?;
    let draws = f.optional("draws").and_then(|(v, p)| dc.number(v, &p, 1, MAX_POINTS as u64)).map(|n| n as usize);
    let seeds = f.optional("seeds").and_then(|(v, p)| dc.number(v, &p, 1, 1_000_000)).map(|n| n as u32);
    let mut params = Vec::new();
    let mut ok = true;
    match f.required(dc, "parameters") {
        Some((v, p)) => {
            let items = dc.seq(v, &p, "a list of parameters").unwrap_or_default();
            if items.is_empty() {
                let problem = Problem::InvalidValue { expected: "at least one parameter".into(), found: "none".into() };
                dc.report(v.pos, &p, problem, Some("e.g. `- {nat: home-rtr, presets: [full-cone, symmetric]}`".into()));
            }
            for (i, item) in items.iter().enumerate() {
                match read_param(dc, item, &p.index(i), draws.is_some()) {
                    Some(x) => params.push(x),
                    None => ok = false,
                }
            }
        }
        None => ok = false,
    }
    f.finish(dc);
    if draws.is_none() && ok {
        let points = params.iter().try_fold(1usize, |acc, x| acc.checked_mul(grid_len(x)));
        if points.is_none_or(|n| n > MAX_POINTS) {
            let problem = Problem::InvalidValue {
                expected: format!("a grid of at most {MAX_POINTS} points"),
                found: points.map_or_else(|| "more".into(), |n| n.to_string()),
            };
            dc.report(v.pos, p, problem, Some("sample it instead with `draws: N`".into()));
        }
    }
    Some(SweepDef { draws, seeds, params })
}

/// How many values a parameter takes on a grid.
pub(crate) fn grid_len(p: &Param) -> usize {
    match &p.kind {
        ParamKind::Nat(presets) => presets.len(),
        ParamKind::Link { domain: Domain::List(v), .. } => v.len(),
        ParamKind::Link { domain: Domain::Range { from, to, step, .. }, .. } => {
            step.map_or(1, |s| steps(*from, *to, s).len())
        }
        ParamKind::Vpn { states, .. } => states.len(),
    }
}

/// `from, from + step, ..., to` (the last step may fall short of `to`; `to` is included
/// when a whole number of steps reaches it, allowing for rounding).
pub(crate) fn steps(from: f64, to: f64, step: f64) -> Vec<f64> {
    let n = ((to - from) / step + 1e-9).floor() as usize;
    (0..=n.min(MAX_STEPS)).map(|i| from + step * i as f64).collect()
}

fn read_param(dc: &mut Decoder<'_>, v: &Value, p: &Path, draws: bool) -> Option<Param> {
    let expected = "a parameter: `nat: NODE`, `link: LINK` with `latency`, `jitter` or `loss`, or `vpn: NODE`";
    let mut f = dc.fields(v, p, expected, PARAM)?;
    let has = |key: &str| matches!(&v.node, Node::Map(e) if e.iter().any(|(k, _)| k.name == key));
    let nat = f.optional("nat").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let link = f.optional("link").and_then(|(v, p)| dc.ident(v, &p, "a link id"));
    let vpn = f.optional("vpn").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let pos = f.pos;
    let targets = [nat.is_some(), link.is_some(), vpn.is_some()].iter().filter(|x| **x).count();
    if targets != 1 {
        let problem = Problem::InvalidValue {
            expected: "exactly one of `nat: NODE`, `link: LINK`, `vpn: NODE`".into(),
            found: if targets == 0 { "none".into() } else { "several".into() },
        };
        dc.report(pos, p, problem, Some("write one parameter per list entry".into()));
        f.finish(dc);
        return None;
    }
    let param = if let Some(target) = nat {
        let presets = read_presets(dc, &mut f, pos);
        not_here(dc, &mut f, &["latency", "jitter", "loss", "states", "share", "include", "when-off", "bins"], "nat");
        presets.map(|x| Param {
            name: format!("nat {}", target.value),
            path: p.clone(),
            target,
            kind: ParamKind::Nat(x),
        })
    } else if let Some(target) = link {
        let fields: Vec<LinkField> =
            [LinkField::Latency, LinkField::Jitter, LinkField::Loss].into_iter().filter(|x| has(x.key())).collect();
        not_here(dc, &mut f, &["presets", "states", "share", "include", "when-off"], "link");
        let [field] = fields[..] else {
            let problem = Problem::InvalidValue {
                expected: "exactly one of `latency`, `jitter`, `loss`".into(),
                found: if fields.is_empty() { "none".into() } else { "several".into() },
            };
            dc.report(pos, p, problem, Some("write one parameter per varied field".into()));
            f.finish(dc);
            return None;
        };
        let bins = match f.optional("bins") {
            Some((v, p)) => dc.number(v, &p, 1, 100).map(|n| n as usize),
            None => Some(5),
        };
        let (v, fp) = f.optional(field.key())?;
        let domain = read_domain(dc, v, &fp, field, draws, bins?);
        domain.map(|domain| Param {
            name: format!("{} {}", field.key(), target.value),
            path: p.clone(),
            target,
            kind: ParamKind::Link { field, domain },
        })
    } else {
        let target = vpn?;
        not_here(dc, &mut f, &["presets", "latency", "jitter", "loss", "bins"], "vpn");
        let states = read_states(dc, &mut f, pos);
        let share = match f.optional("share") {
            Some((v, sp)) => {
                let s = dc.scalar(v, &sp, "a share like 30% or 0.3")?;
                match parse_loss(s) {
                    Ok(x) if draws => Some(Some(x)),
                    Ok(_) => {
                        let problem = Problem::InvalidValue {
                            expected: "`share` only with `draws:`".into(),
                            found: "a grid (every state is run)".into(),
                        };
                        dc.report(v.pos, &sp, problem, Some("add `draws: N` to the sweep to sample the share".into()));
                        None
                    }
                    Err(_) => {
                        dc.invalid(v, &sp, "a share like 30% or 0.3", None);
                        None
                    }
                }
            }
            None => Some(None),
        };
        let include = f.optional("include").map(|(v, _)| v.clone());
        let when_off = f.optional("when-off").and_then(|(v, wp)| {
            dc.map(v, &wp, "a map of the node's fields to set while its VPN is off")?;
            Some(v.clone())
        });
        let (states, share) = (states?, share?);
        if share.is_some() {
            let off = states.iter().any(|s| s.value == VpnState::Off);
            let on = states.iter().any(|s| s.value != VpnState::Off);
            if !(off && on) {
                let problem = Problem::InvalidValue {
                    expected: "`off` and at least one other state beside `share`".into(),
                    found: format!("{:?}", states.iter().map(|s| s.value.as_str()).collect::<Vec<_>>()),
                };
                dc.report(pos, p, problem, Some("e.g. `states: [off, on]`".into()));
                return None;
            }
        }
        Some(Param {
            name: format!("vpn {}", target.value),
            path: p.clone(),
            target,
            kind: ParamKind::Vpn { states, share, include, when_off },
        })
    };
    f.finish(dc);
    param
}

/// Reports keys that belong to another kind of parameter.
fn not_here(dc: &mut Decoder<'_>, f: &mut Fields<'_>, keys: &[&'static str], kind: &str) {
    for k in keys {
        if let Some((v, p)) = f.optional(k) {
            let problem = Problem::InvalidValue {
                expected: format!("a field of a `{kind}:` parameter"),
                found: format!("`{k}`"),
            };
            dc.report(f.key_pos(k), &p, problem, Some(format!("`{k}` belongs to another kind of parameter")));
            let _ = v;
        }
    }
}

fn read_presets(dc: &mut Decoder<'_>, f: &mut Fields<'_>, pos: Pos) -> Option<Vec<At<NatPreset>>> {
    let Some((v, p)) = f.optional("presets") else {
        // Every preset the topology format knows.
        let at = |x: NatPreset| At { value: x, pos, path: f.path.clone() };
        return Some(NatPreset::ALL.into_iter().map(at).collect());
    };
    let names: Vec<&str> = NatPreset::ALL.iter().map(|x| x.as_str()).collect();
    let expected = format!("a NAT preset: {}", names.join(", "));
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in dc.seq(v, &p, "a list of NAT presets").unwrap_or_default().iter().enumerate() {
        let ip = p.index(i);
        let Some(s) = dc.scalar(item, &ip, &expected) else {
            ok = false;
            continue;
        };
        match NatPreset::ALL.into_iter().find(|x| x.as_str() == s) {
            Some(x) => out.push(At { value: x, pos: item.pos, path: ip }),
            None => {
                let hint = crate::schema::suggest(s, &names).map(|w| format!("did you mean `{w}`?"));
                dc.invalid(item, &ip, &expected, hint);
                ok = false;
            }
        }
    }
    if out.is_empty() && ok {
        dc.invalid(v, &p, "at least one NAT preset", None);
        ok = false;
    }
    ok.then_some(out)
}

fn read_states(dc: &mut Decoder<'_>, f: &mut Fields<'_>, pos: Pos) -> Option<Vec<At<VpnState>>> {
    let Some((v, p)) = f.optional("states") else {
        let at = |x: VpnState| At { value: x, pos, path: f.path.clone() };
        return Some(vec![at(VpnState::Off), at(VpnState::On)]);
    };
    let expected = "a VPN state: off, on (as configured), full or split";
    let mut out: Vec<At<VpnState>> = Vec::new();
    let mut ok = true;
    for (i, item) in dc.seq(v, &p, "a list of VPN states").unwrap_or_default().iter().enumerate() {
        let ip = p.index(i);
        let Some(s) = dc.scalar(item, &ip, expected) else {
            ok = false;
            continue;
        };
        let state = match s {
            "off" => VpnState::Off,
            "on" => VpnState::On,
            "full" => VpnState::Full,
            "split" => VpnState::Split,
            _ => {
                let hint = crate::schema::suggest(s, &VpnState::WORDS).map(|w| format!("did you mean `{w}`?"));
                dc.invalid(item, &ip, expected, hint);
                ok = false;
                continue;
            }
        };
        if out.iter().any(|x| x.value == state) {
            dc.invalid(item, &ip, "each state once", None);
            ok = false;
            continue;
        }
        out.push(At { value: state, pos: item.pos, path: ip });
    }
    if out.is_empty() && ok {
        dc.invalid(v, &p, "at least one VPN state", None);
        ok = false;
    }
    ok.then_some(out)
}

/// A number in the field's unit: milliseconds for a duration, a fraction for loss.
fn quantity(dc: &mut Decoder<'_>, v: &Value, p: &Path, field: LinkField) -> Option<f64> {
    let (expected, parsed) = match field {
        LinkField::Latency | LinkField::Jitter => {
            let expected = "a duration like 20ms";
            let s = dc.scalar(v, p, expected)?;
            (expected, parse_duration(s).map(|d| d.as_millis_f64()).map_err(|e| e.to_string()))
        }
        LinkField::Loss => {
            let expected = "a loss like 1% or 0.01";
            let s = dc.scalar(v, p, expected)?;
            (expected, parse_loss(s).map_err(|e| e.to_string()))
        }
    };
    match parsed {
        Ok(x) => Some(x),
        Err(e) => {
            dc.invalid(v, p, expected, Some(e));
            None
        }
    }
}

fn read_domain(
    dc: &mut Decoder<'_>,
    v: &Value,
    p: &Path,
    field: LinkField,
    draws: bool,
    bins: usize,
) -> Option<Domain> {
    match &v.node {
        Node::Seq(items) => {
            if items.is_empty() {
                dc.invalid(v, p, "at least one value", None);
                return None;
            }
            Some(Domain::List(items.clone()))
        }
        Node::Map(_) => {
            let mut f = dc.fields(v, p, "a range `{from: .., to: .., step: ..}`", &["from", "to", "step"])?;
            let from = f.required(dc, "from").and_then(|(v, p)| quantity(dc, v, &p, field));
            let to = f.required(dc, "to").and_then(|(v, p)| quantity(dc, v, &p, field));
            let step = f.optional("step").map(|(v, p)| (quantity(dc, v, &p, field), v.pos, p));
            f.finish(dc);
            let (from, to) = (from?, to?);
            if to < from {
                let problem = Problem::InvalidValue {
                    expected: "`to` at least `from`".into(),
                    found: format!("a range from {} down to {}", show(field, from), show(field, to)),
                };
                dc.report(v.pos, p, problem, Some("swap `from` and `to`".into()));
                return None;
            }
            let step = match step {
                Some((Some(s), pos, sp)) if s <= 0.0 => {
                    let problem = Problem::InvalidValue { expected: "a step above zero".into(), found: show(field, s) };
                    dc.report(pos, &sp, problem, None);
                    return None;
                }
                Some((Some(s), pos, sp)) if (to - from) / s > MAX_STEPS as f64 => {
                    let problem = Problem::InvalidValue {
                        expected: format!("at most {MAX_STEPS} steps from `from` to `to`"),
                        found: format!("{:.0}", (to - from) / s),
                    };
                    dc.report(pos, &sp, problem, Some("use a larger step".into()));
                    return None;
                }
                Some((Some(s), _, _)) => Some(s),
                Some((None, _, _)) => return None,
                None if !draws && to > from => {
                    let problem = Problem::InvalidValue {
                        expected: "a `step` for a range on a grid".into(),
                        found: "none".into(),
                    };
                    dc.report(v.pos, p, problem, Some("add `step:`, or sample the range with `draws: N`".into()));
                    return None;
                }
                None => None,
            };
            Some(Domain::Range { from, to, step, bins, pos: v.pos })
        }
        _ => {
            dc.wrong_type(v, p, "a list of values or a range `{from: .., to: .., step: ..}`");
            None
        }
    }
}

/// A value of the field as the topology format writes it: `12.5ms`, `0.5%`.
pub(crate) fn show(field: LinkField, x: f64) -> String {
    match field {
        LinkField::Latency | LinkField::Jitter => format!("{}ms", trim(x)),
        LinkField::Loss => format!("{}%", trim(x * 100.0)),
    }
}

/// A number with at most three decimals and no trailing zeros.
fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
