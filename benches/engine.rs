//! Engine throughput: events per second forwarding packets, beside the bare event loop.
//!
//! - `bare_loop`: the physical floor — a binary-heap pop, a hash-map route lookup and a
//!   push per event, nothing else. The engine's target is half of this rate.
//! - `chain_5_hops`: host — 4 routers — host, 5 links, every packet 6 events.
//! - `grid_1024_routers`: a 32×32 router grid with XY routing; packets between scattered
//!   hosts cross ~22 links each.
//!
//! Throughput is reported in events (criterion's "elements").

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hint::black_box;
use std::net::SocketAddrV4;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use icepath::topology::LinkProps;
use icepath::topology::generate::{chain, grid, grid_host};
use icepath::trace::TraceLevel;
use icepath::wire::Datagram;
use icepath::{Engine, Limits, SimDuration, SimRng, SimTime, Topology};

const PACKETS: u64 = 20_000;

fn props() -> LinkProps {
    LinkProps { latency: SimDuration::from_micros(500), bandwidth: Some(1_000_000_000), ..LinkProps::default() }
}

/// Sends `PACKETS` datagrams 10 us apart between the given (node, src, dst) triples in turn,
/// advancing the run as it goes (as a traffic source would), then runs to idle; returns the
/// number of events processed.
fn run(topo: &Topology, flows: &[(icepath::topology::NodeId, SocketAddrV4, SocketAddrV4)]) -> u64 {
    let mut e = Engine::new(topo, SimRng::new(1), Limits::default(), TraceLevel::Counters);
    for i in 0..PACKETS {
        let (node, src, dst) = flows[i as usize % flows.len()];
        let at = SimTime::from_nanos(i * 10_000);
        e.run_until(at);
        e.send_at(at, node, Datagram::udp(src, dst, vec![0; 172]));
    }
    let out = e.run();
    assert_eq!(e.trace().counters().delivered, PACKETS, "bench packets must all arrive");
    out.events
}

fn bare_loop(c: &mut Criterion) {
    // 1024 "routes" in a std HashMap, a heap of (time, seq, payload) entries.
    let routes: HashMap<u32, u32> = (0..1024u32).map(|i| (i << 8, i % 7)).collect();
    let events: u64 = 1_000_000;
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(events));
    g.bench_function("bare_loop", |b| {
        b.iter(|| {
            let mut heap = BinaryHeap::new();
            for i in 0..1024u64 {
                heap.push(Reverse((i, i, (i as u32) << 8)));
            }
            let mut seq = 1024u64;
            for _ in 0..events {
                let Reverse((t, _, key)) = heap.pop().expect("never empty");
                let hop = routes.get(&key).copied().unwrap_or(0);
                seq += 1;
                heap.push(Reverse((t + 500 + hop as u64, seq, ((key >> 8).wrapping_add(hop + 1) % 1024) << 8)));
            }
            black_box(heap.len())
        })
    });
    g.finish();
}

fn chain_5(c: &mut Criterion) {
    let topo = chain(4, props());
    let a = topo.node_by_name("a").unwrap();
    let flows = [(a, "10.0.0.1:5000".parse().unwrap(), "10.0.4.2:5000".parse().unwrap())];
    let events = run(&topo, &flows);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(events));
    g.bench_function("chain_5_hops", |b| b.iter(|| black_box(run(&topo, &flows))));
    g.finish();
}

fn grid_1024(c: &mut Criterion) {
    let topo = grid(32, props());
    // Scattered pairs: cell (x, y) talks to (31 - y, (x * 7 + 3) % 32).
    let flows: Vec<_> = (0..64u8)
        .map(|i| {
            let (x, y) = (i % 32, (i * 5) % 32);
            let (x2, y2) = (31 - y, (x * 7 + 3) % 32);
            let src = SocketAddrV4::new([10, x, y, 10].into(), 5000);
            let dst = SocketAddrV4::new([10, x2, y2, 10].into(), 5000);
            (grid_host(&topo, x, y), src, dst)
        })
        .collect();
    let events = run(&topo, &flows);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(events));
    g.sample_size(20);
    g.bench_function("grid_1024_routers", |b| b.iter(|| black_box(run(&topo, &flows))));
    g.finish();
}

criterion_group!(benches, bare_loop, chain_5, grid_1024);
criterion_main!(benches);
