//! The packets-in-flight workload shared by the `engine` bench (its speed) and the `memory`
//! bench (its queue's bytes per pending event), so both measure the same thing.

use std::net::SocketAddrV4;

use icepath::topology::LinkProps;
use icepath::topology::generate::chain;
use icepath::trace::TraceLevel;
use icepath::wire::Datagram;
use icepath::{Engine, Limits, SimDuration, SimRng, SimTime, Topology};

/// Host — 4 routers — host over latency-only links of 500 us (no queues, so no drops).
pub fn latency_chain() -> Topology {
    chain(4, LinkProps { latency: SimDuration::from_micros(500), ..LinkProps::default() })
}

/// `latency_chain` with `pending` packets injected in the first 100 us: every packet is in
/// flight until the first arrives 2.5 ms later. Returns the engine ready to run.
pub fn loaded_chain(topo: &Topology, pending: u64) -> Engine<'_> {
    let a = topo.node_by_name("a").expect("chain has a");
    let src: SocketAddrV4 = "10.0.0.1:5000".parse().expect("literal");
    let dst: SocketAddrV4 = "10.0.4.2:5000".parse().expect("literal");
    let mut e = Engine::new(topo, SimRng::new(1), Limits::default(), TraceLevel::Counters);
    for i in 0..pending {
        e.send_at(SimTime::from_nanos(i * 100_000 / pending), a, Datagram::udp(src, dst, vec![0; 172]));
    }
    e
}
