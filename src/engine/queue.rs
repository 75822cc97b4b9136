//! The event queue: a monotone radix heap with first-in, first-out ties.
//!
//! A discrete-event engine only ever schedules at or after the instant it is processing, so
//! the queue can be a radix heap (Ahuja, Mehlhorn, Orlin and Tarjan, "Faster algorithms for
//! the shortest path problem", 1990) rather than a comparison heap. Keys are nanoseconds.
//! Bucket `b` holds the events whose time first differs from the last popped time `last`
//! at bit `b`; events at exactly `last` wait in `current`. Popping an empty `current`
//! empties the lowest occupied bucket: its earliest time becomes `last` and each of its
//! events moves to `current` or to a lower bucket. An event moves at most 64 times in all,
//! and mostly within one small bucket that is still in cache, which is why this beats a
//! binary heap once a million events are pending (a heap's sift walks a cold path of
//! twenty cache lines per operation).
//!
//! Ties: events scheduled for the same instant pop in the order they were scheduled, which
//! makes runs deterministic without any tie-breaking by content. Two events with the same
//! time always land in the same bucket (their bits above the differing bit agree with
//! `last`), buckets are appended to and emptied in order, and `current` is first-in,
//! first-out, so no sequence number needs to be stored: an entry is the time and the event.

use std::collections::VecDeque;

use crate::time::SimTime;

const BUCKETS: usize = 64;
/// Emptied buckets keep allocations up to this many entries (64 KiB of 16-byte entries).
const KEEP_CAPACITY: usize = 4096;

