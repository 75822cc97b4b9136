//! A STUN client transaction's retransmission timer (RFC 8489 §6.2.1, §6.2.2).
//!
//! Over UDP a request is sent at 0, RTO, 3·RTO, 7·RTO … doubling the interval, Rc = 7 times
//! in all, and the transaction fails Rm·RTO after the last send: with RTO = 500 ms that is
//! sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s and failure at 39.5 s. Over TCP the request
//! is sent once and fails after Ti = 39.5 s. The timer is told the time; it never reads one.

use crate::time::{SimDuration, SimTime};
use crate::wire::stun::TransactionId;

/// Initial retransmission timeout (RFC 8489 §6.2.1: SHOULD be 500 ms when unknown).
pub const INITIAL_RTO: SimDuration = SimDuration::from_millis(500);
/// Rc: total transmissions over UDP (RFC 8489 §6.2.1 default).
pub const RC: u32 = 7;
/// Rm: the last wait as a multiple of the initial RTO (RFC 8489 §6.2.1 default).
pub const RM: u64 = 16;
/// Ti: the transaction timeout over reliable transports (RFC 8489 §6.2.2).
pub const TI: SimDuration = SimDuration::from_millis(39_500);

/// What to do when a transaction's timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerAction {
    /// Not due yet.
    Wait,
    /// Send the request again.
    Retransmit,
    /// The transaction failed: no response in time.
    GiveUp,
}

/// An outstanding request and its timer.
#[derive(Clone, Debug)]
pub struct Transaction {
    pub id: TransactionId,
    /// The exact bytes to (re)send: retransmissions are identical (RFC 8489 §6.2.1).
    pub bytes: Vec<u8>,
    sends: u32,
    rto: SimDuration,
    next: SimTime,
    reliable: bool,
}

impl Transaction {
    /// A transaction whose request the caller sends now, for the first time.
    pub fn new(now: SimTime, id: TransactionId, bytes: Vec<u8>, reliable: bool) -> Transaction {
        let next = if reliable { now + TI } else { now + INITIAL_RTO };
        Transaction { id, bytes, sends: 1, rto: INITIAL_RTO, next, reliable }
    }

    /// When the timer fires next: a retransmission or the deadline.
    pub fn next_timeout(&self) -> SimTime {
        self.next
    }

    /// How many times the request has been sent.
    pub fn sends(&self) -> u32 {
        self.sends
    }

    /// Advances the timer to `now`; on `Retransmit` the caller sends `bytes` again.
    pub fn handle_timeout(&mut self, now: SimTime) -> TimerAction {
        if now < self.next {
            return TimerAction::Wait;
        }
        if self.reliable || self.sends >= RC {
            return TimerAction::GiveUp;
        }
        self.sends += 1;
        self.rto = self.rto + self.rto;
        self.next =
            if self.sends == RC { now + SimDuration::from_nanos(INITIAL_RTO.as_nanos() * RM) } else { now + self.rto };
        TimerAction::Retransmit
    }
}

/// Outstanding transactions by id. An endpoint has a handful at a time, so a Vec kept
/// sorted by id does every lookup with a binary search and allocates once for good, where a
/// `BTreeMap` allocates a node per endpoint and chases pointers. Iteration is in id order,
/// as the map's was, so what is due at one instant is handled in the same order.
#[derive(Clone, Debug)]
pub(crate) struct Transactions<T> {
    entries: Vec<(TransactionId, T)>,
}

impl<T> Default for Transactions<T> {
    fn default() -> Transactions<T> {
        Transactions { entries: Vec::new() }
    }
}

impl<T> Transactions<T> {
    fn find(&self, id: &TransactionId) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(id))
    }

    /// Adds (or replaces) the entry for `id`.
    pub fn insert(&mut self, id: TransactionId, value: T) {
        match self.find(&id) {
            Ok(i) => self.entries[i].1 = value,
            Err(i) => self.entries.insert(i, (id, value)),
        }
    }

    #[cfg(test)]
    pub fn get(&self, id: &TransactionId) -> Option<&T> {
        self.find(id).ok().map(|i| &self.entries[i].1)
    }

    pub fn contains_key(&self, id: &TransactionId) -> bool {
        self.find(id).is_ok()
    }

    pub fn remove(&mut self, id: &TransactionId) -> Option<T> {
        self.find(id).ok().map(|i| self.entries.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry at `index` in id order, its value mutable.
    pub fn get_index_mut(&mut self, index: usize) -> Option<(&TransactionId, &mut T)> {
        self.entries.get_mut(index).map(|(k, v)| (&*k, v))
    }

    /// Entries in id order, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&TransactionId, &mut T)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries.iter_mut().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_schedule_matches_rfc8489_example() {
        let ms = |m| SimTime::ZERO + SimDuration::from_millis(m);
        let mut t = Transaction::new(SimTime::ZERO, TransactionId::default(), vec![], false);
        let mut sends = vec![0];
        let mut now;
        loop {
            now = t.next_timeout();
            match t.handle_timeout(now) {
                TimerAction::Retransmit => sends.push(now.as_nanos() / 1_000_000),
                TimerAction::GiveUp => break,
                TimerAction::Wait => unreachable!("fired at its own timeout"),
            }
        }
        assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(now, ms(39_500));
        assert_eq!(t.sends(), RC);
    }

    #[test]
    fn transactions_iterate_in_id_order() {
        let mut t = Transactions::default();
        for (i, id) in [5u8, 1, 9, 3].into_iter().enumerate() {
            t.insert(TransactionId([id; 12]), i);
        }
        t.insert(TransactionId([9; 12]), 7);
        assert_eq!(t.values().copied().collect::<Vec<_>>(), [1, 3, 0, 7]);
        assert_eq!(t.remove(&TransactionId([3; 12])), Some(3));
        assert_eq!(t.remove(&TransactionId([3; 12])), None);
        assert!(t.contains_key(&TransactionId([1; 12])) && !t.contains_key(&TransactionId([2; 12])));
        assert_eq!(t.get(&TransactionId([5; 12])), Some(&0));
    }

    #[test]
    fn early_timeouts_wait_and_tcp_never_retransmits() {
        let mut t = Transaction::new(SimTime::ZERO, TransactionId::default(), vec![], false);
        assert_eq!(t.handle_timeout(SimTime::ZERO + SimDuration::from_millis(499)), TimerAction::Wait);
        let mut r = Transaction::new(SimTime::ZERO, TransactionId::default(), vec![], true);
        assert_eq!(r.next_timeout(), SimTime::ZERO + TI);
        assert_eq!(r.handle_timeout(SimTime::ZERO + TI), TimerAction::GiveUp);
    }
}
