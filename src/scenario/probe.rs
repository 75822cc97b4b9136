//! A STUN/TURN probe: one client on a node binds and allocates on an Edge's relay, the way
//! a Lync client does before it gathers candidates, with MRAS credentials issued by an Edge
//! of the pool. The outcome lists every exchange and every packet that died on the way.

use std::net::{Ipv4Addr, SocketAddrV4};

use serde::Serialize;
use thiserror::Error;

use crate::engine::{Engine, Limits, Service, ServiceEvent};
use crate::net::forward::egress;
use crate::proto::{TurnClient, TurnClientConfig, TurnClientEvent, TurnServerEvent};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::topology::{NodeId, Topology};
use crate::trace::{Record, TraceLevel};
use crate::wire::{Datagram, Protocol};

/// Which of the Edge's faces the client talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeTarget {
    /// The public address (external clients): the 1:1 NAT in front, else the external NIC.
    External,
    /// The internal interface (internal clients).
    Internal,
}

/// What to probe.
#[derive(Clone, Debug)]
pub struct ProbeSpec {
    pub client: NodeId,
    pub src_port: u16,
    pub edge: NodeId,
    pub target: ProbeTarget,
    pub protocol: Protocol,
    /// The Edge whose MRAS issues the credentials (usually `edge`; another pool member for
    /// the mismatched-secret case).
    pub credentials_from: NodeId,
    pub seed: u64,
    /// How long to let the exchange run (long enough for UDP retransmissions to give up).
    pub duration: SimDuration,
    /// Capture every datagram for a pcap.
    pub capture: bool,
}

/// Why a probe could not start.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProbeError {
    #[error("node `{0}` is not an Edge")]
    NotAnEdge(String),
    #[error("node `{client}` has no route toward {server}")]
    NoRoute { client: String, server: Ipv4Addr },
}

/// One line of the exchange.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeStep {
    pub at: SimTime,
    pub node: String,
    pub what: String,
}

/// What the probe found.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeOutcome {
    pub client: String,
    pub local: SocketAddrV4,
    pub edge: String,
    pub server: SocketAddrV4,
    pub protocol: Protocol,
    pub credentials_from: String,
    pub seed: u64,
    pub reflexive: Option<SocketAddrV4>,
    pub relayed: Option<SocketAddrV4>,
    pub steps: Vec<ProbeStep>,
    #[serde(skip)]
    pub capture: Vec<(SimTime, Datagram)>,
}

/// Runs the probe.
pub fn run_probe(topo: &Topology, spec: &ProbeSpec) -> Result<ProbeOutcome, ProbeError> {
    let edge_node = topo.node(spec.edge);
    let edge = edge_node.roles.edge.as_ref().ok_or_else(|| ProbeError::NotAnEdge(edge_node.name.clone()))?;
    let port = match spec.protocol {
        Protocol::Udp => edge.udp_port,
        Protocol::Tcp => edge.tcp_port,
    };
    let server_ip = match spec.target {
        ProbeTarget::External => topo.edge_public_address(spec.edge).unwrap_or(edge.advertised),
        ProbeTarget::Internal => topo.iface(edge.internal).addr,
    };
    let server = SocketAddrV4::new(server_ip, port);
    let client_name = topo.node(spec.client).name.clone();
    let (via, _) = egress(topo, spec.client, server_ip)
        .ok_or_else(|| ProbeError::NoRoute { client: client_name.clone(), server: server_ip })?;
    let local = SocketAddrV4::new(topo.iface(via).addr, spec.src_port);

    let mut e = Engine::new(topo, SimRng::new(spec.seed), Limits::default(), TraceLevel::Outcomes);
    e.set_capture(spec.capture);
    e.connect_vpns();
    e.run();
    e.start_edges();
    // Lync clients get relay credentials valid for 8 hours from the Edge's MRAS.
    let cred = e
        .mras_credentials(spec.credentials_from, &client_name, SimDuration::from_secs(8 * 3600))
        .ok_or_else(|| ProbeError::NotAnEdge(topo.node(spec.credentials_from).name.clone()))?;
    let cfg = TurnClientConfig {
        protocol: spec.protocol,
        seed: e.seed_for(&format!("probe/{client_name}")),
        software: Some("icepath probe".to_string()),
        ..TurnClientConfig::new(local, server, &cred.username, &cred.password)
    };
    let first = e.trace().records().len();
    let client = e.attach(spec.client, Service::TurnClient(Box::new(TurnClient::new(cfg))));
    e.command(client, |s, now| {
        if let Service::TurnClient(t) = s {
            t.binding(now);
            t.allocate(now);
        }
    });
    let until = e.now() + spec.duration;
    e.run_until(until);

    let steps = e.trace().records()[first..]
        .iter()
        .filter_map(|r| match r {
            Record::Service { at, node, event, .. } => {
                let who = topo.node(*node).name.clone();
                Some(ProbeStep { at: *at, node: who, what: describe(event) })
            }
            Record::Dropped { at, reason, .. } => Some(ProbeStep {
                at: *at,
                node: topo.node(reason.node(topo)).name.clone(),
                what: format!("DROPPED: {}", reason.describe(topo)),
            }),
            _ => None,
        })
        .collect();
    let (reflexive, relayed) = match e.service(client) {
        Service::TurnClient(t) => (t.reflexive(), t.relayed()),
        _ => (None, None),
    };
    Ok(ProbeOutcome {
        client: client_name,
        local,
        edge: edge_node.name.clone(),
        server,
        protocol: spec.protocol,
        credentials_from: topo.node(spec.credentials_from).name.clone(),
        seed: spec.seed,
        reflexive,
        relayed,
        steps,
        capture: e.captured().to_vec(),
    })
}

