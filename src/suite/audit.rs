//! The zone reachability audit (S21): for every ordered pair of zones, what in the second
//! can be reached by a new, unsolicited flow started in the first.
//!
//! Nothing here reads a rule to decide reachability. Every node of a zone sends probe
//! packets (a UDP datagram, and a TCP SYN) to every address in the network (interfaces,
//! their aliases such as a NAT's published addresses, and NAT outside addresses for port
//! forwards), and the audit records where the engine delivered each one: through the real
//! routing, NAT and firewall models, host firewalls included.
//!
//! Which ports to probe: rules and port forwards match on port ranges, so reachability as
//! a function of the destination port only changes at a range's first port or just after
//! its last. Probing the first port of every interval between those boundaries therefore
//! covers every port, and the results are stated as ranges. Each source node gets a fresh
//! simulation, so no probe is ever a reply to an earlier one; link loss is switched off so
//! a lost probe is never mistaken for a blocked one.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use serde::Serialize;

use super::expect::Check;
use super::file::{AuditDef, AuditExpect};
use crate::engine::{Engine, Limits};
use crate::net::forward::egress;
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::topology::{IfaceId, NodeId, Topology};
use crate::trace::{PacketId, Record, TraceLevel};
use crate::wire::{Datagram, Protocol, TcpFlags, TcpHeader};

/// A service reached: a node, a transport and a range of destination ports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Reachable {
    pub node: String,
    pub protocol: Protocol,
    pub ports: (u16, u16),
    /// The addresses probes were sent to (a published address, or the node's own).
    pub addresses: Vec<Ipv4Addr>,
    /// The nodes of the source zone that reached it.
    pub from: Vec<String>,
}

impl Reachable {
    /// `edge01 udp/3478` or `edge01 udp/50000-59999`.
    pub fn service(&self) -> String {
        service_text(&self.node, self.protocol, self.ports)
    }
}

fn service_text(node: &str, protocol: Protocol, (lo, hi): (u16, u16)) -> String {
    if lo == hi { format!("{node} {protocol}/{lo}") } else { format!("{node} {protocol}/{lo}-{hi}") }
}

/// What one zone reaches in another.
#[derive(Clone, Debug, Serialize)]
pub struct ZonePair {
    pub from: String,
    pub to: String,
    pub reachable: Vec<Reachable>,
}

/// The whole audit.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    pub pairs: Vec<ZonePair>,
    /// How many probe packets were sent.
    pub probes: u64,
    /// Findings that break the usual rule of zones: anything from `internet` into `lan`.
    pub flags: Vec<String>,
    /// The NICs probed one by one (`edge01/ext0`), with their node's zone.
    pub nics: BTreeMap<String, String>,
}

impl AuditReport {
    pub fn pair(&self, from: &str, to: &str) -> Option<&ZonePair> {
        self.pairs.iter().find(|p| p.from == from && p.to == to)
    }

    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let _ = writeln!(o, "unsolicited reachability between zones ({} probes):", self.probes);
        for p in &self.pairs {
            if p.reachable.is_empty() {
                let _ = writeln!(o, "  {} -> {}: nothing", p.from, p.to);
                continue;
            }
            let _ = writeln!(o, "  {} -> {}:", p.from, p.to);
            for r in &p.reachable {
                let addrs: Vec<String> = r.addresses.iter().map(|a| a.to_string()).collect();
                let _ = writeln!(o, "    {:<28} at {} from {}", r.service(), addrs.join(", "), r.from.join(", "));
            }
        }
        for f in &self.flags {
            let _ = writeln!(o, "  FLAG: {f}");
        }
        o
    }
}

/// The port intervals to probe: the first port of each interval between range boundaries.
fn probe_ports(t: &Topology) -> Vec<(u16, u16)> {
    let mut cuts: BTreeSet<u32> = BTreeSet::from([1, 65536]);
    let mut cut = |lo: u16, hi: u16| {
        cuts.insert(u32::from(lo));
        cuts.insert(u32::from(hi) + 1);
    };
    for n in &t.nodes {
        if let Some(fw) = &n.roles.firewall {
            for r in &fw.rules {
                for range in [&r.src_ports, &r.dst_ports].into_iter().flatten() {
                    cut(*range.start(), *range.end());
                }
            }
        }
        if let Some(nat) = &n.roles.nat {
            for f in &nat.port_forwards {
                cut(f.external_port, f.external_port);
            }
        }
    }
    let cuts: Vec<u32> = cuts.into_iter().collect();
    cuts.windows(2).map(|w| (w[0] as u16, (w[1] - 1) as u16)).collect()
}

/// Every address a probe could be sent to, with no repeats.
fn destinations(t: &Topology) -> Vec<Ipv4Addr> {
    let mut out = BTreeSet::new();
    for i in &t.ifaces {
        out.extend(i.addresses());
    }
    for n in &t.nodes {
        if let Some(nat) = &n.roles.nat {
            out.insert(nat.external);
        }
    }
    out.into_iter().collect()
}

