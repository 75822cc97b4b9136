//! The discrete-event engine: the only code that advances time.
//!
//! The engine owns the event queue, the packets in flight and the per-interface link state.
//! It pops the earliest event, hands the packet to the element that should see it
//! (`net::forward` for hosts and routers, `net::link` for the wire), carries out the verdict
//! and schedules what follows. It stops when nothing is left to do or at a stated limit: the
//! time horizon or the event budget. A routing loop ends by TTL expiry, never by a hang.

mod queue;

use std::fmt;

use crate::net::DropReason;
use crate::net::forward::{Verdict, forward};
use crate::net::link::{LinkDrop, LinkTx};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::topology::{IfaceId, NodeId, Topology};
use crate::trace::{PacketId, PacketSummary, Record, Trace, TraceLevel};
use crate::wire::Datagram;

pub use queue::EventQueue;

/// The limits a run stops at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Events later than this are not processed.
    pub horizon: SimTime,
    /// At most this many events are processed.
    pub max_events: u64,
}

impl Default for Limits {
    /// One hour of virtual time and 100 million events: far beyond any single call, and
    /// small enough that a runaway run stops in seconds of real time.
    fn default() -> Self {
        Limits { horizon: SimTime::ZERO + SimDuration::from_secs(3600), max_events: 100_000_000 }
    }
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum StopReason {
    /// No events were left: every packet was delivered or dropped.
    Idle,
    /// The next event lay beyond the time horizon.
    Horizon { horizon: SimTime },
    /// The event budget was used up.
    EventBudget { max_events: u64 },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Idle => f.write_str("idle: every packet was delivered or dropped"),
            StopReason::Horizon { horizon } => write!(f, "stopped at the time horizon ({horizon})"),
            StopReason::EventBudget { max_events } => {
                write!(f, "stopped after the event budget of {max_events} events (an event storm?)")
            }
        }
    }
}

/// What a run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    pub stop: StopReason,
    pub events: u64,
    /// Virtual time of the last processed event.
    pub end: SimTime,
}

#[derive(Clone, Copy, Debug)]
enum Event {
    /// A node sends a packet it originated.
    Originate { slot: u32, node: NodeId },
    /// A packet finished crossing a link and arrives on an interface.
    Arrive { slot: u32, iface: IfaceId },
}

struct InFlight {
    id: PacketId,
    datagram: Datagram,
}

/// A simulation of one topology.
pub struct Engine<'t> {
    topo: &'t Topology,
    now: SimTime,
    limits: Limits,
    queue: EventQueue<Event>,
    packets: Vec<Option<InFlight>>,
    free: Vec<u32>,
    /// Transmit state per interface (indexed by `IfaceId`).
    tx: Vec<LinkTx>,
    next_packet: u64,
    events: u64,
    trace: Trace,
}

impl<'t> Engine<'t> {
    pub fn new(topo: &'t Topology, rng: SimRng, limits: Limits, level: TraceLevel) -> Self {
        let tx = topo
            .ifaces
            .iter()
            .map(|f| {
                let label = format!("link/{}/{}", topo.link(f.link).name, topo.iface_label(f.id));
                LinkTx::new(rng.fork(&label))
            })
            .collect();
        Engine {
            topo,
            now: SimTime::ZERO,
            limits,
            queue: EventQueue::new(),
            packets: Vec::new(),
            free: Vec::new(),
            tx,
            next_packet: 1,
            events: 0,
            trace: Trace::new(level),
        }
    }

