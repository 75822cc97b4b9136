//! DNS views: which address a name resolves to for a given client (split-brain DNS).
//!
//! A node names its resolver (a `kind: dns` node); the resolver answers from the first view
//! whose client prefixes hold the query's source address — the address the client would
//! send from toward the resolver, so a VPN client whose resolver is reached through the
//! tunnel asks from its VPN address and gets the VPN view (seed 000's pin-point zones).
//! The lookup is computed, not sent as packets; the query's route is checked for existence.

use std::net::Ipv4Addr;

use thiserror::Error;

use super::forward::egress;
use crate::topology::{NodeId, Topology};

/// A successful lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub addrs: Vec<Ipv4Addr>,
    pub server: NodeId,
    pub view: String,
    /// The address the query was sent from.
    pub source: Ipv4Addr,
}

/// Why a name did not resolve.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ResolveError {
    #[error("node `{node}` has no resolver")]
    NoResolver { node: String },
    #[error("node `{node}` has no route to its resolver `{server}`")]
    Unreachable { node: String, server: String },
    #[error("resolver `{server}` has no view for clients at {client}")]
    NoView { server: String, client: Ipv4Addr },
    #[error("`{name}` does not exist in view `{view}` of resolver `{server}`")]
    NxDomain { name: String, view: String, server: String },
}

/// Resolves `name` as `node` would.
pub fn resolve(topo: &Topology, node: NodeId, name: &str) -> Result<Resolution, ResolveError> {
    let n = topo.node(node);
    let server = n.roles.resolver.ok_or_else(|| ResolveError::NoResolver { node: n.name.clone() })?;
    let s = topo.node(server);
    let server_addr = s.ifaces.first().map(|&i| topo.iface(i).addr).unwrap_or(Ipv4Addr::UNSPECIFIED);
    let source = if server == node {
        server_addr
    } else {
        let (via, _) = egress(topo, node, server_addr)
            .ok_or_else(|| ResolveError::Unreachable { node: n.name.clone(), server: s.name.clone() })?;
        topo.iface(via).addr
    };
    let views = s.roles.dns.as_ref().map(|d| d.views.as_slice()).unwrap_or_default();
    let view = views
        .iter()
        .find(|v| v.clients.is_empty() || v.clients.iter().any(|c| c.contains(&source)))
        .ok_or_else(|| ResolveError::NoView { server: s.name.clone(), client: source })?;
    let key = name.trim_end_matches('.').to_ascii_lowercase();
    let addrs = view.records.get(&key).cloned().ok_or_else(|| ResolveError::NxDomain {
        name: key.clone(),
        view: view.name.clone(),
        server: s.name.clone(),
    })?;
    Ok(Resolution { addrs, server, view: view.name.clone(), source })
}
