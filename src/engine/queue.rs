//! The event queue: a monotone radix heap with multi-bit digits and first-in, first-out ties.
//!
//! A discrete-event engine only ever schedules at or after the instant it is processing, so
//! the queue can be a radix heap (Ahuja, Mehlhorn, Orlin and Tarjan, "Faster algorithms for
//! the shortest path problem", 1990) rather than a comparison heap. Keys are nanoseconds.
//!
//! Layout. A key is read as sixteen 4-bit digits; digit level 0 is the lowest four bits.
//! Every pending event is compared with `last`, the time of the last pop:
//!
//! - an event at exactly `last` waits in `current`;
//! - any other event sits in bucket (level `j`, digit `d`), where `j` is the highest digit
//!   in which its time differs from `last` and `d` is its own digit there. Above level `j`
//!   its time agrees with `last`; at level `j` it is larger (`d` is above `last`'s digit).
//!
//! Buckets are numbered level by level, digits in order within a level, and that order is
//! also the order of their times: every time in a lower-numbered bucket is earlier than
//! every time in a higher-numbered one. A bitmap of occupied buckets finds the lowest one
//! in a few instructions, and each bucket keeps its earliest time, so `peek_time` is O(1).
//!
//! Popping with `current` empty empties the lowest occupied bucket: its earliest time
//! becomes `last`, and each of its events moves to `current` (if at that time) or to a
//! bucket of a strictly lower level (its digits from level `j` up now all agree with the
//! new `last`). Other buckets stay valid, since the new `last` agrees with the old one from
//! level `j` up. An event therefore moves at most sixteen times, and in practice one to
//! three: a bucket holding one event is popped from directly. A level-0 bucket holds a
//! single time (all its digits are fixed), so it becomes `current` as a whole without
//! moving anything. With one bit per bucket, as this queue first had, events scheduled
//! microseconds to milliseconds ahead moved about twice as often (`benches/README.md`).
//!
//! Ties: events scheduled for the same instant pop in the order they were scheduled, which
//! makes runs deterministic without any tie-breaking by content. Two events with the same
//! time always sit in the same place (their bucket depends only on their time and `last`),
//! and every move keeps their order: buckets and `current` are appended at the back, a
//! bucket is emptied from the front, and `current` pops from the front. So no sequence
//! number needs to be stored: an entry is the time and the event.
//!
//! Memory. A level's 16 bucket headers (512 bytes) are allocated the first time an event
//! needs one of them, so a new queue costs nothing on the heap and a short run pays only
//! for the few levels its time differences reach. An emptied bucket keeps its
//! allocation when it is small (a busy bucket does not reallocate every round) and frees it
//! when large, so the queue's memory follows the events pending now rather than the most
//! a bucket ever held.

use std::collections::VecDeque;

use crate::time::SimTime;

/// Bits per digit.
const DIGIT_BITS: u32 = 4;
/// Digits per level (values of one digit).
const DIGITS: usize = 1 << DIGIT_BITS;
/// Digit levels in a 64-bit key.
const LEVELS: usize = 64usize.div_ceil(DIGIT_BITS as usize);
/// Words of the occupancy bitmap, one bit per (level, digit).
const WORDS: usize = (LEVELS * DIGITS).div_ceil(64);
/// Emptied buckets keep allocations up to this many entries (16 KiB of 16-byte entries;
/// 256 buckets may keep 4 MiB at most, as the 64 buckets of the one-bit queue did).
const KEEP_CAPACITY: usize = 1024;

/// The buckets of one digit level, indexed by digit.
type Level<E> = [Bucket<E>; DIGITS];

/// Events whose time first differs from `last` at one (level, digit).
struct Bucket<E> {
    /// In the order they were filed.
    events: Vec<(u64, E)>,
    /// The earliest time in `events` (`u64::MAX` when empty).
    earliest: u64,
}

/// Pending events of a run.
pub struct EventQueue<E> {
    /// The time of the last pop; every pending event is at or after it.
    last: u64,
    /// Events at exactly `last`, in the order they were scheduled (the time is kept so a
    /// level-0 bucket can become `current` without copying).
    current: VecDeque<(u64, E)>,
    /// The buckets of each level, allocated when an event first needs one of them.
    levels: [Option<Box<Level<E>>>; LEVELS],
    /// Bit `i % 64` of word `i / 64` set when bucket `i = level * DIGITS + digit` holds
    /// events; that numbering is the order of the buckets' times.
    occupied: [u64; WORDS],
    len: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            last: 0,
            current: VecDeque::new(),
            levels: std::array::from_fn(|_| None),
            occupied: [0; WORDS],
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
    #[inline]
    pub fn push(&mut self, at: SimTime, event: E) {
        let key = at.as_nanos();
        debug_assert!(key >= self.last, "the event queue is monotone: {key} < {}", self.last);
        self.len += 1;
        if key <= self.last {
            self.current.push_back((self.last, event));
        } else {
            self.file(key, event);
        }
    }

