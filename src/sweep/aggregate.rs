//! What a sweep's runs add up to: success rate, the share of each winning pair type, and
//! the spread (min, p50, p95, max, mean) of time to connect, one-way delay, jitter and MOS;
//! overall, per value of each parameter, and how often each expectation held.
//!
//! Aggregation is a pure function of the runs, sorted by run index first: the result is the
//! same whatever order the runs finished in and however many threads ran them, and partial
//! result files (`--partition`) merge into exactly what one machine would have written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The pair type of a call that selected no pair.
pub const NO_PAIR: &str = "none";

/// One call of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    /// The run's index in the whole sweep: `point × seeds + replica`.
    pub run: usize,
    pub point: usize,
    pub replica: u32,
    pub seed: u64,
    pub call: String,
    /// Per parameter, the bucket the point's value falls in (see `SweepHeader::parameters`).
    pub values: Vec<String>,
    /// Per parameter, the exact value, when one was drawn from a range (else empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exact: Vec<String>,
    pub connected: bool,
    /// The selected pair's candidate types, as expectations name them
    /// (`srflx udp -> relay udp`), or `none`.
    pub pair: String,
    pub time_to_connect_ms: Option<f64>,
    /// Of the selected path, caller to callee.
    pub delay_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub mos: Option<f64>,
    /// Whether each of the call's expectations held, in the order the file lists them.
    pub expectations: Vec<bool>,
    /// Why the run could not be simulated (a combination of values the topology refuses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The spread of one quantity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    pub count: usize,
    pub min: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    pub mean: f64,
}

impl Dist {
    /// Nearest-rank percentiles; the mean is summed in the order given. `None` when empty.
    pub fn of(values: &[f64]) -> Option<Dist> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let rank = |pct: usize| v[(pct * n).div_ceil(100).clamp(1, n) - 1];
        Some(Dist {
            count: n,
            min: v[0],
            p50: rank(50),
            p95: rank(95),
            max: v[n - 1],
            mean: round(values.iter().sum::<f64>() / n as f64),
        })
    }
}

/// A count and its share of the group's runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub count: usize,
    pub share: f64,
}

/// Aggregates of a set of runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub runs: usize,
    pub connected: usize,
    pub success_rate: f64,
    /// Every winning pair type (and `none`) with its share of the runs.
    pub pair_types: BTreeMap<String, Share>,
    pub time_to_connect_ms: Option<Dist>,
    pub delay_ms: Option<Dist>,
    pub jitter_ms: Option<Dist>,
    pub mos: Option<Dist>,
}

impl Group {
    fn of(rows: &[&RunRow]) -> Group {
        let n = rows.len();
        let connected = rows.iter().filter(|r| r.connected).count();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for r in rows {
            *counts.entry(r.pair.clone()).or_default() += 1;
        }
        let col = |f: fn(&RunRow) -> Option<f64>| Dist::of(&rows.iter().filter_map(|r| f(r)).collect::<Vec<_>>());
        Group {
            runs: n,
            connected,
            success_rate: ratio(connected, n),
            pair_types: counts.into_iter().map(|(k, c)| (k, Share { count: c, share: ratio(c, n) })).collect(),
            time_to_connect_ms: col(|r| r.time_to_connect_ms),
            delay_ms: col(|r| r.delay_ms),
            jitter_ms: col(|r| r.jitter_ms),
            mos: col(|r| r.mos),
        }
    }
}

/// One value of a parameter and the runs at it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueGroup {
    pub value: String,
    #[serde(flatten)]
    pub group: Group,
}

/// A parameter's breakdown, its values in the order the sweep lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub parameter: String,
    pub values: Vec<ValueGroup>,
}

/// How often one expectation held.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectationRate {
    pub call: String,
    pub what: String,
    pub held: usize,
    pub runs: usize,
    pub share: f64,
}

/// A parameter as the report lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamHeader {
    pub name: String,
    /// Its buckets, in order.
    pub values: Vec<String>,
}

/// An expectation as the report lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectHeader {
    pub call: String,
    pub what: String,
}

/// Everything aggregated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub overall: Group,
    pub by_parameter: Vec<Breakdown>,
    pub expectations: Vec<ExpectationRate>,
}

