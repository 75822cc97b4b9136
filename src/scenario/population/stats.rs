//! Streaming statistics for many RTP streams: constant memory per stream, whatever its
//! length (no per-packet samples), and fixed-bin histograms for a population's
//! distributions.

use std::collections::VecDeque;

use serde::Serialize;

use crate::report::quality::{DelaySummary, JitterEstimator, PathSummary};
use crate::time::{SimDuration, SimTime};

/// How many recent send instants a stream remembers to match arrivals with: far more than
/// any path holds in flight (a second of 1.5 Mbit/s video is about 160 packets).
const SENT_WINDOW: usize = 1024;

/// A receiver's running view of one stream: count, delay (min, mean, max), RFC 3550 jitter.
#[derive(Clone, Debug)]
pub(super) struct StreamStats {
    jitter: JitterEstimator,
    /// Send instants of the last `SENT_WINDOW` packets; the first has `first_seq`.
    sent_at: VecDeque<SimTime>,
    first_seq: u16,
    pub sent: u64,
    pub received: u64,
    delay_sum: u128,
    delay_min: u64,
    delay_max: u64,
    /// Highest position (in send order) received so far, to count duplicates and late
    /// arrivals of packets already given up on.
    highest: Option<u64>,
}

impl StreamStats {
    pub fn new(clock_rate: u32) -> StreamStats {
        StreamStats {
            jitter: JitterEstimator::new(clock_rate),
            sent_at: VecDeque::new(),
            first_seq: 0,
            sent: 0,
            received: 0,
            delay_sum: 0,
            delay_min: u64::MAX,
            delay_max: 0,
            highest: None,
        }
    }

    /// The packet numbered `sequence` left at `at`.
    pub fn on_send(&mut self, sequence: u16, at: SimTime) {
        if self.sent_at.is_empty() {
            self.first_seq = sequence;
        }
        self.sent_at.push_back(at);
        if self.sent_at.len() > SENT_WINDOW {
            self.sent_at.pop_front();
            self.first_seq = self.first_seq.wrapping_add(1);
        }
        self.sent += 1;
    }

    /// The packet numbered `sequence`, stamped `timestamp`, arrived at `at`. Arrivals of
    /// packets no longer remembered, or received before, are ignored.
    pub fn on_receive(&mut self, sequence: u16, timestamp: u32, at: SimTime) {
        let k = sequence.wrapping_sub(self.first_seq) as usize;
        let Some(&sent) = self.sent_at.get(k) else { return };
        // Position in send order: packets sent before the window, plus k.
        let position = self.sent - self.sent_at.len() as u64 + k as u64;
        if self.highest.is_some_and(|h| position <= h) {
            return;
        }
        self.highest = Some(position);
        let d = at.saturating_since(sent).as_nanos();
        self.received += 1;
        self.delay_sum += d as u128;
        self.delay_min = self.delay_min.min(d);
        self.delay_max = self.delay_max.max(d);
        self.jitter.handle_arrival(at, timestamp);
    }

    /// Mean one-way delay, `None` before anything arrived.
    pub fn mean_delay(&self) -> Option<SimDuration> {
        (self.received > 0).then(|| SimDuration::from_nanos((self.delay_sum / self.received as u128) as u64))
    }

    pub fn loss_fraction(&self) -> f64 {
        if self.sent == 0 { 0.0 } else { self.sent.saturating_sub(self.received) as f64 / self.sent as f64 }
    }

    /// The summary the E-model reads. Without per-packet samples the 95th percentile is
    /// not known: `p95` holds the maximum, an upper bound (the E-model uses the mean only).
    pub fn summary(&self) -> PathSummary {
        let delay = self.mean_delay().map(|mean| DelaySummary {
            min: SimDuration::from_nanos(self.delay_min),
            mean,
            p95: SimDuration::from_nanos(self.delay_max),
            max: SimDuration::from_nanos(self.delay_max),
        });
        PathSummary {
            received: self.received,
            expected: self.sent,
            lost: self.sent.saturating_sub(self.received),
            loss_fraction: self.loss_fraction(),
            out_of_order: 0,
            duplicates: 0,
            discarded: 0,
            delay,
            jitter: self.jitter.jitter(),
        }
    }
}

/// A distribution of one measure over calls: fixed bins, plus percentiles by nearest rank.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Distribution {
    pub count: usize,
    pub mean: Option<f64>,
    pub p5: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    /// `[lower edge, count]` per bin of width `bin`, from `low`; the last bin also holds
    /// everything above it.
    pub low: f64,
    pub bin: f64,
    pub bins: Vec<u64>,
}

impl Distribution {
    /// The distribution of `values` over `n` bins of width `bin` from `low`.
    pub fn of(values: &[f64], low: f64, bin: f64, n: usize) -> Distribution {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: usize| -> Option<f64> {
            let n = sorted.len();
            (n > 0).then(|| sorted[((p * n).div_ceil(100)).max(1) - 1])
        };
        let mut bins = vec![0u64; n];
        for v in &sorted {
            let k = ((v - low) / bin).floor().max(0.0) as usize;
            bins[k.min(n - 1)] += 1;
        }
        let mean = (!sorted.is_empty()).then(|| round(sorted.iter().sum::<f64>() / sorted.len() as f64));
        Distribution {
            count: sorted.len(),
            mean,
            p5: rank(5).map(round),
            p50: rank(50).map(round),
            p95: rank(95).map(round),
            low,
            bin,
            bins,
        }
    }
}

/// Rounds to 4 decimals, so reports do not carry float noise.
pub(super) fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> SimTime {
        SimTime::from_nanos(x * 1_000_000)
    }

    #[test]
    fn delay_and_loss_stream_without_samples() {
        let mut s = StreamStats::new(8000);
        for k in 0..10u16 {
            s.on_send(65530u16.wrapping_add(k), ms(20 * k as u64));
        }
        // Every other packet arrives 30 ms after it left; one arrives twice.
        for k in (0..10u16).step_by(2) {
            let seq = 65530u16.wrapping_add(k);
            s.on_receive(seq, 160 * k as u32, ms(20 * k as u64 + 30));
        }
        s.on_receive(65530, 0, ms(300));
        assert_eq!((s.sent, s.received), (10, 5));
        assert_eq!(s.mean_delay(), Some(SimDuration::from_millis(30)));
        assert_eq!(s.loss_fraction(), 0.5);
        assert_eq!(s.summary().jitter, SimDuration::ZERO);
    }

    #[test]
    fn distributions_bin_and_rank() {
        let d = Distribution::of(&[1.0, 2.0, 3.0, 4.0, 100.0], 0.0, 1.0, 5);
        assert_eq!(d.bins, vec![0, 1, 1, 1, 2]);
        assert_eq!((d.p5, d.p50, d.p95), (Some(1.0), Some(3.0), Some(100.0)));
        assert_eq!(d.mean, Some(22.0));
        assert_eq!(Distribution::of(&[], 0.0, 1.0, 2).p50, None);
    }
}
