//! Same topology and seed give byte-identical output; the engine's invariants hold for any seed.

use proptest::prelude::*;

use icepath::report::PathReport;
use icepath::schema::load_topology;
use icepath::trace::{Record, TraceLevel};
use icepath::wire::Datagram;
use icepath::{Engine, Limits, SimDuration, SimRng, SimTime, Topology};

fn topology() -> Topology {
    let file = "topologies/branch-office.yaml";
    let text = std::fs::read_to_string(file).expect("bundled topology");
    load_topology(file, &text).expect("bundled topology is valid").topology
}

/// Traces `count` packets branch-pc -> hq-server across the lossy, jittery WAN as JSON.
fn trace_json(topo: &Topology, seed: u64, count: u64) -> (String, Vec<Record>) {
    let from = topo.node_by_name("branch-pc").unwrap();
    let mut e = Engine::new(topo, SimRng::new(seed), Limits::default(), TraceLevel::Hops);
    for i in 0..count {
        let d = Datagram::udp("10.20.1.50:50000".parse().unwrap(), "10.0.1.10:3478".parse().unwrap(), vec![7; 160]);
        e.send_at(SimTime::ZERO + SimDuration::from_micros(i * 500), from, d);
    }
    let run = e.run();
    (PathReport::new(topo, seed, e.trace(), &run, icepath::trace::PacketId(1)).to_json(), e.trace().records().to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn same_seed_same_bytes(seed in any::<u64>()) {
        let topo = topology();
        prop_assert_eq!(trace_json(&topo, seed, 50).0, trace_json(&topo, seed, 50).0);
    }

    /// Every packet ends exactly once (delivered or dropped) and records never go back in time.
    #[test]
    fn every_packet_ends_once_in_time_order(seed in any::<u64>(), count in 1u64..200) {
        let topo = topology();
        let (_, records) = trace_json(&topo, seed, count);
        let mut ends = vec![0u32; count as usize];
        let mut last = SimTime::ZERO;
        for r in &records {
            prop_assert!(r.at() >= last);
            last = r.at();
            if matches!(r, Record::Delivered { .. } | Record::Dropped { .. }) {
                ends[(r.packet().unwrap().0 - 1) as usize] += 1;
            }
        }
        prop_assert!(ends.iter().all(|&n| n == 1), "{:?}", ends);
    }
}

/// Adding latency to one link adds exactly that to every packet's one-way delay when the
/// link has no jitter and no loss (the LAN links of the branch office).
#[test]
fn link_latency_adds_exactly() {
    let base = topology();
    let mut slower = base.clone();
    let lan = slower.links.iter().position(|l| l.name == "hq-lan").unwrap();
    slower.links[lan].props.latency = slower.links[lan].props.latency + SimDuration::from_millis(7);
    let delays = |topo: &Topology| -> Vec<u64> {
        let (_, records) = trace_json(topo, 3, 30);
        records
            .iter()
            .filter_map(|r| match r {
                Record::Delivered { at, .. } => Some(at.as_nanos()),
                _ => None,
            })
            .collect()
    };
    let (a, b) = (delays(&base), delays(&slower));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(y - x, 7_000_000);
    }
}
