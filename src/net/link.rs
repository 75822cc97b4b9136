//! One direction of a link: the transmit queue of an interface and the wire beyond it.
//!
//! A packet handed to a `LinkTx` at `now` waits behind the packets already queued (FIFO),
//! is serialized at the link's bandwidth, travels for the link's latency plus a jitter draw,
//! and may be lost. The queue is modelled by remembering when each queued packet finishes
//! serializing, so no "transmit done" events are needed: occupancy at any instant is the set
//! of packets that have not finished by then.

use std::collections::VecDeque;

use serde::Serialize;

use crate::rng::RngStream;
use crate::time::{SimDuration, SimTime};
use crate::topology::{JitterDistribution, LinkProps, QueueLimit};

/// Shape of the Pareto jitter tail (finite mean and variance; occasional long delays).
const PARETO_SHAPE: f64 = 2.5;
/// Pareto draws are capped at this multiple of the mean so one draw cannot stall a run.
const PARETO_CAP: f64 = 50.0;

/// The transmit side of one interface on one link.
#[derive(Clone, Debug)]
pub struct LinkTx {
    rng: RngStream,
    /// Finish times and sizes of packets still queued or serializing, oldest first.
    backlog: VecDeque<(SimTime, u32)>,
    backlog_bytes: u64,
    busy_until: SimTime,
    last_arrival: SimTime,
}

/// How long each stage of crossing the link took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Transit {
    /// Waiting behind earlier packets.
    pub queue: SimDuration,
    /// Putting the bits on the wire.
    pub serialization: SimDuration,
    /// The link's fixed latency.
    pub latency: SimDuration,
    /// The random extra delay (including any wait to keep FIFO order).
    pub jitter: SimDuration,
}

impl Transit {
    pub fn total(&self) -> SimDuration {
        self.queue + self.serialization + self.latency + self.jitter
    }
}

/// Why a link did not carry a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkDrop {
    QueueFull,
    Lost,
}

impl LinkTx {
    pub fn new(rng: RngStream) -> Self {
        LinkTx {
            rng,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            busy_until: SimTime::ZERO,
            last_arrival: SimTime::ZERO,
        }
    }

    /// Offers a packet of `size` bytes at `now`; returns how long it takes to arrive.
    pub fn transmit(&mut self, now: SimTime, props: &LinkProps, size: u32) -> Result<Transit, LinkDrop> {
        let mut transit = Transit { latency: props.latency, ..Transit::default() };
        if let Some(bps) = props.bandwidth {
            if self.busy_until <= now {
                // Idle: everything queued has left (each finished by `busy_until`), so
                // forget it without reading the entries.
                self.backlog.clear();
                self.backlog_bytes = 0;
            } else {
                while let Some(&(done, bytes)) = self.backlog.front() {
                    if done > now {
                        break;
                    }
                    self.backlog.pop_front();
                    self.backlog_bytes -= bytes as u64;
                }
            }
            let full = match props.queue {
                QueueLimit::Packets(n) => self.backlog.len() >= n as usize,
                QueueLimit::Bytes(b) => self.backlog_bytes + size as u64 > b,
            };
            if full {
                return Err(LinkDrop::QueueFull);
            }
            let start = self.busy_until.max(now);
            transit.queue = start - now;
            transit.serialization = SimDuration::serialization(size as u64, bps);
            self.busy_until = start + transit.serialization;
            self.backlog.push_back((self.busy_until, size));
            self.backlog_bytes += size as u64;
        }
        if self.rng.chance(props.loss) {
            return Err(LinkDrop::Lost);
        }
        if let Some(j) = props.jitter {
            transit.jitter = self.sample_jitter(j.mean, j.distribution);
        }
        let mut arrival = now + transit.total();
        if !props.reorder && arrival < self.last_arrival {
            transit.jitter = transit.jitter + (self.last_arrival - arrival);
            arrival = self.last_arrival;
        }
        self.last_arrival = arrival;
        Ok(transit)
    }