/// A sentence for a service event.
fn describe(event: &ServiceEvent) -> String {
    match event {
        ServiceEvent::TurnClient(ev) => match ev {
            TurnClientEvent::BindingSucceeded { reflexive } => {
                format!("Binding succeeded: server-reflexive {reflexive}")
            }
            TurnClientEvent::Allocated { relayed, reflexive, lifetime } => {
                let r = reflexive.map(|r| format!(", reflexive {r}")).unwrap_or_default();
                format!("Allocate succeeded: relayed {relayed}{r}, lifetime {lifetime}")
            }
            TurnClientEvent::Refreshed { lifetime } => format!("Refresh succeeded: lifetime {lifetime}"),
            TurnClientEvent::Deallocated => "allocation released".to_string(),
            TurnClientEvent::PermissionCreated { peer } => format!("permission installed for {peer}"),
            TurnClientEvent::ChannelBound { channel, peer } => format!("channel {channel:#06x} bound to {peer}"),
            TurnClientEvent::Data { peer, data } => format!("{} bytes relayed from {peer}", data.len()),
            TurnClientEvent::RequestFailed { method, code, reason } => format!("{method} failed: {code} {reason}"),
            TurnClientEvent::TimedOut { method } => {
                format!("{method} timed out (no answer after every retransmission)")
            }
            TurnClientEvent::Discarded { from, reason } => format!("discarded a packet from {from}: {reason}"),
        },
        ServiceEvent::Turn(ev) => match ev {
            TurnServerEvent::AllocationCreated { client, protocol, relayed, lifetime } => {
                format!("allocated {relayed} for {client} over {protocol}, lifetime {lifetime}")
            }
            TurnServerEvent::AllocationRefreshed { client, lifetime } => {
                format!("refreshed {client}: lifetime {lifetime}")
            }
            TurnServerEvent::AllocationDeleted { client, reason, .. } => {
                format!("allocation of {client} deleted ({reason:?})")
            }
            TurnServerEvent::PermissionInstalled { client, peer } => {
                format!("permission for {peer} on {client}'s allocation")
            }
            TurnServerEvent::ChannelBound { client, channel, peer } => {
                format!("{client} bound channel {channel:#06x} to {peer}")
            }
            TurnServerEvent::Rejected { client, method, code } => {
                format!("answered {method} from {client} with error {code}")
            }
            TurnServerEvent::Discarded { from, reason } => format!("discarded a packet from {from}: {reason}"),
        },
        ServiceEvent::Stun(ev) => format!("{ev:?}"),
        ServiceEvent::Registrar(ev) => format!("registrar: {ev:?}"),
        ServiceEvent::UserAgent(ev) => format!("user agent: {ev:?}"),
        ServiceEvent::Media(ev) => format!("media: {ev:?}"),
    }
}

impl ProbeOutcome {
    /// Whether the client got a relayed address.
    pub fn allocated(&self) -> bool {
        self.relayed.is_some()
    }

    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "probe: {} ({}) -> {} at {} over {}; credentials from {}'s MRAS; seed {}",
            self.client, self.local, self.edge, self.server, self.protocol, self.credentials_from, self.seed
        );
        for s in &self.steps {
            let _ = writeln!(o, "  {:>12}  {:<10} {}", s.at.to_string(), s.node, s.what);
        }
        let show = |a: Option<SocketAddrV4>| a.map_or_else(|| "none".to_string(), |a| a.to_string());
        let _ = writeln!(
            o,
            "result: {}; server-reflexive {}, relayed {}",
            if self.allocated() { "allocated" } else { "FAILED to allocate" },
            show(self.reflexive),
            show(self.relayed)
        );
        o
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("invariant: the probe outcome serializes") + "\n"
    }
}
