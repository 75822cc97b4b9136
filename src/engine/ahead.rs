//! The event queue with a short window of the events due next taken out of it early, so the
//! engine can ask the memory system for what they will touch while it handles the ones
//! before them.
//!
//! At tens of thousands of hosts a run's state no longer fits in the processor's caches,
//! and each event's first reads (its packet's slot, the interface it arrives on, that
//! interface's node) each wait for main memory, one after the other. Knowing the next few
//! events lets those reads start several events early and overlap with the work between.
//!
//! Order. `window` always holds a prefix of the whole pending sequence, in order: everything
//! in the queue is at or after the window's last time, because an event scheduled before
//! that time is inserted into the window (after the window's events at the same time, so
//! ties still pop in the order they were scheduled) instead of pushed to the queue. That
//! also keeps the queue's own rule: it never receives a time before the last one it gave
//! out. So popping from the window's front, then from the queue, pops exactly what the
//! queue alone would (a proptest below checks it).

use std::collections::VecDeque;

use super::queue::EventQueue;
use crate::time::SimTime;

/// Events pending in a run, the earliest `width` of them held apart.
pub struct Ahead<E> {
    queue: EventQueue<E>,
    /// The earliest pending events, in the order they pop.
    window: VecDeque<(SimTime, E)>,
}

impl<E> Default for Ahead<E> {
    fn default() -> Self {
        Ahead { queue: EventQueue::new(), window: VecDeque::new() }
    }
}

impl<E> Ahead<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `at` (not before the last event popped).
    #[inline]
    pub fn push(&mut self, at: SimTime, event: E) {
        match self.window.back() {
            Some(&(last, _)) if at < last => {
                // Before the window's end: its place is inside the window, after the events
                // at the same time or earlier.
                let i = self.window.partition_point(|&(t, _)| t <= at);
                self.window.insert(i, (at, event));
            }
            _ => self.queue.push(at, event),
        }
    }

    /// The earliest event, ties in the order they were scheduled.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.window.pop_front().or_else(|| self.queue.pop())
    }

    /// Takes events due by `until` from the queue into the window until it holds `width`,
    /// calling `taken` on each as it joins (the engine's prefetch).
    ///
    /// The bound keeps the window short in time as well as in events. Events scheduled
    /// before the window's end are inserted into it, which costs a shift of the entries
    /// after them; with the window spanning microseconds, only events due that soon (few,
    /// beside the milliseconds links take) land there. A window spanning milliseconds, as an
    /// unbounded one does when events are sparse, takes nearly every new event and grows.
    #[inline]
    pub fn fill(&mut self, width: usize, until: SimTime, mut taken: impl FnMut(&E)) {
        while self.window.len() < width && self.queue.peek_time().is_some_and(|t| t <= until) {
            let Some(entry) = self.queue.pop() else { break };
            taken(&entry.1);
            self.window.push_back(entry);
        }
    }

    /// The event `i` places from the front of the window, if the window is that long.
    #[inline]
    pub fn in_window(&self, i: usize) -> Option<&E> {
        self.window.get(i).map(|(_, e)| e)
    }

    /// When the earliest pending event is due.
    #[inline]
    pub fn peek_time(&self) -> Option<SimTime> {
        match self.window.front() {
            Some(&(t, _)) => Some(t),
            None => self.queue.peek_time(),
        }
    }

    pub fn len(&self) -> usize {
        self.window.len() + self.queue.len()
    }

    /// Bytes held on the heap (window and queue).
    pub fn heap_bytes(&self) -> usize {
        self.queue.heap_bytes() + self.window.capacity() * std::mem::size_of::<(SimTime, E)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One step of a run: handle the earliest event (which may schedule new ones, each some
    /// nanoseconds after it), then refill the window.
    #[derive(Clone, Debug)]
    struct Step {
        later: Vec<u64>,
        width: usize,
        span: u64,
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        proptest::collection::vec(
            (proptest::collection::vec(prop_oneof![Just(0u64), 0u64..5, 0u64..5_000], 0..4), 0usize..6, 0u64..3_000)
                .prop_map(|(later, width, span)| Step { later, width, span }),
            1..120,
        )
    }

    proptest! {
        #[test]
        fn pops_what_the_queue_alone_would(start in proptest::collection::vec(0u64..50, 1..20), run in steps()) {
            let mut ahead: Ahead<u32> = Ahead::new();
            let mut alone: EventQueue<u32> = EventQueue::new();
            let mut id = 0u32;
            for t in start {
                ahead.push(SimTime::from_nanos(t), id);
                alone.push(SimTime::from_nanos(t), id);
                id += 1;
            }
            for step in run {
                prop_assert_eq!(ahead.len(), alone.len());
                prop_assert_eq!(ahead.peek_time(), alone.peek_time());
                let (got, want) = (ahead.pop(), alone.pop());
                prop_assert_eq!(got, want);
                let Some((now, _)) = got else { break };
                for d in step.later {
                    ahead.push(now + crate::time::SimDuration::from_nanos(d), id);
                    alone.push(now + crate::time::SimDuration::from_nanos(d), id);
                    id += 1;
                }
                ahead.fill(step.width, now + crate::time::SimDuration::from_nanos(step.span), |_| ());
            }
            while let Some(want) = alone.pop() {
                prop_assert_eq!(ahead.pop(), Some(want));
            }
            prop_assert_eq!(ahead.len(), 0);
        }
    }

    #[test]
    fn an_event_scheduled_inside_the_window_waits_behind_its_ties() {
        let mut a: Ahead<&str> = Ahead::new();
        let t = SimTime::from_nanos;
        a.push(t(10), "a");
        a.push(t(20), "b");
        a.push(t(30), "c");
        a.fill(3, t(100), |_| ());
        assert_eq!(a.pop(), Some((t(10), "a")));
        a.push(t(20), "b2");
        a.push(t(15), "x");
        let order: Vec<_> = std::iter::from_fn(|| a.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["x", "b", "b2", "c"]);
    }
}
