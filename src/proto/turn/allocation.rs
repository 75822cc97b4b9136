//! One TURN allocation on the server: its relayed address, lifetime, permissions, channel
//! bindings and traffic counters (RFC 8656 §2.2, §9, §12).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use serde::Serialize;

use crate::time::SimTime;
use crate::wire::Protocol;

/// The client side of an allocation: transport, client address and server address
/// (RFC 8656 §2.2: allocations are keyed by this 5-tuple).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiveTuple {
    pub protocol: Protocol,
    pub client: SocketAddrV4,
    pub server: SocketAddrV4,
}

/// Packets and bytes relayed through an allocation, each way, and what was refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AllocationCounters {
    pub packets_to_peer: u64,
    pub bytes_to_peer: u64,
    pub packets_from_peer: u64,
    pub bytes_from_peer: u64,
    /// Packets dropped, either way, because the peer had no permission (RFC 8656 §9).
    pub dropped_no_permission: u64,
}

/// A channel bound to a peer (RFC 8656 §12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelBinding {
    pub peer: SocketAddrV4,
    pub expires: SimTime,
}

/// An allocation as the server keeps it.
#[derive(Clone, Debug)]
pub struct Allocation {
    pub five_tuple: FiveTuple,
    /// The username that created it: later requests must use the same (RFC 8656 §5).
    pub username: String,
    /// The relayed transport address on the server's interface.
    pub relay: SocketAddrV4,
    /// The relayed address as advertised to the client (XOR-RELAYED-ADDRESS).
    pub relayed: SocketAddrV4,
    pub expires: SimTime,
    /// Permissions by peer IP address; the port is ignored (RFC 8656 §9).
    pub permissions: BTreeMap<Ipv4Addr, SimTime>,
    pub channels: BTreeMap<u16, ChannelBinding>,
    pub counters: AllocationCounters,
}

impl Allocation {
    /// Whether `peer` has an unexpired permission.
    pub fn has_permission(&self, now: SimTime, peer: Ipv4Addr) -> bool {
        self.permissions.get(&peer).is_some_and(|&e| e > now)
    }

    /// The peer bound to `channel`, if the binding is live.
    pub fn channel_peer(&self, now: SimTime, channel: u16) -> Option<SocketAddrV4> {
        self.channels.get(&channel).filter(|b| b.expires > now).map(|b| b.peer)
    }

    /// The live channel bound to `peer`.
    pub fn peer_channel(&self, now: SimTime, peer: SocketAddrV4) -> Option<u16> {
        self.channels.iter().find(|(_, b)| b.peer == peer && b.expires > now).map(|(c, _)| *c)
    }

    /// Removes expired permissions and channel bindings.
    pub fn prune(&mut self, now: SimTime) {
        self.permissions.retain(|_, e| *e > now);
        self.channels.retain(|_, b| b.expires > now);
    }

    /// The earliest instant something in this allocation expires.
    pub fn next_timeout(&self) -> SimTime {
        let perms = self.permissions.values().copied();
        let chans = self.channels.values().map(|b| b.expires);
        perms.chain(chans).fold(self.expires, SimTime::min)
    }
}
