//! From a `sweep:` section to points: the value each parameter takes at each point (a grid
//! of every combination, or random draws), each value turned into the scenario overrides
//! that make it so. The overrides go through the same patch code as a scenario's own, so a
//! value the topology refuses is reported at the parameter's line in the scenario file.

use super::file::{Domain, LinkField, Param, ParamKind, SweepDef, VpnState, show, steps};
use crate::rng::SimRng;
use crate::schema::decode::{At, Path};
use crate::schema::tree::{Key, Node, Pos, Value};
use crate::suite::file::{Op, Override, Target};

/// One value of one parameter: how reports name it and the edits that set it.
#[derive(Clone, Debug)]
pub(crate) struct Choice {
    /// The breakdown bucket: the value as written, or for a drawn number its bin (`10ms..20ms`).
    pub label: String,
    /// The exact value (the same as `label` except for numbers drawn from a range).
    pub exact: String,
    pub overrides: Vec<(Path, Override)>,
}

/// One point of the sweep: a choice per parameter, in the section's order.
#[derive(Clone, Debug)]
pub(crate) struct Point {
    pub choices: Vec<Choice>,
}

impl Point {
    pub fn overrides(&self) -> Vec<(Path, Override)> {
        self.choices.iter().flat_map(|c| c.overrides.iter().cloned()).collect()
    }
}

/// The breakdown buckets of a parameter, in the order reports list them.
pub(crate) fn labels(p: &Param, draws: bool) -> Vec<String> {
    match (&p.kind, draws) {
        (ParamKind::Link { field, domain: Domain::Range { from, to, bins, .. } }, true) => {
            (0..bin_count(*from, *to, *bins)).map(|b| bin_label(*field, *from, *to, *bins, b)).collect()
        }
        _ => grid_choices(p).into_iter().map(|c| c.label).collect(),
    }
}

/// Every point of the sweep, in run order: a grid counts like an odometer (the last
/// parameter turns fastest); draw `i` takes each parameter's value from a random stream
/// forked from the scenario's seed by the label `sweep/draw/<i>/<parameter name>`, so
/// adding a parameter leaves the others' draws unchanged.
pub(crate) fn points(def: &SweepDef, seed: u64) -> Vec<Point> {
    match def.draws {
        None => {
            let grids: Vec<Vec<Choice>> = def.params.iter().map(grid_choices).collect();
            let total: usize = grids.iter().map(Vec::len).product();
            (0..total)
                .map(|mut i| {
                    let mut choices = vec![None; grids.len()];
                    for (k, g) in grids.iter().enumerate().rev() {
                        choices[k] = Some(g[i % g.len()].clone());
                        i /= g.len();
                    }
                    Point { choices: choices.into_iter().map(|c| c.expect("every slot filled above")).collect() }
                })
                .collect()
        }
        Some(n) => {
            let rng = SimRng::new(seed);
            (0..n)
                .map(|i| Point {
                    choices: def.params.iter().map(|p| draw(p, &rng, &format!("sweep/draw/{i}/{}", p.name))).collect(),
                })
                .collect()
        }
    }
}

/// The values a parameter takes on a grid (and the list a draw picks from).
pub(crate) fn grid_choices(p: &Param) -> Vec<Choice> {
    match &p.kind {
        ParamKind::Nat(presets) => presets.iter().map(|x| nat_choice(p, x.value.as_str(), x.pos)).collect(),
        ParamKind::Link { field, domain: Domain::List(values) } => {
            values.iter().map(|v| link_choice(p, *field, v.clone(), flow(v), None)).collect()
        }
        ParamKind::Link { field, domain: Domain::Range { from, to, step, pos, .. } } => {
            let xs = match step {
                Some(s) => steps(*from, *to, *s),
                None => vec![*from],
            };
            xs.into_iter()
                .map(|x| link_choice(p, *field, scalar(&show(*field, x), *pos), show(*field, x), None))
                .collect()
        }
        ParamKind::Vpn { states, .. } => states.iter().map(|s| vpn_choice(p, s)).collect(),
    }
}