    pub fn now(&self) -> SimTime {
        self.now
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    pub fn into_trace(self) -> Trace {
        self.trace
    }

    /// Schedules `node` to send `datagram` at `at` (not before the current time).
    pub fn send_at(&mut self, at: SimTime, node: NodeId, datagram: Datagram) -> PacketId {
        let id = PacketId(self.next_packet);
        self.next_packet += 1;
        let slot = self.store(InFlight { id, datagram });
        self.queue.push(at.max(self.now), Event::Originate { slot, node });
        id
    }

    /// Runs until idle or a limit is reached.
    pub fn run(&mut self) -> RunOutcome {
        self.run_until(SimTime::MAX)
    }

    /// Processes every event up to and including `deadline` (or until a limit), then
    /// returns; more packets can be sent and the run resumed. Reports `Idle` when nothing
    /// is pending at or before the deadline.
    pub fn run_until(&mut self, deadline: SimTime) -> RunOutcome {
        loop {
            let Some(at) = self.queue.peek_time() else {
                return self.outcome(StopReason::Idle);
            };
            if at > self.limits.horizon {
                return self.outcome(StopReason::Horizon { horizon: self.limits.horizon });
            }
            if at > deadline {
                return self.outcome(StopReason::Idle);
            }
            if self.events >= self.limits.max_events {
                return self.outcome(StopReason::EventBudget { max_events: self.limits.max_events });
            }
            let (at, event) = self.queue.pop().expect("peeked above");
            assert!(at >= self.now, "invariant: time never runs backwards ({at} < {})", self.now);
            self.now = at;
            self.events += 1;
            self.handle(event);
        }
    }

    fn outcome(&self, stop: StopReason) -> RunOutcome {
        RunOutcome { stop, events: self.events, end: self.now }
    }

    fn handle(&mut self, event: Event) {
        let (slot, node, arrived_on) = match event {
            Event::Originate { slot, node } => {
                let p = self.packet(slot);
                let r = Record::Sent { at: self.now, packet: p.id, node, summary: PacketSummary::of(&p.datagram) };
                self.trace.record(r);
                (slot, node, None)
            }
            Event::Arrive { slot, iface } => (slot, self.topo.iface(iface).node, Some(iface)),
        };
        let topo = self.topo;
        let p = self.packets[slot as usize].as_mut().expect("invariant: an event's packet is in flight");
        let id = p.id;
        match forward(topo, node, arrived_on, &mut p.datagram) {
            Verdict::Deliver => {
                self.trace.record(Record::Delivered { at: self.now, packet: id, node, iface: arrived_on });
                self.release(slot);
            }
            Verdict::Drop(reason) => self.drop_packet(slot, reason),
            Verdict::Forward { via, to } => {
                let ttl = p.datagram.ttl;
                let size = p.datagram.wire_len() as u32;
                let dont_fragment = p.datagram.dont_fragment;
                if let Some(iface) = arrived_on {
                    self.trace.record(Record::Forwarded { at: self.now, packet: id, node, arrived_on: iface, ttl });
                }
                let link = topo.iface(via).link;
                let props = &topo.link(link).props;
                if size > props.mtu {
                    let reason = DropReason::MtuExceeded { node, iface: via, size, mtu: props.mtu, dont_fragment };
                    return self.drop_packet(slot, reason);
                }
                match self.tx[via.0 as usize].transmit(self.now, props, size) {
                    Ok(transit) => {
                        self.trace.record(Record::Transmitted {
                            at: self.now,
                            packet: id,
                            link,
                            from: via,
                            to,
                            transit,
                        });
                        self.queue.push(self.now + transit.total(), Event::Arrive { slot, iface: to });
                    }
                    Err(LinkDrop::QueueFull) => self.drop_packet(slot, DropReason::QueueFull { link, iface: via }),
                    Err(LinkDrop::Lost) => self.drop_packet(slot, DropReason::LinkLoss { link, iface: via }),
                }
            }
        }
    }

    fn drop_packet(&mut self, slot: u32, reason: DropReason) {
        let id = self.packet(slot).id;
        self.trace.record(Record::Dropped { at: self.now, packet: id, reason });
        self.release(slot);
    }

    fn packet(&self, slot: u32) -> &InFlight {
        self.packets[slot as usize].as_ref().expect("invariant: an event's packet is in flight")
    }

    fn store(&mut self, p: InFlight) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.packets[slot as usize] = Some(p);
                slot
            }
            None => {
                self.packets.push(Some(p));
                (self.packets.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, slot: u32) {
        self.packets[slot as usize] = None;
        self.free.push(slot);
    }
}

#[cfg(test)]
mod tests;
