//! Stateful packet filters: network firewalls (on a firewall node or a router) and host
//! firewalls (Windows Firewall style, scoped by interface type, profile and program).
//!
//! `Firewall::check` is handed one packet with where it is going (a `Crossing`) and `now`;
//! it answers allow or deny and names the rule that decided. Connection tracking lets the
//! return traffic of an allowed flow through without rule evaluation, until it idles out.

use std::net::SocketAddrV4;
use std::ops::RangeInclusive;

use ipnet::Ipv4Net;
use rustc_hash::FxHashMap;

use crate::time::SimTime;
use crate::topology::{Action, Direction, FirewallConfig, FirewallRule, IfaceId, IfaceType, NetworkProfile, RuleOrder};
use crate::wire::{Datagram, Protocol, Transport};

/// Where a packet is crossing the firewall.
#[derive(Clone, Copy, Debug)]
pub struct Crossing<'a> {
    /// Host firewalls: arriving at (`In`) or leaving (`Out`) the host; `None` for network
    /// firewalls, which see traffic passing through.
    pub direction: Option<Direction>,
    pub in_iface: Option<IfaceId>,
    pub out_iface: Option<IfaceId>,
    /// Host firewalls: the type and profile of the host interface used.
    pub iface_type: Option<IfaceType>,
    pub profile: Option<NetworkProfile>,
    /// Host firewalls: the program owning the socket, if known.
    pub app: Option<&'a str>,
}

/// Which rule decided, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decider {
    /// The rule at this index of the configured list.
    Rule(u32),
    /// No rule matched: the default policy.
    Default,
    /// The packet belongs to a flow already allowed (connection tracking).
    Established,
}

/// The firewall's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirewallVerdict {
    pub action: Action,
    pub decider: Decider,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FlowKey {
    protocol: Protocol,
    a: SocketAddrV4,
    b: SocketAddrV4,
}

impl FlowKey {
    /// The same key for both directions of a flow.
    fn of(packet: &Datagram) -> Self {
        let (a, b) = if (packet.src.ip(), packet.src.port()) <= (packet.dst.ip(), packet.dst.port()) {
            (packet.src, packet.dst)
        } else {
            (packet.dst, packet.src)
        };
        FlowKey { protocol: packet.protocol(), a, b }
    }
}

/// A tracked flow: when it idles out, who started it, and through which interfaces.
#[derive(Clone, Copy, Debug)]
struct Flow {
    expires: SimTime,
    initiator: SocketAddrV4,
    in_iface: Option<IfaceId>,
    out_iface: Option<IfaceId>,
}

impl Flow {
    /// Whether `packet`, crossing at `at`, belongs to this flow: the same direction through
    /// the same interfaces, or the reverse direction through them swapped. A reply that
    /// comes back another way (asymmetric routing) is a new flow, as on real firewalls.
    fn admits(&self, packet: &Datagram, at: &Crossing<'_>) -> bool {
        if packet.src == self.initiator {
            at.in_iface == self.in_iface && at.out_iface == self.out_iface
        } else {
            at.in_iface == self.out_iface && at.out_iface == self.in_iface
        }
    }
}

/// One firewall's rules and connection table.
#[derive(Clone, Debug)]
pub struct Firewall {
    cfg: FirewallConfig,
    /// Evaluation order: indices into `cfg.rules`.
    order: Vec<u32>,
    flows: FxHashMap<FlowKey, Flow>,
}

impl Firewall {
    pub fn new(cfg: FirewallConfig) -> Self {
        let mut order: Vec<u32> = (0..cfg.rules.len() as u32).collect();
        if cfg.order == RuleOrder::DenyFirst {
            // Stable: deny rules first, each group in written order.
            order.sort_by_key(|&i| cfg.rules[i as usize].action != Action::Deny);
        }
        Firewall { cfg, order, flows: FxHashMap::default() }
    }

    pub fn config(&self) -> &FirewallConfig {
        &self.cfg
    }

    /// Decides one packet, recording the flow when a new one is allowed.
    pub fn check(&mut self, now: SimTime, packet: &Datagram, at: &Crossing<'_>) -> FirewallVerdict {
        let key = FlowKey::of(packet);
        let timeout = self.timeout(packet);
        if self.cfg.stateful
            && let Some(flow) = self.flows.get_mut(&key)
            && flow.expires > now
            && flow.admits(packet, at)
        {
            flow.expires = now + timeout;
            return FirewallVerdict { action: Action::Allow, decider: Decider::Established };
        }
        let verdict = self
            .order
            .iter()
            .find(|&&i| matches(&self.cfg.rules[i as usize], packet, at))
            .map(|&i| FirewallVerdict { action: self.cfg.rules[i as usize].action, decider: Decider::Rule(i) })
            .unwrap_or_else(|| FirewallVerdict {
                action: match at.direction {
                    Some(Direction::Out) => self.cfg.default_out,
                    _ => self.cfg.default_in,
                },
                decider: Decider::Default,
            });
        if verdict.action == Action::Allow && self.cfg.stateful {
            let flow =
                Flow { expires: now + timeout, initiator: packet.src, in_iface: at.in_iface, out_iface: at.out_iface };
            self.flows.insert(key, flow);
        }
        verdict
    }

