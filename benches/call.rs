//! A whole call as a user runs it: sign-in, gathering, offer/answer, ICE checks, then 60
//! seconds of G.711 audio both ways over a path of ten links (`topologies/bench-10-hops.yaml`:
//! caller, nine routers, callee). Measures wall time per call; before measuring, one call is
//! timed by hand to print how many simulated packets per wall-clock second that is (every
//! datagram the engine originated: RTP, STUN, SIP), since criterion reports time only.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use icepath::SimDuration;
use icepath::Topology;
use icepath::scenario::{CallSpec, run_call};
use icepath::schema::load_topology;

fn topology() -> Topology {
    let file = "topologies/bench-10-hops.yaml";
    let text = include_str!("../topologies/bench-10-hops.yaml");
    load_topology(file, text).expect("the bench topology is valid").topology
}

fn spec(t: &Topology) -> CallSpec {
    let mut s = CallSpec::new(t.node_by_name("caller").unwrap(), t.node_by_name("callee").unwrap());
    s.media_duration = SimDuration::from_secs(60);
    s
}

fn call_60s(c: &mut Criterion) {
    let t = topology();
    let s = spec(&t);
    // One call by hand: its packets, for the rate.
    let began = Instant::now();
    let o = run_call(&t, &s).expect("the call runs");
    let wall = began.elapsed().as_secs_f64();
    let rtp: usize = o.media_paths.iter().map(|p| p.samples.len()).sum();
    let hops = o.media_paths.first().map_or(0, |p| p.nodes.len().saturating_sub(1));
    eprintln!(
        "call_60s_pcmu_10_hops: {rtp} RTP packets over {hops} links in {:.1} ms of wall time: {:.0} RTP packets/s, {:.0} packet-hops/s",
        wall * 1e3,
        rtp as f64 / wall,
        (rtp * hops) as f64 / wall
    );
    let mut g = c.benchmark_group("call");
    g.sample_size(10);
    g.bench_function("call_60s_pcmu_10_hops", |b| b.iter(|| black_box(run_call(&t, &s).expect("the call runs"))));
    g.finish();
}

criterion_group!(benches, call_60s);
criterion_main!(benches);