    /// Puts an event later than `last` into its bucket.
    #[inline(always)]
    fn file(&mut self, key: u64, event: E) {
        // The lowest bit of the highest differing digit, then the bucket's number.
        let high = 63 - (key ^ self.last).leading_zeros();
        let shift = high - high % DIGIT_BITS;
        let i = ((shift / DIGIT_BITS) as usize * DIGITS) | ((key >> shift) as usize & (DIGITS - 1));
        self.occupied[(i / 64) % WORDS] |= 1 << (i % 64);
        let bucket = &mut self.levels[i / DIGITS].get_or_insert_with(new_level)[i % DIGITS];
        bucket.events.push((key, event));
        if key < bucket.earliest {
            bucket.earliest = key;
        }
    }

    /// The lowest occupied bucket's number.
    #[inline]
    fn lowest(&self) -> Option<usize> {
        self.occupied.iter().position(|&word| word != 0).map(|w| w * 64 + self.occupied[w].trailing_zeros() as usize)
    }

    /// Bucket number `i`, which holds events (so its level exists).
    #[inline]
    fn bucket(&self, i: usize) -> &Bucket<E> {
        &self.levels[i / DIGITS].as_ref().expect("an occupied bucket's level exists")[i % DIGITS]
    }

    #[inline]
    fn bucket_mut(&mut self, i: usize) -> &mut Bucket<E> {
        &mut self.levels[i / DIGITS].as_mut().expect("an occupied bucket's level exists")[i % DIGITS]
    }

    /// The earliest event, ties broken by scheduling order.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let (_, event) = match self.current.pop_front() {
            Some(entry) => entry,
            None => self.pop_from_buckets()?,
        };
        self.len -= 1;
        Some((SimTime::from_nanos(self.last), event))
    }

    /// With `current` empty, empties the lowest occupied bucket: its earliest time becomes
    /// `last`, its other events move to `current` or to lower buckets. Returns the first
    /// event at the new `last`.
    fn pop_from_buckets(&mut self) -> Option<(u64, E)> {
        let i = self.lowest()?;
        self.occupied[(i / 64) % WORDS] &= !(1 << (i % 64));
        let level = self.levels[i / DIGITS].as_mut().expect("an occupied bucket's level exists");
        let bucket = &mut level[i % DIGITS];
        self.last = std::mem::replace(&mut bucket.earliest, u64::MAX);
        if bucket.events.len() == 1 {
            // The common case when events are spread out: nothing to move.
            return bucket.events.pop();
        }
        let mut moving = std::mem::take(&mut bucket.events);
        if i < DIGITS {
            // Level 0: every event here is at `last`. The bucket becomes `current` and
            // takes `current`'s empty allocation in exchange.
            let spare = Vec::from(std::mem::replace(&mut self.current, VecDeque::from(moving)));
            if spare.capacity() <= KEEP_CAPACITY {
                self.bucket_mut(i).events = spare;
            }
            return self.current.pop_front();
        }
        for (key, event) in moving.drain(..) {
            if key == self.last {
                self.current.push_back((key, event));
            } else {
                // Lands in a lower level: the key agrees with the new `last` from here up.
                self.file(key, event);
            }
        }
        // A small emptied allocation goes back to its bucket so a busy bucket does not
        // reallocate every round; a large one is freed.
        if moving.capacity() <= KEEP_CAPACITY {
            self.bucket_mut(i).events = moving;
        }
        self.current.pop_front()
    }

    /// The time of the earliest pending event.
    #[inline]
    pub fn peek_time(&self) -> Option<SimTime> {
        if !self.current.is_empty() {
            return Some(SimTime::from_nanos(self.last));
        }
        self.lowest().map(|i| SimTime::from_nanos(self.bucket(i).earliest))
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
        let levels = self.levels.iter().flatten();
        let bucketed: usize = levels.clone().flat_map(|level| level.iter()).map(|b| b.events.capacity()).sum();
        let entries = bucketed + self.current.capacity();
        entries * std::mem::size_of::<(u64, E)>() + levels.count() * std::mem::size_of::<Level<E>>()
    }
}

