//! The enterprise a population file describes, written out as an ordinary topology file
//! (so `icepath check`, `trace`, `call` and `audit` work on it too), with the list of its
//! users.
//!
//! The network, and its address plan:
//!
//! - `internet`: one core router. It joins the DMZ (203.0.113.0/24), each site's breakout
//!   (198.18.0.0/16, a /30 each) and each ISP (198.19.0.0/16, a /30 each).
//! - The DMZ holds the Edge servers' external NICs (203.0.113.10 onwards) and the VPN
//!   concentrators' outsides (203.0.113.5 onwards). Edges are not behind a NAT here.
//! - `dc-rtr`: the data centre router. It joins the front end's LAN (10.0.1.0/24, `lync-fe`
//!   is the registrar of internal users), the perimeter (10.0.254.0/24: the Edges' internal
//!   NICs), the concentrators' inside (10.0.253.0/24) and one WAN line per site
//!   (10.250.0.0/16, a /30 each). It routes each site and each VPN pool.
//! - Site `k` (from 1) owns 10.k.0.0/16: LAN segments of up to 62 users (a /26 each) on its
//!   gateway `sK-gw`, which sends 10.0.0.0/8 over the WAN and everything else to the internet
//!   through its NAT (`sites.nat`, symmetric by default as enterprise firewalls are).
//! - Home users: each behind its own home router (a NAT of the preset drawn for it) on a /30
//!   in 172.16.0.0/12 (the home LAN link carries the broadband line's latency, jitter and
//!   bandwidth). Home routers sit 62 to an ISP access segment (a /26 of 100.64.0.0/10,
//!   standing in for ISPs' public space); an ISP router serves 32 segments (a /21).
//! - VPN users are home users with a tunnel to a concentrator (pool 10.(240+c).0.0/16):
//!   full tunnel users sign in internally (through the tunnel to `lync-fe`); split tunnel
//!   users send only 10.0.0.0/8 into the tunnel and sign in through the Access Edge, the
//!   documented fix.
//! - Edge pool `p` (from 1) has servers `eP-1`, `eP-2`, ... sharing the pool's secret; the
//!   first is the pool's Access Edge (home users sign in there). Users are spread over the
//!   pools (sites round-robin, home users by number) and over each pool's servers.
//!
//! Generated hosts are cheap: one NIC and one default route (VPN users add the tunnel).
//! Which preset and which tunnel each home user gets is drawn from the seed.

use std::fmt::Write as _;

use serde::Serialize;

use super::spec::{PopulationSpec, preset_name};
use super::units_text::duration_text;
use crate::rng::SimRng;
use crate::topology::NatPreset;

/// Users per LAN or ISP access segment: a /26 holds 62 hosts, one is the router.
const PER_SEGMENT: u32 = 61;
/// Access segments per ISP router.
const SEGMENTS_PER_ISP: u32 = 32;

/// Where a user sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserKind {
    /// On a site's LAN.
    Site,
    /// At home, behind a home router.
    Home,
    /// At home, on a full-tunnel VPN.
    VpnFull,
    /// At home, on a split-tunnel VPN.
    VpnSplit,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Site => "site",
            UserKind::Home => "home",
            UserKind::VpnFull => "vpn-full",
            UserKind::VpnSplit => "vpn-split",
        }
    }
}

/// One user of the population.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// The node id in the generated topology.
    pub name: String,
    pub kind: UserKind,
    /// The home router's NAT preset (`None` on a site).
    #[serde(skip)]
    pub nat: Option<NatPreset>,
}

/// A generated enterprise: the topology file's text and who its users are.
#[derive(Clone, Debug)]
pub struct Generated {
    pub yaml: String,
    /// Site users (site by site), then home users, in node order.
    pub users: Vec<User>,
    /// Edge servers, pool by pool.
    pub edges: Vec<String>,
    pub concentrators: Vec<String>,
}

