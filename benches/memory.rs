//! Memory figures, counted by a global allocator that tallies live heap bytes:
//!
//! - bytes per simulated host: a campus (`topology::generate::campus`: hosts with one NIC
//!   and a default route on LANs of 1,000) built and loaded into an engine, at two sizes;
//!   the slope between them is the cost of one more host, whatever the fixed part costs;
//! - bytes per pending event: the event queue's own heap with 1,000 and 1,000,000 packets
//!   in flight on the 5-hop chain, read when the run is half done.
//!
//! Run with `cargo bench --bench memory`. It prints a table; targets (issue 9): at most
//! 2 KiB per host and 32 bytes per pending event.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use common::{latency_chain, loaded_chain};
use icepath::topology::LinkProps;
use icepath::topology::generate::campus;
use icepath::trace::TraceLevel;
use icepath::{Engine, Limits, SimDuration, SimRng, SimTime};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Live bytes for a campus of `hosts` and an engine over it (topology and engine state).
fn campus_bytes(hosts: u32) -> (usize, usize) {
    let before = live();
    let topo = campus(hosts, LinkProps::default());
    let topo_bytes = live() - before;
    let engine = Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Counters);
    let total = live() - before;
    drop(engine);
    (topo_bytes, total)
}

/// The queue's heap bytes per pending event with `packets` in flight on the 5-hop chain,
/// halfway through the run.
fn queue_bytes(packets: u64) -> (usize, usize) {
    let topo = latency_chain();
    let mut e = loaded_chain(&topo, packets);
    e.run_until(SimTime::ZERO + SimDuration::from_micros(1500));
    (e.pending_events(), e.queue_heap_bytes())
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    println!("| what | size | live bytes | per unit |");
    println!("| --- | --- | --- | --- |");
    let sizes = [1_000u32, 10_000, 100_000];
    let figures: Vec<(u32, (usize, usize))> = sizes.iter().map(|&n| (n, campus_bytes(n))).collect();
    for &(n, (topo, total)) in &figures {
        println!(
            "| campus: topology + engine | {n} hosts | {total} (topology {topo}) | {:.0} B/host |",
            total as f64 / n as f64
        );
    }
    let (n0, (t0, all0)) = figures[0];
    let (n1, (t1, all1)) = figures[figures.len() - 1];
    let slope = (all1 - all0) as f64 / (n1 - n0) as f64;
    let topo_slope = (t1 - t0) as f64 / (n1 - n0) as f64;
    println!(
        "| **one more host** (slope {n0} → {n1}) | | | **{slope:.0} B/host** (topology {topo_slope:.0}, engine {:.0}) |",
        slope - topo_slope
    );
    for packets in [1_000u64, 1_000_000] {
        let (pending, bytes) = queue_bytes(packets);
        println!(
            "| event queue, {packets} packets in flight | {pending} pending | {bytes} | **{:.1} B/event** |",
            bytes as f64 / pending as f64
        );
    }
}
