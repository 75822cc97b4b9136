use proptest::prelude::*;

use super::file::{Domain, ParamKind, VpnState, read_sweep};
use super::*;
use crate::schema::tree::parse;

const TOPOLOGY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/lync-remote-users.yaml");

/// Reads a `sweep:` section on its own; `Err` holds the rendered problems.
fn section(yaml: &str) -> Result<SweepDef, String> {
    let mut doc = parse(yaml).expect("test YAML parses");
    doc.set_src(1);
    let mut dc = Decoder::with_overlay("s.yaml", "s.yaml");
    let def = read_sweep(&mut dc, &doc, &Path::root().field("sweep"));
    if dc.has_errors() {
        return Err(dc.diagnostics.iter().map(|d| format!("{d}\n")).collect());
    }
    def.ok_or_else(|| "no section".into())
}

/// Writes a scenario with this sweep section to a temporary file and loads it.
fn load_sweep(name: &str, sweep: &str) -> Result<Sweep, String> {
    let dir = std::env::temp_dir().join(format!("icepath-sweep-unit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.yaml");
    let text = format!(
        "scenario: T\ntopology: {TOPOLOGY}\nseed: 3\ncalls:\n  - from: home-a\n    to: home-b\n    duration: 0s\n    expect: {{result: connected}}\n{sweep}"
    );
    std::fs::write(&file, text).unwrap();
    load(&file).map_err(|e| e.render())
}

#[test]
fn a_grid_counts_like_an_odometer() {
    let def = section(
        "parameters:\n  - {nat: a, presets: [full-cone, symmetric]}\n  - {link: l, latency: [10ms, 20ms, 30ms]}\n",
    )
    .unwrap();
    let pts = plan::points(&def, 1);
    let labels: Vec<Vec<String>> = pts.iter().map(|p| p.choices.iter().map(|c| c.label.clone()).collect()).collect();
    assert_eq!(labels.len(), 6);
    assert_eq!(labels[0], ["full-cone", "10ms"]);
    assert_eq!(labels[1], ["full-cone", "20ms"]);
    assert_eq!(labels[3], ["symmetric", "10ms"]);
}

#[test]
fn ranges_expand_on_a_grid_and_bin_when_drawn() {
    let def = section("parameters:\n  - {link: l, loss: {from: 0%, to: 2%, step: 0.5%}}\n").unwrap();
    let labels: Vec<String> = plan::points(&def, 1).iter().map(|p| p.choices[0].label.clone()).collect();
    assert_eq!(labels, ["0%", "0.5%", "1%", "1.5%", "2%"]);

    let def = section("draws: 50\nparameters:\n  - {link: l, jitter: {from: 0ms, to: 10ms}, bins: 2}\n").unwrap();
    let pts = plan::points(&def, 7);
    assert_eq!(pts.len(), 50);
    assert_eq!(plan::labels(&def.params[0], true), ["0ms..5ms", "5ms..10ms"]);
    for p in &pts {
        let c = &p.choices[0];
        let x: f64 = c.exact.trim_end_matches("ms").parse().unwrap();
        assert!((0.0..=10.0).contains(&x), "{}", c.exact);
        assert_eq!(c.label, if x < 5.0 { "0ms..5ms" } else { "5ms..10ms" }, "{}", c.exact);
    }
    // The same seed draws the same points; another seed draws others.
    let again: Vec<String> = plan::points(&def, 7).iter().map(|p| p.choices[0].exact.clone()).collect();
    let other: Vec<String> = plan::points(&def, 8).iter().map(|p| p.choices[0].exact.clone()).collect();
    let first: Vec<String> = pts.iter().map(|p| p.choices[0].exact.clone()).collect();
    assert_eq!(first, again);
    assert_ne!(first, other);
}

#[test]
fn a_vpn_share_is_the_chance_it_is_up() {
    let def = section("draws: 2000\nparameters:\n  - {vpn: laptop, states: [off, full, split], share: 25%}\n").unwrap();
    let ParamKind::Vpn { share, .. } = &def.params[0].kind else { panic!() };
    assert_eq!(*share, Some(0.25));
    let pts = plan::points(&def, 1);
    let up = pts.iter().filter(|p| p.choices[0].label != VpnState::Off.as_str()).count();
    assert!((400..600).contains(&up), "{up} of 2000 up");
    assert!(pts.iter().any(|p| p.choices[0].label == "split"));
}

#[test]
fn section_mistakes_are_explained_with_their_place() {
    let e = section("parameters:\n  - {nat: a, presets: [symetric]}\n").unwrap_err();
    assert!(e.contains("s.yaml:2:") && e.contains("did you mean `symmetric`"), "{e}");
    let e = section("parameter:\n  - {nat: a}\n").unwrap_err();
    assert!(e.contains("did you mean `parameters`"), "{e}");
    let e = section("parameters:\n  - {link: l, latency: {from: 10ms, to: 50ms}}\n").unwrap_err();
    assert!(e.contains("a `step` for a range on a grid"), "{e}");
    let e = section("parameters:\n  - {link: l, latency: {from: 50ms, to: 10ms, step: 5ms}}\n").unwrap_err();
    assert!(e.contains("swap `from` and `to`"), "{e}");
    let e = section("parameters:\n  - {vpn: x, share: 30%}\n").unwrap_err();
    assert!(e.contains("`share` only with `draws:`"), "{e}");
    let e = section("parameters:\n  - {nat: a, latency: [1ms]}\n").unwrap_err();
    assert!(e.contains("belongs to another kind of parameter"), "{e}");
    let e = section("parameters:\n  - {link: l, latency: [1ms], lost: [1%]}\n").unwrap_err();
    assert!(e.contains("did you mean `loss`"), "{e}");
    let e = section("parameters:\n  - {link: l}\n").unwrap_err();
    assert!(e.contains("exactly one of `latency`, `jitter`, `loss`"), "{e}");
    let Domain::List(_) = &section("parameters:\n  - {link: l, jitter: [{mean: 4ms, distribution: pareto}]}\n")
        .map(|d| d.params[0].kind.clone())
        .map(|k| match k {
            ParamKind::Link { domain, .. } => domain,
            _ => panic!(),
        })
        .unwrap()
    else {
        panic!()
    };
}

#[test]
fn names_and_values_are_checked_against_the_topology() {
    let e = load_sweep("names", "sweep:\n  parameters:\n    - nat: home-a-rtrr\n").unwrap_err();
    assert!(e.contains("s.yaml:11:") && e.contains("did you mean \"home-a-rtr\""), "{e}");
    // A value the topology refuses, reported at the value in the scenario file.
    let e =
        load_sweep("values", "sweep:\n  parameters:\n    - link: access-home-a\n      latency: [10ms, 10 parsecs]\n")
            .unwrap_err();
    assert!(e.contains("s.yaml:12:") && e.contains("latency"), "{e}");
    // A NAT preset on a node without a NAT.
    let e = load_sweep("nonat", "sweep:\n  parameters:\n    - nat: home-a\n").unwrap_err();
    assert!(e.contains("to have a `nat:` block"), "{e}");
    let e = load_sweep("missing", "").unwrap_err();
    assert!(e.contains("missing field `sweep`") || e.contains("sweep"), "{e}");
}

#[test]
fn a_small_sweep_runs_and_is_the_same_on_any_pool() {
    let s = load_sweep(
        "run",
        "sweep:\n  parameters:\n    - nat: home-b-rtr\n      presets: [restricted-cone, symmetric]\n",
    )
    .unwrap();
    let opts = SweepOptions { seeds: Some(1), partition: None };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| run(&s, &opts, &|| ()));
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| run(&s, &opts, &|| ()));
    assert_eq!(one.to_json(), two.to_json());
    assert_eq!(one.runs.len(), 2);
    assert!(one.runs.iter().all(|r| r.connected), "{:?}", one.runs);
    // Endpoint-independent on both sides: reflexive; the symmetric router forces another pair.
    assert_eq!(one.runs[0].pair, "srflx udp -> srflx udp");
    assert_ne!(one.runs[1].pair, "srflx udp -> srflx udp");
    let back: SweepReport = serde_json::from_str(&one.to_json()).unwrap();
    assert_eq!(back, one);
    assert!(one.to_text().contains("nat home-b-rtr"));
}

