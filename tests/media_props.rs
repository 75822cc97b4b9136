//! Issue 6's property: adding X to one link's latency adds exactly X to the one-way delay
//! (minimum and mean) of the media on every path that crosses that link — X for each time
//! it crosses it — and nothing to the paths that avoid it.
//!
//! The network is the bundled enterprise (home user, firewalls, Edge, internal user) with
//! every link made exact: no jitter, no loss, no bandwidth limit (so no queue in which one
//! stream could wait behind another). Delays are then sums of latencies, and a change in one
//! link can only show where the packets actually went. Which links a path crosses is read
//! from the route the call reports (`PathMedia.nodes`), not from the topology's routes.

use std::collections::BTreeMap;

use proptest::prelude::*;

use icepath::proto::ice::Profile;
use icepath::scenario::{CallOutcome, CallSpec, Direction, run_call};
use icepath::schema::load_topology;
use icepath::{SimDuration, Topology};

const EDGE: &str = "topologies/enterprise-edge.yaml";

/// The enterprise with exact links.
fn exact() -> Topology {
    let text = std::fs::read_to_string(EDGE).unwrap();
    let mut t = load_topology(EDGE, &text).unwrap().topology;
    for l in &mut t.links {
        l.props.jitter = None;
        l.props.loss = 0.0;
        l.props.bandwidth = None;
    }
    t
}

/// Home to the internal user under regular nomination, so that every pair that works is
/// kept and measured (host, server-reflexive, peer-reflexive and relayed paths).
fn call(t: &Topology) -> CallOutcome {
    let mut spec = CallSpec::new(t.node_by_name("home-pc").unwrap(), t.node_by_name("user-pc").unwrap());
    spec.profile = Profile::Rfc8445;
    spec.media_duration = SimDuration::from_millis(500);
    run_call(t, &spec).unwrap()
}

/// Per path and direction: (route, min delay, mean delay).
type Measured = BTreeMap<(String, bool), (Vec<String>, SimDuration, SimDuration)>;

fn measured(o: &CallOutcome) -> Measured {
    o.media_paths
        .iter()
        .map(|p| {
            let d = p.summary.delay.unwrap_or_else(|| panic!("nothing arrived on {}", p.path));
            ((p.path.clone(), p.direction == Direction::CallerToCallee), (p.nodes.clone(), d.min, d.mean))
        })
        .collect()
}

/// How many times a route crosses link `k`: consecutive nodes that both sit on it.
fn crossings(t: &Topology, route: &[String], k: usize) -> u64 {
    let on = |name: &str| {
        let n = t.node_by_name(name).unwrap();
        t.links[k].members.iter().any(|&i| t.iface(i).node == n)
    };
    route.windows(2).filter(|w| on(&w[0]) && on(&w[1])).count() as u64
}

fn baseline() -> &'static (Topology, Measured) {
    static B: std::sync::OnceLock<(Topology, Measured)> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        let t = exact();
        let m = measured(&call(&t));
        (t, m)
    })
}

#[test]
fn the_exact_network_has_paths_that_avoid_some_links() {
    // Otherwise the property below would only ever see "+X".
    let (t, m) = baseline();
    assert!(m.len() >= 4, "{m:?}");
    let avoided = (0..t.links.len())
        .any(|k| m.values().any(|(r, ..)| crossings(t, r, k) == 0) && m.values().any(|(r, ..)| crossings(t, r, k) > 0));
    assert!(avoided, "{m:?}");
    // Exact links: every packet of a stream takes the same time.
    assert!(m.values().all(|(_, min, mean)| min == mean), "{m:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn added_latency_shows_exactly_where_the_media_went(k in 0usize..64, extra_us in 1u64..40_000) {
        let (t, before) = baseline();
        let k = k % t.links.len();
        let extra = SimDuration::from_micros(extra_us);
        let mut slower = t.clone();
        slower.links[k].props.latency = slower.links[k].props.latency + extra;
        let after = measured(&call(&slower));
        prop_assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "the same paths work"
        );
        for (key, (route, min, mean)) in before {
            let (route2, min2, mean2) = &after[key];
            prop_assert_eq!(route, route2, "{:?}", key);
            let added = SimDuration::from_nanos(extra.as_nanos() * crossings(t, route, k));
            prop_assert_eq!(*min2, *min + added, "min on {:?} (link {})", key, &t.links[k].name);
            prop_assert_eq!(*mean2, *mean + added, "mean on {:?} (link {})", key, &t.links[k].name);
        }
    }
}
