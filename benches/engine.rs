//! Engine throughput: events per second forwarding packets, beside the bare event loop.
//!
//! - `bare_loop`: the physical floor — a binary-heap pop, a hash-map route lookup and a
//!   push per event, nothing else. The engine's target is half of this rate.
//! - `chain_5_hops`: host — 4 routers — host, 5 links, every packet 6 events.
//! - `in_flight/*`: the same forwarding with 1,000 and with 1,000,000 packets in flight at
//!   once, beside two bare loops holding as many pending events: one on std's binary heap,
//!   one on the engine's own radix queue. The engine's target is half of the faster one.
//! - `grid_1024_routers`: a 32×32 router grid with XY routing; packets between scattered
//!   hosts cross ~22 links each.
//!
//! Throughput is reported in events (criterion's "elements").

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hint::black_box;
use std::net::SocketAddrV4;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
mod common;

use common::{latency_chain, loaded_chain};
use icepath::engine::EventQueue;
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

/// Routes for the bare loops: 1,024 keys in a std `HashMap`, as in `bare_loop`.
fn bare_routes() -> HashMap<u32, u32> {
    (0..1024u32).map(|i| (i << 8, i % 7)).collect()
}

/// One bare-loop step's successor: 500 us later plus a few ns from the route lookup,
/// toward another key.
fn next(t: u64, key: u32, routes: &HashMap<u32, u32>) -> (u64, u32) {
    let hop = routes.get(&key).copied().unwrap_or(0);
    (t + 500_000 + hop as u64, ((key >> 8).wrapping_add(hop + 1) % 1024) << 8)
}

/// `pending` events spread over the first 100 us, as the engine run injects its packets.
fn first_events(pending: u64) -> impl Iterator<Item = (u64, u32)> {
    (0..pending).map(move |i| (i * 100_000 / pending, ((i % 1024) as u32) << 8))
}

fn in_flight(c: &mut Criterion) {
    let routes = bare_routes();
    let topo = latency_chain();
    for (pending, label) in [(1_000u64, "1k"), (1_000_000, "1m")] {
        // Six events per packet in the engine; the bare loops do as many.
        let events = 6 * pending.max(100_000);
        let packets = events / 6;
        let mut g = c.benchmark_group(format!("in_flight_{label}"));
        g.throughput(Throughput::Elements(events));
        g.sample_size(10);
        g.bench_function("bare_binary_heap", |b| {
            b.iter_batched(
                || {
                    let mut heap = BinaryHeap::with_capacity(pending as usize);
                    for (seq, (t, key)) in first_events(pending).enumerate() {
                        heap.push(Reverse((t, seq as u64, key)));
                    }
                    heap
                },
                |mut heap| {
                    let mut seq = pending;
                    for _ in 0..events {
                        let Reverse((t, _, key)) = heap.pop().expect("never empty");
                        let (t, key) = next(t, key, &routes);
                        seq += 1;
                        heap.push(Reverse((t, seq, key)));
                    }
                    heap
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function("bare_radix_queue", |b| {
            b.iter_batched(
                || {
                    let mut q = EventQueue::new();
                    for (t, key) in first_events(pending) {
                        q.push(SimTime::from_nanos(t), key);
                    }
                    q
                },
                |mut q| {
                    for _ in 0..events {
                        let (t, key) = q.pop().expect("never empty");
                        let (t, key) = next(t.as_nanos(), key, &routes);
                        q.push(SimTime::from_nanos(t), key);
                    }
                    q
                },
                BatchSize::PerIteration,
            )
        });
        // With 1,000 in flight the packets go out 2.5 us apart (one end-to-end latency per
        // 1,000), fed in waves of 100 as the run advances, so about 1,000 are in flight and
        // at most 100 more are queued to be sent. With 1,000,000 they are all injected in
        // the first 100 us before the timed run.
        g.bench_function("engine_chain_5_hops", |b| {
            let a = topo.node_by_name("a").expect("chain has a");
            let src: SocketAddrV4 = "10.0.0.1:5000".parse().expect("literal");
            let dst: SocketAddrV4 = "10.0.4.2:5000".parse().expect("literal");
            b.iter_batched(
                || {
                    if pending >= packets {
                        loaded_chain(&topo, pending)
                    } else {
                        Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Counters)
                    }
                },
                |mut e| {
                    if pending < packets {
                        for wave in 0..packets / 100 {
                            let first = wave * 100;
                            e.run_until(SimTime::from_nanos(first * 2_500));
                            for i in first..first + 100 {
                                e.send_at(SimTime::from_nanos(i * 2_500), a, Datagram::udp(src, dst, vec![0; 172]));
                            }
                        }
                    }
                    let out = e.run();
                    assert_eq!(e.trace().counters().delivered, packets, "every packet arrives");
                    black_box(out.events);
                    e
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, bare_loop, chain_5, grid_1024, in_flight);
criterion_main!(benches);