/// Writes the topology of `spec`, drawing home NAT presets and VPN tunnels from `seed`.
pub fn generate(spec: &PopulationSpec, seed: u64) -> Generated {
    let mut rng = SimRng::new(seed).fork("population/generate");
    let mut y = String::with_capacity(256 + 600 * spec.users() as usize);
    let mut users = Vec::with_capacity(spec.users() as usize);
    let s = &spec.sites;
    let h = &spec.homes;
    let pools = spec.edges.pools;
    let servers = spec.edges.servers;
    let edge_name = |pool: u32, server: u32| format!("e{}-{}", pool + 1, server + 1);
    let edges: Vec<String> =
        (0..pools).flat_map(|p| (0..servers).map(move |k| (p, k))).map(|(p, k)| edge_name(p, k)).collect();
    let concentrators: Vec<String> = if h.vpn_share > 0.0 {
        (0..spec.vpn.concentrators).map(|c| format!("vpn{}", c + 1)).collect()
    } else {
        Vec::new()
    };

    // Which home users are on which tunnel, and behind which NAT: drawn first, in user order.
    let home_draws: Vec<(NatPreset, UserKind)> = (0..h.users)
        .map(|_| {
            let u = rng.unit();
            let mut acc = 0.0;
            let mut preset = h.nat.last().map_or(NatPreset::PortRestrictedCone, |x| x.0);
            for &(p, share) in &h.nat {
                acc += share;
                if u < acc {
                    preset = p;
                    break;
                }
            }
            let kind = if rng.unit() < h.vpn_share && !concentrators.is_empty() {
                if rng.unit() < h.vpn_full { UserKind::VpnFull } else { UserKind::VpnSplit }
            } else {
                UserKind::Home
            };
            (preset, kind)
        })
        .collect();

    let _ =
        writeln!(y, "# Generated by `icepath generate` from population `{}` (seed {seed}): do not edit by", spec.name);
    let _ = writeln!(y, "# hand, change the population file and generate again. The address plan is described");
    let _ = writeln!(y, "# in src/population/generate.rs.");
    let _ = writeln!(y, "name: {}", spec.name);
    let _ = writeln!(
        y,
        "description: \"{} sites of {} users, {} home users ({} on VPN), {} Edge pool(s) of {}\"",
        s.count,
        s.users,
        h.users,
        home_draws.iter().filter(|d| d.1 != UserKind::Home).count(),
        pools,
        servers
    );
    y.push_str("zones:\n  internet: \"The public internet and the ISPs\"\n  dmz: \"Edge servers and VPN concentrators\"\n  dc: \"The data centre and the perimeter\"\n  site: \"Office LANs\"\n  home: \"Home users and their routers\"\n");

    // ---- links ----
    y.push_str("links:\n");
    let _ = writeln!(y, "  - {{id: dmz, subnet: 203.0.113.0/24, {}}}", spec.edges.dmz.yaml());
    y.push_str("  - {id: dc-lan, subnet: 10.0.1.0/24, latency: 0.1ms, bandwidth: 10Gbit}\n");
    y.push_str("  - {id: perimeter, subnet: 10.0.254.0/24, latency: 0.1ms, bandwidth: 10Gbit}\n");
    if !concentrators.is_empty() {
        y.push_str("  - {id: vpn-inside, subnet: 10.0.253.0/24, latency: 0.1ms, bandwidth: 10Gbit}\n");
    }
    let site_segments = s.users.div_ceil(PER_SEGMENT);
    for k in 0..s.count {
        let _ = writeln!(
            y,
            "  - {{id: s{}-wan, kind: p2p, subnet: {}/30, {}}}",
            k + 1,
            addr(p2p(10, 250, k)),
            s.wan.yaml()
        );
        let _ = writeln!(
            y,
            "  - {{id: s{}-up, kind: p2p, subnet: {}/30, {}}}",
            k + 1,
            addr(p2p(198, 18, k)),
            s.breakout.yaml()
        );
        for g in 0..site_segments {
            let _ = writeln!(
                y,
                "  - {{id: s{}-lan{}, subnet: {}/26, {}}}",
                k + 1,
                g + 1,
                addr(site_segment(k, g)),
                s.lan.yaml()
            );
        }
    }
    let home_segments = h.users.div_ceil(PER_SEGMENT);
    let isps = home_segments.div_ceil(SEGMENTS_PER_ISP);
    for r in 0..isps {
        let _ = writeln!(
            y,
            "  - {{id: isp{}-up, kind: p2p, subnet: {}/30, latency: 2ms, bandwidth: 100Gbit}}",
            r + 1,
            addr(p2p(198, 19, r))
        );
    }
    for g in 0..home_segments {
        let _ = writeln!(
            y,
            "  - {{id: access{}, subnet: {}/26, latency: 1ms, bandwidth: 10Gbit}}",
            g + 1,
            addr(access_segment(g))
        );
    }
    for i in 0..h.users {
        let _ = writeln!(
            y,
            "  - {{id: {}-lan, kind: p2p, subnet: {}/30, {}}}",
            home_name(i, home_draws[i as usize].1),
            addr(home_net(i)),
            h.access.yaml()
        );
    }

    // ---- nodes ----
    y.push_str("nodes:\n");
    // The internet core.
    y.push_str("  - id: internet\n    kind: router\n    zone: internet\n    interfaces:\n      - {name: dmz0, address: 203.0.113.1/24, link: dmz}\n");
    for k in 0..s.count {
        let _ = writeln!(
            y,
            "      - {{name: s{}, address: {}/30, link: s{}-up}}",
            k + 1,
            host_in(p2p(198, 18, k), 1),
            k + 1
        );
    }
    for r in 0..isps {
        let _ = writeln!(
            y,
            "      - {{name: isp{}, address: {}/30, link: isp{}-up}}",
            r + 1,
            host_in(p2p(198, 19, r), 1),
            r + 1
        );
    }
    if isps > 0 {
        y.push_str("    routes:\n");
        for r in 0..isps {
            let _ = writeln!(y, "      - {{to: {}/21, via: {}}}", isp_block(r), host_in(p2p(198, 19, r), 2));
        }
    }
    for r in 0..isps {
        let _ = writeln!(y, "  - id: isp{}\n    kind: router\n    zone: internet\n    interfaces:", r + 1);
        let _ =
            writeln!(y, "      - {{name: up0, address: {}/30, link: isp{}-up}}", host_in(p2p(198, 19, r), 2), r + 1);
        for g in (r * SEGMENTS_PER_ISP)..((r + 1) * SEGMENTS_PER_ISP).min(home_segments) {
            let _ = writeln!(
                y,
                "      - {{name: a{}, address: {}/26, link: access{}}}",
                g + 1,
                host_in(access_segment(g), 1),
                g + 1
            );
        }
        let _ = writeln!(y, "    gateway: {}", host_in(p2p(198, 19, r), 1));
    }

    // The data centre.
    y.push_str("  - id: dc-rtr\n    kind: router\n    zone: dc\n    interfaces:\n      - {name: lan0, address: 10.0.1.1/24, link: dc-lan}\n      - {name: per0, address: 10.0.254.1/24, link: perimeter}\n");
    if !concentrators.is_empty() {
        y.push_str("      - {name: vpn0, address: 10.0.253.1/24, link: vpn-inside}\n");
    }
    for k in 0..s.count {
        let _ = writeln!(
            y,
            "      - {{name: s{}, address: {}/30, link: s{}-wan}}",
            k + 1,
            host_in(p2p(10, 250, k), 1),
            k + 1
        );
    }
    if s.count > 0 || !concentrators.is_empty() {
        y.push_str("    routes:\n");
    }
    for k in 0..s.count {
        let _ = writeln!(y, "      - {{to: 10.{}.0.0/16, via: {}}}", k + 1, host_in(p2p(10, 250, k), 2));
    }
    for c in 0..concentrators.len() as u32 {
        let _ = writeln!(y, "      - {{to: 10.{}.0.0/16, via: 10.0.253.{}}}", 240 + c, 2 + c);
    }
    y.push_str("  - id: lync-fe\n    kind: host\n    zone: dc\n    interfaces:\n      - {name: eth0, address: 10.0.1.10/24, link: dc-lan, profile: domain}\n    gateway: 10.0.1.1\n");

    // Edge pools.
    for p in 0..pools {
        for k in 0..servers {
            let idx = p * servers + k;
            let _ = writeln!(y, "  - id: {}\n    kind: edge\n    zone: dmz\n    interfaces:", edge_name(p, k));
            let _ =
                writeln!(y, "      - {{name: ext0, address: 203.0.113.{}/24, link: dmz, role: external}}", 10 + idx);
            let _ = writeln!(
                y,
                "      - {{name: int0, address: 10.0.254.{}/24, link: perimeter, role: internal, profile: domain}}",
                10 + idx
            );
            let _ = writeln!(y, "    edge: {{pool: pool-{}, relay-ports: 20000-65535}}", p + 1);
            y.push_str("    gateway: 203.0.113.1\n    routes:\n      - {to: 10.0.0.0/8, via: 10.0.254.1}\n");
            if k == 0 {
                y.push_str("    sip: {upstream: lync-fe}\n");
            }
        }
    }

    // VPN concentrators.
    for (c, name) in concentrators.iter().enumerate() {
        let _ = writeln!(y, "  - id: {name}\n    kind: vpn-concentrator\n    zone: dmz\n    interfaces:");
        let _ = writeln!(y, "      - {{name: ext0, address: 203.0.113.{}/24, link: dmz}}", 5 + c);
        let _ =
            writeln!(y, "      - {{name: int0, address: 10.0.253.{}/24, link: vpn-inside, profile: domain}}", 2 + c);
        y.push_str("    gateway: 203.0.113.1\n    routes:\n      - {to: 10.0.0.0/8, via: 10.0.253.1}\n");
        let v = &spec.vpn;
        let _ = write!(
            y,
            "    concentrator: {{outside: ext0, pool: 10.{}.0.0/16, crypto-delay: {}, crypto-jitter: {}",
            240 + c,
            duration_text(v.crypto_delay),
            duration_text(v.crypto_jitter)
        );
        if let Some(cap) = v.capacity {
            let _ = write!(y, ", capacity: {cap}pps");
        }
        y.push_str("}\n");
    }

    // Sites.
    for k in 0..s.count {
        let site = k + 1;
        let pool = k % pools;
        let _ = writeln!(y, "  - id: s{site}-gw\n    kind: nat\n    zone: site\n    interfaces:");
        let _ = writeln!(y, "      - {{name: up0, address: {}/30, link: s{site}-up}}", host_in(p2p(198, 18, k), 2));
        let _ = writeln!(y, "      - {{name: wan0, address: {}/30, link: s{site}-wan}}", host_in(p2p(10, 250, k), 2));
        for g in 0..site_segments {
            let _ = writeln!(
                y,
                "      - {{name: lan{}, address: {}/26, link: s{site}-lan{}}}",
                g + 1,
                host_in(site_segment(k, g), 1),
                g + 1
            );
        }
        let _ = writeln!(y, "    gateway: {}", host_in(p2p(198, 18, k), 1));
        let _ = writeln!(y, "    routes:\n      - {{to: 10.0.0.0/8, via: {}}}", host_in(p2p(10, 250, k), 1));
        let _ = writeln!(y, "    nat: {{outside: up0, preset: {}}}", preset_name(s.nat));
        for u in 0..s.users {
            let (g, slot) = (u / PER_SEGMENT, u % PER_SEGMENT);
            let name = format!("s{site}-u{}", u + 1);
            let net = site_segment(k, g);
            let relay = edge_name(pool, u % servers);
            let _ = writeln!(
                y,
                "  - {{id: {name}, kind: host, zone: site, interfaces: [{{name: eth0, address: {}/26, link: s{site}-lan{}, profile: domain}}], gateway: {}, sip: {{registrar: lync-fe, relay: {relay}}}}}",
                host_in(net, 2 + slot),
                g + 1,
                host_in(net, 1)
            );
            users.push(User { name, kind: UserKind::Site, nat: None });
        }
    }

    // Home users.
    let mut vpn_count = vec![0u32; concentrators.len()];
    for i in 0..h.users {
        let (preset, kind) = home_draws[i as usize];
        let name = home_name(i, kind);
        let g = i / PER_SEGMENT;
        let seg = access_segment(g);
        let net = home_net(i);
        let pool = i % pools;
        let access_edge = edge_name(pool, 0);
        let relay = edge_name(pool, (i / pools) % servers);
        let _ = writeln!(
            y,
            "  - {{id: {name}-rtr, kind: nat, zone: home, interfaces: [{{name: wan0, address: {}/26, link: access{}}}, {{name: lan0, address: {}/30, link: {name}-lan}}], gateway: {}, nat: {{outside: wan0, preset: {}}}}}",
            host_in(seg, 2 + i % PER_SEGMENT),
            g + 1,
            host_in(net, 1),
            host_in(seg, 1),
            preset_name(preset)
        );
        let registrar = if kind == UserKind::VpnFull { "lync-fe" } else { access_edge.as_str() };
        let _ = write!(
            y,
            "  - {{id: {name}, kind: host, zone: home, interfaces: [{{name: wlan0, address: {}/30, link: {name}-lan, type: wireless, profile: private}}], gateway: {}, sip: {{registrar: {registrar}, relay: {relay}}}",
            host_in(net, 2),
            host_in(net, 1)
        );
        if kind != UserKind::Home {
            let c = (i as usize) % concentrators.len();
            vpn_count[c] += 1;
            let n = vpn_count[c] + 1;
            let addr = format!("10.{}.{}.{}/16", 240 + c, n / 256, n % 256);
            match kind {
                UserKind::VpnFull => {
                    let _ = write!(y, ", vpn: {{address: {addr}, concentrator: {}, mode: full}}", concentrators[c]);
                }
                _ => {
                    let _ = write!(
                        y,
                        ", vpn: {{address: {addr}, concentrator: {}, mode: split, include: [10.0.0.0/8], exclude: [203.0.113.0/24]}}",
                        concentrators[c]
                    );
                }
            }
        }
        y.push_str("}\n");
        users.push(User { name, kind, nat: Some(preset) });
    }
    Generated { yaml: y, users, edges, concentrators }
}