/// Runs the audit on `t`.
pub fn audit(t: &Topology) -> AuditReport {
    // No loss: a lost probe would read as a blocked one.
    let mut quiet = t.clone();
    for l in &mut quiet.links {
        l.props.loss = 0.0;
    }
    let t = &quiet;
    let ports = probe_ports(t);
    let dsts = destinations(t);
    let zone_of = |n: NodeId| t.node(n).zone.clone();
    // (from zone, to zone) -> (node, protocol, interval) -> (addresses, sources)
    type Found = BTreeMap<(String, Protocol, (u16, u16)), (BTreeSet<Ipv4Addr>, BTreeSet<String>)>;
    let mut found: BTreeMap<(String, String), Found> = BTreeMap::new();
    let mut probes = 0u64;
    let mut nics = BTreeMap::new();
    for src in &t.nodes {
        let Some(src_zone) = src.zone.clone() else { continue };
        let mut e = Engine::new(t, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
        let mut sent: BTreeMap<PacketId, (Protocol, (u16, u16), Ipv4Addr, String)> = BTreeMap::new();
        let mut k = 0u64;
        // A multi-homed server (an Edge) is probed from each NIC separately, bound to it:
        // "the Edge's external NIC cannot reach the LAN" is a claim about one NIC.
        let per_nic = !src.forwarding && src.ifaces.iter().filter(|&&i| !t.iface(i).is_tunnel).count() > 1;
        let faces: Vec<Option<IfaceId>> =
            if per_nic { src.ifaces.iter().map(|&i| Some(i)).collect() } else { vec![None] };
        for &dst in &dsts {
            if t.is_local(src.id, dst) {
                continue;
            }
            for face in &faces {
                let (src_ip, hop, label) = match face {
                    None => {
                        let Some((via, _)) = egress(t, src.id, dst) else { continue };
                        (t.iface(via).addr, None, src.name.clone())
                    }
                    Some(i) => {
                        let Some(hop) = next_hop_on(t, src.id, *i, dst) else { continue };
                        let label = format!("{}/{}", src.name, t.iface(*i).name);
                        nics.insert(label.clone(), src_zone.clone());
                        (t.iface(*i).addr, Some((*i, hop)), label)
                    }
                };
                for &range in &ports {
                    for protocol in [Protocol::Udp, Protocol::Tcp] {
                        // A fresh source port per probe, so no probe matches another's state.
                        let sport = 1024 + (k % 64_000) as u16;
                        let at = SimTime::ZERO + SimDuration::from_micros(50 * k);
                        k += 1;
                        let (s, d) = (SocketAddrV4::new(src_ip, sport), SocketAddrV4::new(dst, range.0));
                        let datagram = match protocol {
                            Protocol::Udp => Datagram::udp(s, d, b"icepath-audit".to_vec()),
                            Protocol::Tcp => {
                                let syn = TcpHeader { seq: 1, ack: 0, flags: TcpFlags::SYN, window: 65535 };
                                Datagram::tcp(s, d, syn, Vec::new())
                            }
                        };
                        let id = match hop {
                            None => Some(e.send_at(at, src.id, datagram)),
                            Some((via, hop)) => e.send_out(at, src.id, via, hop, datagram),
                        };
                        if let Some(id) = id {
                            sent.insert(id, (protocol, range, dst, label.clone()));
                        }
                    }
                }
            }
        }
        probes += k;
        e.run();
        for r in e.trace().records() {
            let Record::Delivered { packet, node, .. } = r else { continue };
            let Some((protocol, range, dst, label)) = sent.get(packet) else { continue };
            let (protocol, range, dst) = (*protocol, *range, *dst);
            let Some(to_zone) = zone_of(*node) else { continue };
            if to_zone == src_zone {
                continue;
            }
            let entry = found
                .entry((src_zone.clone(), to_zone))
                .or_default()
                .entry((t.node(*node).name.clone(), protocol, range))
                .or_default();
            entry.0.insert(dst);
            entry.1.insert(label.clone());
        }
    }
    let zones: Vec<&String> = t.zones.keys().collect();
    let mut pairs = Vec::new();
    for a in &zones {
        for b in &zones {
            if a == b {
                continue;
            }
            let mut reachable: Vec<Reachable> = Vec::new();
            if let Some(f) = found.get(&((*a).clone(), (*b).clone())) {
                for ((node, protocol, range), (addrs, from)) in f {
                    let addresses: Vec<Ipv4Addr> = addrs.iter().copied().collect();
                    let from: Vec<String> = from.iter().cloned().collect();
                    // Merge with the previous interval when it continues it exactly.
                    if let Some(last) = reachable.last_mut()
                        && last.node == *node
                        && last.protocol == *protocol
                        && u32::from(last.ports.1) + 1 == u32::from(range.0)
                        && last.addresses == addresses
                        && last.from == from
                    {
                        last.ports.1 = range.1;
                        continue;
                    }
                    reachable.push(Reachable {
                        node: node.clone(),
                        protocol: *protocol,
                        ports: *range,
                        addresses,
                        from,
                    });
                }
            }
            pairs.push(ZonePair { from: (*a).clone(), to: (*b).clone(), reachable });
        }
    }
    let mut flags = Vec::new();
    if let Some(p) = pairs.iter().find(|p| p.from == "internet" && p.to == "lan") {
        for r in &p.reachable {
            flags.push(format!("the internet reaches {} in the LAN unsolicited", r.service()));
        }
    }
    AuditReport { pairs, probes, flags, nics }
}

/// The neighbour a probe bound to `iface` goes to for `dst`: the route's next hop when the
/// routing table already sends `dst` out of this NIC; otherwise `dst` itself when it is on
/// the NIC's subnet; otherwise the node's gateway when it is on that subnet; otherwise the
/// first router on the link.
fn next_hop_on(t: &Topology, node: NodeId, iface: IfaceId, dst: Ipv4Addr) -> Option<Ipv4Addr> {
    let f = t.iface(iface);
    if let Some((via, hop)) = egress(t, node, dst)
        && via == iface
    {
        return Some(hop);
    }
    if f.net.contains(&dst) {
        return Some(dst);
    }
    let n = t.node(node);
    let default = n.routes.lookup(Ipv4Addr::UNSPECIFIED).filter(|r| r.prefix.prefix_len() == 0);
    if let Some(gw) = default.and_then(|r| r.next_hop)
        && f.net.contains(&gw)
    {
        return Some(gw);
    }
    t.ifaces.iter().filter(|o| o.link == f.link && o.node != node && t.node(o.node).forwarding).map(|o| o.addr).next()
}

/// Reads `edge01 udp/3478` or `edge01 tcp/50000-59999`.
pub(crate) fn parse_service(s: &str) -> Option<(String, Protocol, (u16, u16))> {
    let (node, rest) = s.trim().split_once(' ')?;
    let (proto, ports) = rest.trim().split_once('/')?;
    let protocol = match proto {
        "udp" => Protocol::Udp,
        "tcp" => Protocol::Tcp,
        _ => return None,
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((lo, hi)) => (lo.parse().ok()?, hi.parse().ok()?),
        None => {
            let p: u16 = ports.parse().ok()?;
            (p, p)
        }
    };
    (lo <= hi && lo > 0).then(|| (node.to_string(), protocol, (lo, hi)))
}

/// Judges one audit assertion.
pub(crate) fn judge(a: &AuditDef, report: &AuditReport) -> Check {
    let (from, to) = (&a.from.value, &a.to.value);
    // `from` is a zone, or one NIC of a multi-homed server (`edge01/ext0`).
    let (zone, nic) = match report.nics.get(from) {
        Some(zone) => (zone.as_str(), Some(from.as_str())),
        None => (from.as_str(), None),
    };
    let got: Vec<String> = report
        .pair(zone, to)
        .map(|p| {
            p.reachable
                .iter()
                .filter(|r| nic.is_none_or(|n| r.from.iter().any(|f| f == n)))
                .map(Reachable::service)
                .collect()
        })
        .unwrap_or_default();
    let shown = if got.is_empty() { "nothing".to_string() } else { got.join(", ") };
    match &a.expect {
        AuditExpect::Nothing => Check {
            what: format!("audit {from} -> {to}: nothing reachable"),
            passed: got.is_empty(),
            detail: format!("reachable: {shown}"),
        },
        AuditExpect::Only(list) | AuditExpect::Includes(list) => {
            let only = matches!(a.expect, AuditExpect::Only(_));
            let want: BTreeSet<String> = list
                .iter()
                .map(|s| parse_service(&s.value).map_or_else(|| s.value.clone(), |(n, p, r)| service_text(&n, p, r)))
                .collect();
            let have: BTreeSet<String> = got.iter().cloned().collect();
            let missing: Vec<&String> = want.difference(&have).collect();
            let extra: Vec<&String> = have.difference(&want).collect();
            let passed = missing.is_empty() && (!only || extra.is_empty());
            let mut detail = format!("reachable: {shown}");
            if !missing.is_empty() {
                detail.push_str(&format!("; missing: {}", join(&missing)));
            }
            if only && !extra.is_empty() {
                detail.push_str(&format!("; unexpected: {}", join(&extra)));
            }
            let list: Vec<&String> = want.iter().collect();
            let what = format!("audit {from} -> {to}: {} {}", if only { "only" } else { "includes" }, join(&list));
            Check { what, passed, detail }
        }
    }
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_read_and_print_the_same() {
        assert_eq!(parse_service("edge01 udp/3478"), Some(("edge01".into(), Protocol::Udp, (3478, 3478))));
        assert_eq!(parse_service("edge01 tcp/50000-59999"), Some(("edge01".into(), Protocol::Tcp, (50000, 59999))));
        assert_eq!(parse_service("edge01 icmp/1"), None);
        assert_eq!(parse_service("edge01 udp/9-3"), None);
        assert_eq!(parse_service("edge01"), None);
        assert_eq!(service_text("e", Protocol::Udp, (5, 5)), "e udp/5");
    }
}