/// Pending events of a run.
pub struct EventQueue<E> {
    /// The time of the last pop; every pending event is at or after it.
    last: u64,
    /// Events at exactly `last`, in the order they were scheduled.
    current: VecDeque<E>,
    /// `buckets[b]`: events whose time's highest bit differing from `last` is bit `b`.
    buckets: [Vec<(u64, E)>; BUCKETS],
    /// The earliest time in each bucket (`u64::MAX` when empty).
    earliest: [u64; BUCKETS],
    /// Bit `b` set when `buckets[b]` is not empty.
    occupied: u64,
    len: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            last: 0,
            current: VecDeque::new(),
            buckets: std::array::from_fn(|_| Vec::new()),
            earliest: [u64::MAX; BUCKETS],
            occupied: 0,
            len: 0,
        }
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `at`. A time before the last popped one is taken as that time
    /// (the engine never schedules in the past; see the debug assertion).
    pub fn push(&mut self, at: SimTime, event: E) {
        let key = at.as_nanos();
        debug_assert!(key >= self.last, "the event queue is monotone: {key} < {}", self.last);
        self.len += 1;
        if key <= self.last {
            self.current.push_back(event);
        } else {
            self.file(key, event);
        }
    }

    /// Puts an event later than `last` into its bucket.
    #[inline]
    fn file(&mut self, key: u64, event: E) {
        let b = 63 - (key ^ self.last).leading_zeros() as usize;
        self.buckets[b].push((key, event));
        if key < self.earliest[b] {
            self.earliest[b] = key;
        }
        self.occupied |= 1 << b;
    }

    /// The earliest event, ties broken by scheduling order.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if self.current.is_empty() {
            self.refill()?;
        }
        let event = self.current.pop_front()?;
        self.len -= 1;
        Some((SimTime::from_nanos(self.last), event))
    }

    /// Empties the lowest occupied bucket: its earliest time becomes `last`.
    fn refill(&mut self) -> Option<()> {
        if self.occupied == 0 {
            return None;
        }
        let b = self.occupied.trailing_zeros() as usize;
        let mut moving = std::mem::take(&mut self.buckets[b]);
        self.last = self.earliest[b];
        self.earliest[b] = u64::MAX;
        self.occupied &= !(1 << b);
        for (key, event) in moving.drain(..) {
            if key == self.last {
                self.current.push_back(event);
            } else {
                // Lands in a bucket below `b`: the key agrees with the new `last` above it.
                self.file(key, event);
            }
        }
        // A small emptied allocation goes back to its bucket so a busy bucket does not
        // reallocate every round; a large one is freed, so the queue's memory follows the
        // events pending now rather than the most a bucket ever held.
        if moving.capacity() <= KEEP_CAPACITY {
            self.buckets[b] = moving;
        }
        Some(())
    }

    /// The time of the earliest pending event.
    pub fn peek_time(&self) -> Option<SimTime> {
        if !self.current.is_empty() {
            return Some(SimTime::from_nanos(self.last));
        }
        if self.occupied == 0 {
            return None;
        }
        Some(SimTime::from_nanos(self.earliest[self.occupied.trailing_zeros() as usize]))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the queue holds on the heap (capacity, not just the pending entries): for the
    /// memory figures in `benches/README.md`.
    pub fn heap_bytes(&self) -> usize {
        let bucketed: usize = self.buckets.iter().map(|b| b.capacity()).sum();
        bucketed * std::mem::size_of::<(u64, E)>() + self.current.capacity() * std::mem::size_of::<E>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    proptest! {
        #[test]
        fn pops_in_time_then_insertion_order(times in proptest::collection::vec(0u64..20, 0..200)) {
            let mut q = EventQueue::new();
            for (i, t) in times.iter().enumerate() {
                q.push(SimTime::from_nanos(*t), i);
            }
            let mut expected: Vec<(u64, usize)> = times.iter().copied().zip(0..).collect();
            expected.sort();
            let mut got = Vec::new();
            while let Some((t, i)) = q.pop() {
                got.push((t.as_nanos(), i));
            }
            prop_assert_eq!(got, expected);
        }

        /// Pushes at or after the last popped time interleaved with pops, as the engine
        /// does, against a binary heap ordered by (time, sequence). Offsets span from
        /// nothing (same instant) to far in the future, so every bucket is exercised.
        #[test]
        fn matches_a_sequenced_heap_under_interleaving(
            ops in proptest::collection::vec((any::<bool>(), 0u32..64, 0u64..1000), 0..400)
        ) {
            let mut q = EventQueue::new();
            let mut reference = BinaryHeap::new();
            let mut now = 0u64;
            let mut seq = 0usize;
            for (pop, shift, small) in ops {
                if pop {
                    let got = q.pop().map(|(t, i)| (t.as_nanos(), i));
                    let want = reference.pop().map(|Reverse(x)| x);
                    prop_assert_eq!(got, want);
                    if let Some((t, _)) = got {
                        now = t;
                    }
                } else {
                    let offset = if shift % 3 == 0 { 0 } else { small << (shift % 40) };
                    let at = now.saturating_add(offset);
                    q.push(SimTime::from_nanos(at), seq);
                    reference.push(Reverse((at, seq)));
                    seq += 1;
                }
                prop_assert_eq!(q.len(), reference.len());
                prop_assert_eq!(q.peek_time().map(|t| t.as_nanos()), reference.peek().map(|Reverse((t, _))| *t));
            }
            while let Some(Reverse(want)) = reference.pop() {
                prop_assert_eq!(q.pop().map(|(t, i)| (t.as_nanos(), i)), Some(want));
            }
            prop_assert!(q.pop().is_none());
        }
    }

    #[test]
    fn the_far_future_and_the_present_keep_their_order() {
        let mut q = EventQueue::new();
        q.push(SimTime::from_nanos(u64::MAX), 'z');
        q.push(SimTime::from_nanos(5), 'a');
        q.push(SimTime::from_nanos(5), 'b');
        assert_eq!(q.pop(), Some((SimTime::from_nanos(5), 'a')));
        q.push(SimTime::from_nanos(5), 'c');
        q.push(SimTime::from_nanos(6), 'd');
        assert_eq!(q.pop(), Some((SimTime::from_nanos(5), 'b')));
        assert_eq!(q.pop(), Some((SimTime::from_nanos(5), 'c')));
        assert_eq!(q.pop(), Some((SimTime::from_nanos(6), 'd')));
        assert_eq!(q.pop(), Some((SimTime::from_nanos(u64::MAX), 'z')));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }
}