fn home_name(i: u32, kind: UserKind) -> String {
    let prefix = match kind {
        UserKind::VpnFull => "vf",
        UserKind::VpnSplit => "vs",
        _ => "h",
    };
    format!("{prefix}{}", i + 1)
}

/// The `k`-th /30 of `a.b.0.0/16`.
fn p2p(a: u32, b: u32, k: u32) -> u32 {
    (a << 24) | (b << 16) | (k * 4)
}

/// Segment `g` of site `k`: a /26 of 10.(k+1).0.0/16.
fn site_segment(k: u32, g: u32) -> u32 {
    (10 << 24) | ((k + 1) << 16) | (g * 64)
}

/// ISP access segment `g`: a /26 of 100.64.0.0/10.
fn access_segment(g: u32) -> u32 {
    (100 << 24) | (64 << 16) | (g * 64)
}

/// The /21 of ISP `r` (its 32 access segments).
fn isp_block(r: u32) -> String {
    addr(access_segment(r * SEGMENTS_PER_ISP))
}

/// Home `i`'s LAN: a /30 of 172.16.0.0/12.
fn home_net(i: u32) -> u32 {
    (172 << 24) | (16 << 16) | (i * 4)
}

fn host_in(net: u32, k: u32) -> String {
    addr(net + k)
}