/// An empty level (16 buckets, 512 bytes for 8-byte events), made when first needed.
#[cold]
fn new_level<E>() -> Box<Level<E>> {
    Box::new(std::array::from_fn(|_| Bucket { events: Vec::new(), earliest: u64::MAX }))
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
            let mut m = Mirror::default();
            for (pop, shift, small) in ops {
                if pop {
                    m.pop()?;
                } else {
                    let offset = if shift % 3 == 0 { 0 } else { small << (shift % 40) };
                    m.push(m.now.saturating_add(offset));
                }
                m.check()?;
            }
            m.drain()?;
        }
    }

    proptest! {
        /// Keys anywhere in the 64-bit range: offsets of any size (so events start at every
        /// digit level and the clock jumps across many levels at once), runs of ties, and
        /// events at `u64::MAX`, against the same sequenced heap.
        #[test]
        fn matches_a_sequenced_heap_across_all_digit_levels(
            ops in proptest::collection::vec((0u8..8, any::<u64>(), 0u32..64), 0..400)
        ) {
            let mut m = Mirror::default();
            for (kind, raw, shift) in ops {
                if kind < 3 {
                    m.pop()?;
                } else {
                    let at = match kind {
                        3 => m.now,
                        4 => u64::MAX,
                        5 => m.now.saturating_add(raw % 16),
                        _ => m.now.saturating_add(raw >> shift),
                    };
                    // Several events at once, so buckets hold ties and mixed times.
                    for _ in 0..1 + raw % 3 {
                        m.push(at);
                    }
                }
                m.check()?;
            }
            m.drain()?;
        }
    }

    /// The queue beside a binary heap ordered by (time, sequence): each operation goes to
    /// both, and their answers must agree.
    #[derive(Default)]
    struct Mirror {
        q: EventQueue<usize>,
        reference: BinaryHeap<Reverse<(u64, usize)>>,
        seq: usize,
        /// The time of the last pop.
        now: u64,
    }

    impl Mirror {
        fn pop(&mut self) -> Result<(), TestCaseError> {
            let got = self.q.pop().map(|(t, i)| (t.as_nanos(), i));
            let want = self.reference.pop().map(|Reverse(x)| x);
            prop_assert_eq!(got, want);
            if let Some((t, _)) = got {
                self.now = t;
            }
            Ok(())
        }

        fn push(&mut self, at: u64) {
            self.q.push(SimTime::from_nanos(at), self.seq);
            self.reference.push(Reverse((at, self.seq)));
            self.seq += 1;
        }

        fn check(&self) -> Result<(), TestCaseError> {
            prop_assert_eq!(self.q.len(), self.reference.len());
            let want = self.reference.peek().map(|Reverse((t, _))| *t);
            prop_assert_eq!(self.q.peek_time().map(|t| t.as_nanos()), want);
            Ok(())
        }

        fn drain(mut self) -> Result<(), TestCaseError> {
            while let Some(Reverse(want)) = self.reference.pop() {
                prop_assert_eq!(self.q.pop().map(|(t, i)| (t.as_nanos(), i)), Some(want));
            }
            prop_assert!(self.q.pop().is_none());
            Ok(())
        }
    }

    /// Ties filed while the clock is far away keep their order through every level down to
    /// level 0, and events pushed at the current instant go after them.
    #[test]
    fn ties_keep_their_order_through_every_level() {
        let mut q = EventQueue::new();
        let far = 0x0123_4567_89ab_cdef_u64;
        for i in 0..10 {
            q.push(SimTime::from_nanos(far), i);
            q.push(SimTime::from_nanos(far + 1 + i as u64 % 2), 100 + i);
        }
        q.push(SimTime::from_nanos(1), 1000);
        assert_eq!(q.pop(), Some((SimTime::from_nanos(1), 1000)));
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(q.pop().expect("pending").1);
        }
        q.push(SimTime::from_nanos(far), 50);
        q.push(SimTime::from_nanos(far + 1), 150);
        while let Some((t, i)) = q.pop() {
            assert!(t.as_nanos() >= far);
            got.push(i);
        }
        let want: Vec<usize> =
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 50, 100, 102, 104, 106, 108, 150, 101, 103, 105, 107, 109].into();
        assert_eq!(got, want);
    }

    /// A new queue holds nothing on the heap; a drained one lets go of large buckets.
    #[test]
    fn memory_follows_what_is_pending() {
        let mut q = EventQueue::new();
        assert_eq!(q.heap_bytes(), 0);
        for i in 0..100_000u64 {
            q.push(SimTime::from_nanos(1_000_000 + i * 7), i);
        }
        let full = q.heap_bytes();
        assert!(full >= 100_000 * 16, "{full}");
        while q.pop().is_some() {}
        let drained = q.heap_bytes();
        assert!(drained < full / 4, "{drained} of {full}");
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
