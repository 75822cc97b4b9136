//! TURN (RFC 8656): a server and a client, with TURN REST API credentials.
//!
//! # Deviations from RFC 8656 and RFC 8489
//!
//! | requirement | what we do | why |
//! | --- | --- | --- |
//! | RFC 8489 §9.2.4: nonces expire (438 Stale Nonce) | every nonce the server issued stays valid; 438 only for a nonce it never issued | nonce expiry adds nothing to path simulation; the client handles 438 anyway |
//! | RFC 8489 §9.2.4: 401 when MESSAGE-INTEGRITY fails | 441 instead when the 5-tuple already has an allocation (as for a USERNAME that differs from the allocation's, RFC 8656 §5) | what an Edge whose secret changed under a live allocation answers; a fresh Allocate still gets 401 |
//! | RFC 8656 §7.2: IPv6 relaying, REQUESTED-ADDRESS-FAMILY, EVEN-PORT, RESERVATION-TOKEN, DONT-FRAGMENT | not supported: unknown comprehension-required attributes get 420 | IPv4 UDP relaying is what calls use |
//! | RFC 8656 §7.2: allocation quotas per user (486) | none; only the port range limits allocations (508) | |
//! | RFC 8656 §3.1/§12.4: TCP and TLS to the server | TCP as an in-order byte stream with STUN/ChannelData framing, no handshake or retransmission; TLS not modelled | the simulator's TCP is a carrier (see `proto::TcpStream`) |
//! | RFC 6062: TCP relaying to peers | not modelled | media is relayed over UDP |
//! | RFC 8489 §9.2.2: SASLprep, PASSWORD-ALGORITHMS, USERHASH | not applied: MD5 long-term keys from the password as given | REST API passwords are base64, for which the profile is the identity |
//! | RFC 8656 §11.2/§12.6: DF bit, ICMP relaying | not modelled | |

mod allocation;
mod client;
mod credentials;
mod server;

pub use allocation::{Allocation, AllocationCounters, ChannelBinding, FiveTuple};
pub use client::{TurnClient, TurnClientConfig, TurnClientEvent};
pub use credentials::{RestCredential, rest_expiry, rest_password};
pub use server::{DeleteReason, TurnServer, TurnServerConfig, TurnServerEvent};

#[cfg(test)]
mod tests;