fn addr(a: u32) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::read_population;
    use crate::schema::load_topology;

    const SPEC: &str = "sites: {count: 2, users: 70}\nhomes: {users: 70, nat: {symmetric: 30%, port-restricted-cone: 70%}, vpn: {share: 30%}}\nvpn: {concentrators: 2}\nedges: {pools: 2, servers: 2}\ncalls: {per-user-per-hour: 6}\n";

    #[test]
    fn the_generated_topology_loads_without_warnings() {
        let spec = read_population("t.yaml", SPEC).unwrap();
        let g = generate(&spec, 1);
        let loaded = match load_topology("gen.yaml", &g.yaml) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let t = loaded.topology;
        assert_eq!(g.users.len(), 210);
        for u in &g.users {
            let n = t.node_by_name(&u.name).expect("every user is a node");
            assert!(t.node(n).roles.sip.is_some());
        }
        assert_eq!(g.edges.len(), 4);
        assert!(g.users.iter().any(|u| u.kind == UserKind::VpnFull));
        assert!(g.users.iter().any(|u| u.kind == UserKind::VpnSplit));
        assert_eq!(t.islands().len(), 1, "one connected network");
    }

    #[test]
    fn generation_is_deterministic_and_follows_the_seed() {
        let spec = read_population("t.yaml", SPEC).unwrap();
        assert_eq!(generate(&spec, 1).yaml, generate(&spec, 1).yaml);
        assert_ne!(generate(&spec, 1).yaml, generate(&spec, 2).yaml);
    }
}
