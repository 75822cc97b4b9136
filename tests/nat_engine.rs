//! NAT presets on the bundled `home-nats` topology, with real packets through the engine:
//! mappings seen from the public probe, which unsolicited packets come in, symmetric
//! port changes, and the double NAT.

use std::net::SocketAddrV4;

use icepath::net::DropKind;
use icepath::schema::load_topology;
use icepath::trace::{PacketId, Record, TraceLevel};
use icepath::wire::Datagram;
use icepath::{Engine, Limits, SimRng, Topology};

fn topology() -> Topology {
    let file = "topologies/home-nats.yaml";
    let text = std::fs::read_to_string(file).expect("bundled topology");
    load_topology(file, &text).expect("bundled topology is valid").topology
}

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// Sends one UDP packet from `node` and runs to idle; returns where it was delivered, as
/// the receiver saw (src, dst), or the drop kind.
fn send(
    e: &mut Engine<'_>,
    topo: &Topology,
    node: &str,
    src: &str,
    dst: &str,
) -> Result<(SocketAddrV4, SocketAddrV4), DropKind> {
    let id: PacketId =
        e.send_at(e.now(), topo.node_by_name(node).unwrap(), Datagram::udp(sa(src), sa(dst), vec![0; 20]));
    e.run();
    for r in e.trace().packet(id) {
        match r {
            Record::Delivered { summary, .. } => return Ok((summary.src, summary.dst)),
            Record::Dropped { reason, .. } => return Err(reason.kind()),
            _ => {}
        }
    }
    panic!("packet {id:?} neither delivered nor dropped")
}

const PROBE: &str = "192.0.2.10:3478";

struct Home {
    laptop: &'static str,
    addr: &'static str,
    /// Another laptop that tries to reach this one's mapping unsolicited.
    stranger: (&'static str, &'static str),
    admits_same_address_new_port: bool,
    admits_other_address: bool,
    new_port_per_destination: bool,
}

/// The RFC 4787 table, with packets: each home's laptop talks to the probe, then the probe
/// (from another port) and a stranger try to come in through the same mapping.
#[test]
fn each_preset_admits_what_rfc4787_says() {
    let homes = [
        Home {
            laptop: "laptop-fc",
            addr: "192.168.1.10:50000",
            stranger: ("laptop-rc", "192.168.2.10:40000"),
            admits_same_address_new_port: true,
            admits_other_address: true,
            new_port_per_destination: false,
        },
        Home {
            laptop: "laptop-rc",
            addr: "192.168.2.10:50000",
            stranger: ("laptop-fc", "192.168.1.10:40000"),
            admits_same_address_new_port: true,
            admits_other_address: false,
            new_port_per_destination: false,
        },
        Home {
            laptop: "laptop-prc",
            addr: "192.168.3.10:50000",
            stranger: ("laptop-fc", "192.168.1.10:40000"),
            admits_same_address_new_port: false,
            admits_other_address: false,
            new_port_per_destination: false,
        },
        Home {
            laptop: "laptop-sym",
            addr: "192.168.4.10:50000",
            stranger: ("laptop-fc", "192.168.1.10:40000"),
            admits_same_address_new_port: false,
            admits_other_address: false,
            new_port_per_destination: true,
        },
    ];
    let topo = topology();
    for h in homes {
        let mut e = Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Hops);
        let (mapped, _) = send(&mut e, &topo, h.laptop, h.addr, PROBE).expect("outbound reaches the probe");
        assert_ne!(mapped.ip(), sa(h.addr).ip(), "{}: the probe sees the NAT's address", h.laptop);
        // The probe's answer comes back to the laptop's own socket.
        assert_eq!(
            send(&mut e, &topo, "stun-probe", PROBE, &mapped.to_string()),
            Ok((sa(PROBE), sa(h.addr))),
            "{}",
            h.laptop
        );
        // The probe from another port.
        let other_port = send(&mut e, &topo, "stun-probe", "192.0.2.10:3479", &mapped.to_string());
        assert_eq!(
            other_port.is_ok(),
            h.admits_same_address_new_port,
            "{}: probe from a new port: {other_port:?}",
            h.laptop
        );
        if !h.admits_same_address_new_port {
            assert_eq!(other_port, Err(DropKind::NatRefused));
        }
        // A stranger on another home network.
        let stranger = send(&mut e, &topo, h.stranger.0, h.stranger.1, &mapped.to_string());
        assert_eq!(stranger.is_ok(), h.admits_other_address, "{}: stranger: {stranger:?}", h.laptop);
        // A second destination: same external port unless the mapping is address-and-port dependent.
        let (mapped2, _) = send(&mut e, &topo, h.laptop, h.addr, "192.0.2.10:3479").expect("second destination");
        assert_eq!(mapped2 != mapped, h.new_port_per_destination, "{}: {mapped} vs {mapped2}", h.laptop);
    }
}

/// Behind a home NAT behind a carrier NAT, the probe sees the carrier's address; replies
/// cross both NATs back; unsolicited traffic stops at the carrier.
#[test]
fn double_nat_is_translated_twice() {
    let topo = topology();
    let mut e = Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Hops);
    let (mapped, _) = send(&mut e, &topo, "laptop-dbl", "192.168.5.10:50000", PROBE).unwrap();
    let cgn = topo.node_by_name("cgn").unwrap();
    let cgn_addr = topo.node(cgn).roles.nat.as_ref().unwrap().external;
    assert_eq!(*mapped.ip(), cgn_addr);
    let translations = e.trace().records().iter().filter(|r| matches!(r, Record::Translated { .. })).count();
    assert_eq!(translations, 2);
    assert_eq!(
        send(&mut e, &topo, "stun-probe", PROBE, &mapped.to_string()),
        Ok((sa(PROBE), sa("192.168.5.10:50000")))
    );
    assert_eq!(send(&mut e, &topo, "stun-probe", "192.0.2.10:9", &mapped.to_string()), Err(DropKind::NatRefused));
}

/// Same seed, same mappings: the carrier NAT's random port choice is drawn from the seed.
#[test]
fn random_port_allocation_follows_the_seed() {
    let topo = topology();
    let port = |seed| {
        let mut e = Engine::new(&topo, SimRng::new(seed), Limits::default(), TraceLevel::Hops);
        send(&mut e, &topo, "laptop-dbl", "192.168.5.10:50000", PROBE).unwrap().0.port()
    };
    assert_eq!(port(5), port(5));
    assert!((1..20).any(|s| port(s) != port(5)), "another seed should pick another port");
}