/// Draws one value of `p`.
fn draw(p: &Param, rng: &SimRng, label: &str) -> Choice {
    let mut r = rng.fork(label);
    let pick = |n: usize, u: f64| ((u * n as f64) as usize).min(n - 1);
    match &p.kind {
        ParamKind::Link { field, domain: Domain::Range { from, to, step, bins, pos } } => {
            let mut x = from + r.unit() * (to - from);
            if let Some(s) = step {
                x = (from + ((x - from) / s).round() * s).min(*to);
            }
            // Whole microseconds, or thousandths of a percent: what the text can carry.
            x = match field {
                LinkField::Loss => (x * 1e5).round() / 1e5,
                _ => (x * 1e3).round() / 1e3,
            };
            let n = bin_count(*from, *to, *bins);
            let b = if to > from { (((x - from) / (to - from)) * n as f64) as usize } else { 0 };
            let label = bin_label(*field, *from, *to, *bins, b.min(n - 1));
            link_choice(p, *field, scalar(&show(*field, x), *pos), label, Some(show(*field, x)))
        }
        ParamKind::Vpn { states, share: Some(share), .. } => {
            let up = r.chance(*share);
            let on: Vec<&At<VpnState>> = states.iter().filter(|s| s.value != VpnState::Off).collect();
            let off = states.iter().find(|s| s.value == VpnState::Off).expect("checked: `share` comes with `off`");
            if up { vpn_choice(p, on[pick(on.len(), r.unit())]) } else { vpn_choice(p, off) }
        }
        _ => {
            let all = grid_choices(p);
            all[pick(all.len(), r.unit())].clone()
        }
    }
}

fn bin_count(from: f64, to: f64, bins: usize) -> usize {
    if to > from { bins } else { 1 }
}

fn bin_label(field: LinkField, from: f64, to: f64, bins: usize, b: usize) -> String {
    if to <= from {
        return show(field, from);
    }
    let edge = |k: usize| from + (to - from) * k as f64 / bins as f64;
    format!("{}..{}", show(field, edge(b)), show(field, edge(b + 1)))
}

fn scalar(text: &str, pos: Pos) -> Value {
    Value { node: Node::Scalar(text.to_string()), pos }
}

fn key(name: &str, pos: Pos) -> Key {
    Key { name: name.to_string(), pos }
}

fn null(pos: Pos) -> Value {
    Value { node: Node::Null, pos }
}

/// An override of `p`'s target.
fn edit(p: &Param, node: bool, op: Op, pos: Pos) -> (Path, Override) {
    let target = if node { Target::Node(p.target.clone()) } else { Target::Link(p.target.clone()) };
    (p.path.clone(), Override { target, op, at: null(pos) })
}

fn set_in(p: &Param, keys: &[&str], v: Value, pos: Pos) -> (Path, Override) {
    edit(p, true, Op::SetIn(keys.iter().map(|k| key(k, pos)).collect(), v), pos)
}

/// The preset replaces the NAT's behaviour: explicit mapping, filtering and allocation
/// would override it, so they go.
fn nat_choice(p: &Param, preset: &str, pos: Pos) -> Choice {
    let mut overrides = vec![set_in(p, &["nat", "preset"], scalar(preset, pos), pos)];
    for k in ["mapping", "filtering", "port-allocation"] {
        overrides.push(set_in(p, &["nat", k], null(pos), pos));
    }
    Choice { label: preset.to_string(), exact: preset.to_string(), overrides }
}

fn link_choice(p: &Param, field: LinkField, v: Value, label: String, exact: Option<String>) -> Choice {
    let pos = v.pos;
    let o = edit(p, false, Op::Set(vec![(key(field.key(), pos), v)]), pos);
    Choice { exact: exact.unwrap_or_else(|| label.clone()), label, overrides: vec![o] }
}

fn vpn_choice(p: &Param, s: &At<VpnState>) -> Choice {
    let ParamKind::Vpn { include, when_off, .. } = &p.kind else { unreachable!("called for VPN parameters") };
    let pos = s.pos;
    let overrides = match s.value {
        VpnState::On => Vec::new(),
        VpnState::Off => {
            let mut fields = vec![(key("vpn", pos), null(pos))];
            if let Some(Value { node: Node::Map(entries), .. }) = when_off {
                fields.extend(entries.iter().cloned());
            }
            vec![edit(p, true, Op::Set(fields), pos)]
        }
        VpnState::Full => vec![
            set_in(p, &["vpn", "mode"], scalar("full", pos), pos),
            set_in(p, &["vpn", "include"], null(pos), pos),
            set_in(p, &["vpn", "exclude"], null(pos), pos),
        ],
        VpnState::Split => {
            let mut v = vec![set_in(p, &["vpn", "mode"], scalar("split", pos), pos)];
            if let Some(inc) = include {
                v.push(set_in(p, &["vpn", "include"], inc.clone(), pos));
            }
            v
        }
    };
    let label = s.value.as_str().to_string();
    Choice { exact: label.clone(), label, overrides }
}

/// A value written on one line, YAML flow style: `{mean: 4ms, distribution: pareto}`.
fn flow(v: &Value) -> String {
    match &v.node {
        Node::Null => "null".into(),
        Node::Scalar(s) => s.clone(),
        Node::Seq(items) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Node::Map(entries) => {
            format!(
                "{{{}}}",
                entries.iter().map(|(k, v)| format!("{}: {}", k.name, flow(v))).collect::<Vec<_>>().join(", ")
            )
        }
    }
}