    fn sample_jitter(&mut self, mean: SimDuration, dist: JitterDistribution) -> SimDuration {
        let m = mean.as_nanos() as f64;
        let ns = match dist {
            JitterDistribution::Uniform => self.rng.unit() * 2.0 * m,
            JitterDistribution::Normal => (m + 0.5 * m * self.rng.standard_normal()).max(0.0),
            JitterDistribution::Pareto => {
                let scale = m * (PARETO_SHAPE - 1.0) / PARETO_SHAPE;
                self.rng.pareto(scale, PARETO_SHAPE).min(PARETO_CAP * m)
            }
        };
        SimDuration::from_nanos(ns.round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;
    use crate::topology::Jitter;

    fn tx() -> LinkTx {
        LinkTx::new(SimRng::new(1).fork("test"))
    }

    #[test]
    fn serialization_and_queueing_add_up() {
        let props =
            LinkProps { bandwidth: Some(8_000_000), latency: SimDuration::from_millis(10), ..LinkProps::default() };
        let mut l = tx();
        // 1000 bytes at 8 Mbit/s = 1 ms on the wire.
        let a = l.transmit(SimTime::ZERO, &props, 1000).unwrap();
        assert_eq!((a.queue, a.serialization), (SimDuration::ZERO, SimDuration::from_millis(1)));
        let b = l.transmit(SimTime::ZERO, &props, 1000).unwrap();
        assert_eq!(b.queue, SimDuration::from_millis(1));
        assert_eq!(b.total(), SimDuration::from_millis(12));
    }

    #[test]
    fn tail_drop_when_queue_is_full() {
        let props = LinkProps { bandwidth: Some(8_000), queue: QueueLimit::Packets(2), ..LinkProps::default() };
        let mut l = tx();
        assert!(l.transmit(SimTime::ZERO, &props, 100).is_ok());
        assert!(l.transmit(SimTime::ZERO, &props, 100).is_ok());
        assert_eq!(l.transmit(SimTime::ZERO, &props, 100), Err(LinkDrop::QueueFull));
        // Once the first packet has left (100 bytes at 8 kbit/s = 100 ms), there is room again.
        assert!(l.transmit(SimTime::from_nanos(100_000_000), &props, 100).is_ok());
    }

    #[test]
    fn byte_limited_queue() {
        let props = LinkProps { bandwidth: Some(8_000), queue: QueueLimit::Bytes(250), ..LinkProps::default() };
        let mut l = tx();
        assert!(l.transmit(SimTime::ZERO, &props, 200).is_ok());
        assert_eq!(l.transmit(SimTime::ZERO, &props, 100), Err(LinkDrop::QueueFull));
        assert!(l.transmit(SimTime::ZERO, &props, 50).is_ok());
    }

    #[test]
    fn loss_rate_is_close_to_configured() {
        let props = LinkProps { loss: 0.1, ..LinkProps::default() };
        let mut l = tx();
        let lost = (0..10_000).filter(|_| l.transmit(SimTime::ZERO, &props, 100).is_err()).count();
        assert!((900..1100).contains(&lost), "lost {lost}");
    }

    #[test]
    fn jitter_mean_matches_for_every_distribution() {
        for dist in [JitterDistribution::Uniform, JitterDistribution::Normal, JitterDistribution::Pareto] {
            let props = LinkProps {
                jitter: Some(Jitter { mean: SimDuration::from_millis(5), distribution: dist }),
                reorder: true,
                ..LinkProps::default()
            };
            let mut l = tx();
            let n = 20_000u64;
            let sum: u64 = (0..n).map(|_| l.transmit(SimTime::ZERO, &props, 100).unwrap().jitter.as_nanos()).sum();
            let mean_ms = sum as f64 / n as f64 / 1e6;
            assert!((mean_ms - 5.0).abs() < 0.25, "{dist:?}: mean {mean_ms}");
        }
    }

    #[test]
    fn without_reorder_arrivals_keep_send_order() {
        let props = LinkProps {
            jitter: Some(Jitter { mean: SimDuration::from_millis(5), distribution: JitterDistribution::Pareto }),
            ..LinkProps::default()
        };
        let mut l = tx();
        let mut last = SimTime::ZERO;
        for i in 0..1000u64 {
            let now = SimTime::from_nanos(i * 100_000);
            let arrival = now + l.transmit(now, &props, 100).unwrap().total();
            assert!(arrival >= last);
            last = arrival;
        }
    }
}