fn arb_rows() -> impl Strategy<Value = Vec<RunRow>> {
    let pairs =
        prop::sample::select(vec!["host udp -> host udp", "srflx udp -> srflx udp", "relay udp -> srflx udp", NO_PAIR]);
    let values = prop::sample::select(vec!["a", "b", "c"]);
    prop::collection::vec((pairs, values, prop::option::of(1.0f64..4.5), prop::option::of(0.0f64..500.0)), 1..40)
        .prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (pair, value, mos, ttc))| RunRow {
                    run: i,
                    point: i,
                    replica: 0,
                    seed: 1,
                    call: "c".into(),
                    values: vec![value.into()],
                    exact: Vec::new(),
                    connected: pair != NO_PAIR,
                    pair: pair.into(),
                    time_to_connect_ms: ttc,
                    delay_ms: mos.map(|m| m * 10.0),
                    jitter_ms: mos,
                    mos,
                    expectations: vec![pair != NO_PAIR],
                    error: None,
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Shares sum to one in every group, runs split exactly across a parameter's values,
    /// and the aggregate does not depend on the order the runs finished in.
    #[test]
    fn aggregates_add_up_and_ignore_finishing_order(rows in arb_rows(), shuffle in any::<u64>()) {
        let params = [ParamHeader { name: "p".into(), values: vec!["a".into(), "b".into(), "c".into()] }];
        let calls = ["c".to_string()];
        let expects = [ExpectHeader { call: "c".into(), what: "connected".into() }];
        let s = aggregate(&params, &calls, &expects, &rows);
        let groups = std::iter::once(&s.overall).chain(s.by_parameter[0].values.iter().map(|v| &v.group));
        for g in groups {
            if g.runs > 0 {
                let total: f64 = g.pair_types.values().map(|x| x.share).sum();
                prop_assert!((total - 1.0).abs() < 1e-5, "{total}");
                prop_assert_eq!(g.pair_types.values().map(|x| x.count).sum::<usize>(), g.runs);
            }
        }
        prop_assert_eq!(s.by_parameter[0].values.iter().map(|v| v.group.runs).sum::<usize>(), rows.len());
        prop_assert_eq!(s.expectations[0].held, s.overall.connected);
        // Any permutation (Fisher-Yates driven by a seeded stream) aggregates the same.
        let mut shuffled = rows.clone();
        let mut r = crate::rng::SimRng::new(shuffle).fork("shuffle");
        for i in (1..shuffled.len()).rev() {
            let j = (r.next_u64() % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(aggregate(&params, &calls, &expects, &shuffled), s);
    }
}