    fn timeout(&self, packet: &Datagram) -> crate::time::SimDuration {
        match packet.transport {
            Transport::Udp => self.cfg.udp_timeout,
            Transport::Tcp(_) => self.cfg.tcp_timeout,
        }
    }
}

fn in_any(nets: &[Ipv4Net], addr: &std::net::Ipv4Addr) -> bool {
    nets.is_empty() || nets.iter().any(|n| n.contains(addr))
}

fn in_range(range: &Option<RangeInclusive<u16>>, port: u16) -> bool {
    range.as_ref().is_none_or(|r| r.contains(&port))
}

fn matches(r: &FirewallRule, p: &Datagram, at: &Crossing<'_>) -> bool {
    if r.direction.is_some() && r.direction != at.direction {
        return false;
    }
    if r.in_iface.is_some() && r.in_iface != at.in_iface {
        return false;
    }
    if r.out_iface.is_some() && r.out_iface != at.out_iface {
        return false;
    }
    if r.protocol.is_some_and(|proto| proto != p.protocol()) {
        return false;
    }
    if !in_any(&r.src, p.src.ip()) || !in_any(&r.dst, p.dst.ip()) {
        return false;
    }
    // Host scopes: "local" is the host's end of the packet, "remote" the peer's.
    let (local, remote) = match at.direction {
        Some(Direction::In) => (p.dst.ip(), p.src.ip()),
        _ => (p.src.ip(), p.dst.ip()),
    };
    if !in_any(&r.local, local) || !in_any(&r.remote, remote) {
        return false;
    }
    if !in_range(&r.src_ports, p.src.port()) || !in_range(&r.dst_ports, p.dst.port()) {
        return false;
    }
    if r.iface_type.is_some() && r.iface_type != at.iface_type {
        return false;
    }
    if r.profile.is_some() && r.profile != at.profile {
        return false;
    }
    match (&r.app, at.app) {
        (None, _) => true,
        (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    fn rule(action: Action) -> FirewallRule {
        FirewallRule::any(action)
    }

    fn cfg(rules: Vec<FirewallRule>, order: RuleOrder, default: Action) -> FirewallConfig {
        FirewallConfig {
            rules,
            order,
            default_in: default,
            default_out: default,
            stateful: true,
            udp_timeout: SimDuration::from_secs(60),
            tcp_timeout: SimDuration::from_secs(3600),
        }
    }

    fn udp(src: &str, dst: &str) -> Datagram {
        Datagram::udp(src.parse().unwrap(), dst.parse().unwrap(), vec![])
    }

    const NET: Crossing<'static> =
        Crossing { direction: None, in_iface: None, out_iface: None, iface_type: None, profile: None, app: None };

    #[test]
    fn first_match_and_default_policy() {
        let allow_stun = FirewallRule {
            protocol: Some(Protocol::Udp),
            dst: vec!["203.0.113.20/32".parse().unwrap()],
            dst_ports: Some(3478..=3478),
            ..rule(Action::Allow)
        };
        let mut fw = Firewall::new(cfg(vec![allow_stun, rule(Action::Deny)], RuleOrder::FirstMatch, Action::Allow));
        let v = fw.check(SimTime::ZERO, &udp("198.51.100.2:5000", "203.0.113.20:3478"), &NET);
        assert_eq!(v, FirewallVerdict { action: Action::Allow, decider: Decider::Rule(0) });
        let v = fw.check(SimTime::ZERO, &udp("198.51.100.2:5000", "203.0.113.20:443"), &NET);
        assert_eq!(v, FirewallVerdict { action: Action::Deny, decider: Decider::Rule(1) });
        let mut open = Firewall::new(cfg(vec![], RuleOrder::FirstMatch, Action::Deny));
        assert_eq!(open.check(SimTime::ZERO, &udp("1.1.1.1:1", "2.2.2.2:2"), &NET).decider, Decider::Default);
    }

    #[test]
    fn return_traffic_passes_until_the_flow_idles_out() {
        let inside_out = FirewallRule { src: vec!["10.0.0.0/8".parse().unwrap()], ..rule(Action::Allow) };
        let mut fw = Firewall::new(cfg(vec![inside_out], RuleOrder::FirstMatch, Action::Deny));
        let s = 1_000_000_000u64;
        assert_eq!(fw.check(SimTime::ZERO, &udp("10.0.0.5:5000", "192.0.2.1:3478"), &NET).action, Action::Allow);
        let back = udp("192.0.2.1:3478", "10.0.0.5:5000");
        assert_eq!(fw.check(SimTime::from_nanos(30 * s), &back, &NET).decider, Decider::Established);
        // Refreshed at 30 s, so it lives until 90 s; at 91 s the reply is a new, denied flow.
        assert_eq!(fw.check(SimTime::from_nanos(91 * s), &back, &NET).action, Action::Deny);
        // Unsolicited from outside: denied by default.
        assert_eq!(fw.check(SimTime::ZERO, &udp("192.0.2.9:1", "10.0.0.5:5000"), &NET).action, Action::Deny);
    }

    /// A reply that comes back through other interfaces than the flow went out by is not
    /// "established": the asymmetric path of seed 001's Edge without a persistent route.
    #[test]
    fn asymmetric_replies_are_new_flows() {
        let ifaces = |i: u32, o: u32| Crossing { in_iface: Some(IfaceId(i)), out_iface: Some(IfaceId(o)), ..NET };
        let from_tunnel = FirewallRule { in_iface: Some(IfaceId(3)), ..rule(Action::Allow) };
        let mut fw = Firewall::new(cfg(vec![from_tunnel], RuleOrder::FirstMatch, Action::Deny));
        let there = udp("10.20.1.50:50000", "172.16.20.10:3478");
        let back = udp("172.16.20.10:3478", "10.20.1.50:50000");
        assert_eq!(fw.check(SimTime::ZERO, &there, &ifaces(3, 2)).action, Action::Allow);
        assert_eq!(fw.check(SimTime::ZERO, &back, &ifaces(2, 3)).decider, Decider::Established);
        assert_eq!(
            fw.check(SimTime::ZERO, &back, &ifaces(1, 3)),
            FirewallVerdict { action: Action::Deny, decider: Decider::Default }
        );
    }

    /// Seed 000's Windows Firewall rule: block Communicator.exe between the VPN subnet and
    /// the corporate and VPN subnets, on remote-access interfaces, in the domain profile.
    #[test]
    fn seed_000_rule_blocks_only_vpn_media() {
        let block = |direction| FirewallRule {
            name: Some("Block Lync media over VPN".into()),
            direction: Some(direction),
            local: vec!["10.99.0.0/24".parse().unwrap()],
            remote: vec!["10.0.0.0/8".parse().unwrap(), "10.99.0.0/24".parse().unwrap()],
            iface_type: Some(IfaceType::RemoteAccess),
            profile: Some(NetworkProfile::Domain),
            app: Some("Communicator.exe".into()),
            ..rule(Action::Deny)
        };
        let allow_all = rule(Action::Allow);
        let mut fw = Firewall::new(cfg(
            vec![allow_all, block(Direction::In), block(Direction::Out)],
            RuleOrder::DenyFirst,
            Action::Allow,
        ));
        let vpn = Crossing {
            direction: Some(Direction::Out),
            iface_type: Some(IfaceType::RemoteAccess),
            profile: Some(NetworkProfile::Domain),
            app: Some("communicator.exe"),
            ..NET
        };
        let to_desk = udp("10.99.0.10:50000", "10.0.1.20:50010");
        // Deny-first: the block wins over the allow-all listed before it.
        assert_eq!(
            fw.check(SimTime::ZERO, &to_desk, &vpn),
            FirewallVerdict { action: Action::Deny, decider: Decider::Rule(2) }
        );
        // Another program on the same path is not blocked.
        assert_eq!(
            fw.check(SimTime::ZERO, &to_desk, &Crossing { app: Some("outlook.exe"), ..vpn }).action,
            Action::Allow
        );
        // The client's media to the Edge's public address over the physical NIC passes.
        let wifi = Crossing { iface_type: Some(IfaceType::Wireless), profile: Some(NetworkProfile::Public), ..vpn };
        assert_eq!(
            fw.check(SimTime::ZERO, &udp("192.168.1.10:50000", "203.0.113.20:3478"), &wifi).action,
            Action::Allow
        );
        // Inbound from a corporate host over the VPN is blocked by the inbound twin.
        let inbound = Crossing { direction: Some(Direction::In), ..vpn };
        let from_desk = udp("10.0.1.20:50010", "10.99.0.10:50002");
        assert_eq!(fw.check(SimTime::ZERO, &from_desk, &inbound).decider, Decider::Rule(1));
    }
}