/// Aggregates `rows` (in any order) for a sweep with these parameters, calls and
/// expectations. With several calls, `call` is broken down like a parameter.
pub fn aggregate(params: &[ParamHeader], calls: &[String], expects: &[ExpectHeader], rows: &[RunRow]) -> Summary {
    let mut sorted: Vec<&RunRow> = rows.iter().collect();
    let call_index = |r: &RunRow| calls.iter().position(|c| *c == r.call).unwrap_or(usize::MAX);
    sorted.sort_by_key(|r| (r.run, call_index(r)));
    let mut by_parameter: Vec<Breakdown> = params
        .iter()
        .enumerate()
        .map(|(k, p)| Breakdown {
            parameter: p.name.clone(),
            values: p
                .values
                .iter()
                .map(|v| {
                    let at: Vec<&RunRow> =
                        sorted.iter().copied().filter(|r| r.values.get(k).is_some_and(|x| x == v)).collect();
                    ValueGroup { value: v.clone(), group: Group::of(&at) }
                })
                .collect(),
        })
        .collect();
    if calls.len() > 1 {
        by_parameter.push(Breakdown {
            parameter: "call".into(),
            values: calls
                .iter()
                .map(|c| {
                    let at: Vec<&RunRow> = sorted.iter().copied().filter(|r| r.call == *c).collect();
                    ValueGroup { value: c.clone(), group: Group::of(&at) }
                })
                .collect(),
        });
    }
    let expectations = calls
        .iter()
        .flat_map(|c| {
            let mine: Vec<&ExpectHeader> = expects.iter().filter(|e| e.call == *c).collect();
            let at: Vec<&RunRow> = sorted.iter().copied().filter(|r| r.call == *c && r.error.is_none()).collect();
            mine.into_iter().enumerate().map(move |(i, e)| {
                let held = at.iter().filter(|r| r.expectations.get(i).copied().unwrap_or(false)).count();
                ExpectationRate {
                    call: e.call.clone(),
                    what: e.what.clone(),
                    held,
                    runs: at.len(),
                    share: ratio(held, at.len()),
                }
            })
        })
        .collect();
    Summary { overall: Group::of(&sorted), by_parameter, expectations }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { round(a as f64 / b as f64) }
}

/// Six significant decimals: enough for any share or millisecond, and the same text on
/// every machine.
fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(run: usize, pair: &str, mos: Option<f64>, value: &str) -> RunRow {
        RunRow {
            run,
            point: run,
            replica: 0,
            seed: 1,
            call: "c".into(),
            values: vec![value.into()],
            exact: Vec::new(),
            connected: pair != NO_PAIR,
            pair: pair.into(),
            time_to_connect_ms: Some(100.0 + run as f64),
            delay_ms: mos.map(|_| 20.0),
            jitter_ms: mos.map(|_| 1.0),
            mos,
            expectations: vec![pair.starts_with("srflx")],
            error: None,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = Dist::of(&(1..=100).map(f64::from).collect::<Vec<_>>()).unwrap();
        assert_eq!((d.min, d.p50, d.p95, d.max, d.mean), (1.0, 50.0, 95.0, 100.0, 50.5));
        let one = Dist::of(&[3.0]).unwrap();
        assert_eq!((one.p50, one.p95), (3.0, 3.0));
        assert!(Dist::of(&[]).is_none());
    }

    #[test]
    fn groups_split_by_value_and_count_expectations() {
        let params = [ParamHeader { name: "nat x".into(), values: vec!["full-cone".into(), "symmetric".into()] }];
        let calls = ["c".to_string()];
        let expects = [ExpectHeader { call: "c".into(), what: "selected srflx".into() }];
        let rows = [
            row(0, "srflx udp -> srflx udp", Some(4.4), "full-cone"),
            row(1, "relay udp -> srflx udp", Some(4.2), "symmetric"),
            row(2, NO_PAIR, None, "symmetric"),
        ];
        let s = aggregate(&params, &calls, &expects, &rows);
        assert_eq!(s.overall.runs, 3);
        assert_eq!(s.overall.connected, 2);
        assert_eq!(s.overall.pair_types[NO_PAIR].count, 1);
        let sym = &s.by_parameter[0].values[1];
        assert_eq!((sym.value.as_str(), sym.group.runs, sym.group.connected), ("symmetric", 2, 1));
        assert_eq!(s.expectations[0].held, 1);
        assert_eq!(s.overall.mos.as_ref().unwrap().count, 2);
    }
}
