//! Reading a `firewall` block: host firewalls (Windows Firewall's vocabulary) on host and
//! edge nodes, network firewalls (interfaces in and out) on every other kind.

use super::{
    ACTION_SYNONYMS, ACTIONS, IFACE_TYPES, duration, flag, is_host_like, not_for_kind, one_of, read_ports,
    read_prefixes, read_profile,
};
use crate::schema::decode::{At, Decoder, Fields, Path};
use crate::schema::tree::Value;
use crate::time::SimDuration;
use crate::topology::{Action, Direction, FirewallRule, NodeKind, RuleOrder};
use crate::wire::Protocol;

const HOST_FIREWALL_KINDS: &str = "host and edge nodes";
const NETWORK_FIREWALL_KINDS: &str = "router, nat, firewall, vpn-concentrator and dns nodes";

#[derive(Debug)]
pub(crate) struct FileFirewall {
    pub order: RuleOrder,
    pub default_in: Action,
    pub default_out: Action,
    pub stateful: bool,
    pub udp_timeout: SimDuration,
    pub tcp_timeout: SimDuration,
    pub rules: Vec<FileRule>,
}

/// A rule as written: the interface names of network rules are resolved by `check`.
#[derive(Debug)]
pub(crate) struct FileRule {
    /// The rule with `in_iface` and `out_iface` still unset.
    pub rule: FirewallRule,
    pub in_iface: Option<At<String>>,
    pub out_iface: Option<At<String>>,
}

const FIREWALL_FIELDS: &[&str] =
    &["order", "default", "default-in", "default-out", "stateful", "udp-timeout", "tcp-timeout", "rules"];
const RULE_FIELDS: &[&str] = &[
    "name",
    "action",
    "direction",
    "in",
    "out",
    "src",
    "dst",
    "local",
    "remote",
    "protocol",
    "src-ports",
    "ports",
    "interface-type",
    "profile",
    "app",
];

/// A firewall block; `kind` (when known) decides between host and network fields.
pub(crate) fn read_firewall(
    dc: &mut Decoder<'_>,
    v: &Value,
    path: &Path,
    kind: Option<NodeKind>,
) -> Option<FileFirewall> {
    let mut f = dc.fields(v, path, "a firewall: a map with `rules`", FIREWALL_FIELDS)?;
    let host = kind.is_some_and(is_host_like);
    let network = kind.is_some_and(|k| !is_host_like(k));
    let mut out = FileFirewall {
        order: if host { RuleOrder::DenyFirst } else { RuleOrder::FirstMatch },
        default_in: if kind == Some(NodeKind::Firewall) { Action::Deny } else { Action::Allow },
        default_out: if kind == Some(NodeKind::Firewall) { Action::Deny } else { Action::Allow },
        stateful: true,
        udp_timeout: SimDuration::from_secs(60),
        tcp_timeout: SimDuration::from_secs(3600),
        rules: Vec::new(),
    };
    if let Some((v, p)) = f.optional("order") {
        let orders = [("first-match", RuleOrder::FirstMatch), ("deny-first", RuleOrder::DenyFirst)];
        if let Some(o) = one_of(dc, v, &p, "a rule order", &orders, &[]) {
            out.order = o;
        }
    }
    if let Some((v, p)) = f.optional("default") {
        if let Some(k) = kind.filter(|&k| is_host_like(k)) {
            let hint = "a host firewall has a default per direction: use `default-in` and `default-out`";
            not_for_kind(dc, &f, "default", k, NETWORK_FIREWALL_KINDS, hint);
        } else if let Some(a) = one_of(dc, v, &p, "an action", &ACTIONS, &ACTION_SYNONYMS) {
            out.default_in = a;
            out.default_out = a;
        }
    }
    for (field, slot) in [("default-in", &mut out.default_in), ("default-out", &mut out.default_out)] {
        let Some((v, p)) = f.optional(field) else { continue };
        if let Some(k) = kind.filter(|&k| !is_host_like(k)) {
            let hint = "a network firewall's policy for new flows is `default: allow` or `default: deny`";
            let field = if field == "default-in" { "default-in" } else { "default-out" };
            not_for_kind(dc, &f, field, k, HOST_FIREWALL_KINDS, hint);
        } else if let Some(a) = one_of(dc, v, &p, "an action", &ACTIONS, &ACTION_SYNONYMS) {
            *slot = a;
        }
    }
    out.stateful = flag(dc, &mut f, "stateful", true);
    out.udp_timeout = duration(dc, &mut f, "udp-timeout", out.udp_timeout);
    out.tcp_timeout = duration(dc, &mut f, "tcp-timeout", out.tcp_timeout);
    if let Some((v, p)) = f.optional("rules")
        && let Some(items) = dc.seq(v, &p, "a list of rules")
    {
        for (i, item) in items.iter().enumerate() {
            out.rules.extend(read_rule(dc, item, &p.index(i), kind, host, network));
        }
    }
    f.finish(dc);
    Some(out)
}

fn read_rule<'t>(
    dc: &mut Decoder<'_>,
    v: &'t Value,
    path: &Path,
    kind: Option<NodeKind>,
    host: bool,
    network: bool,
) -> Option<FileRule> {
    let mut f = dc.fields(v, path, "a firewall rule: a map with at least `action`", RULE_FIELDS)?;
    // The action is read below; deny until then.
    let mut rule = FirewallRule::any(Action::Deny);
    if let Some((v, p)) = f.optional("name") {
        rule.name = dc.scalar(v, &p, "a rule name").map(str::to_string);
    }
    if let Some((v, p)) = f.required(dc, "action")
        && let Some(a) = one_of(dc, v, &p, "an action", &ACTIONS, &ACTION_SYNONYMS)
    {
        rule.action = a;
    }
    let allowed =
        |dc: &mut Decoder<'_>, f: &mut Fields<'t>, field: &'static str| scoped(dc, f, field, kind, host, network);
    // `allowed` returns the value only when the kind is known and fits; an unknown kind
    // has been reported and its scoped fields are skipped.
    if let Some((v, p)) = allowed(dc, &mut f, "direction") {
        let dirs = [("in", Some(Direction::In)), ("out", Some(Direction::Out)), ("both", None)];
        rule.direction = one_of(dc, v, &p, "a direction", &dirs, &[("inbound", "in"), ("outbound", "out")]).flatten();
    }
    let in_iface = allowed(dc, &mut f, "in").and_then(|(v, p)| dc.ident(v, &p, "an interface name"));
    let out_iface = allowed(dc, &mut f, "out").and_then(|(v, p)| dc.ident(v, &p, "an interface name"));
    for (field, slot) in [("src", &mut rule.src), ("dst", &mut rule.dst)] {
        if let Some((v, p)) = f.optional(field) {
            *slot = read_prefixes(dc, v, &p, true, true).unwrap_or_default();
        }
    }
    if let Some((v, p)) = allowed(dc, &mut f, "local") {
        rule.local = read_prefixes(dc, v, &p, true, true).unwrap_or_default();
    }
    if let Some((v, p)) = allowed(dc, &mut f, "remote") {
        rule.remote = read_prefixes(dc, v, &p, true, true).unwrap_or_default();
    }
    if let Some((v, p)) = f.optional("protocol") {
        let protocols = [("udp", Some(Protocol::Udp)), ("tcp", Some(Protocol::Tcp)), ("any", None)];
        rule.protocol = one_of(dc, v, &p, "a protocol", &protocols, &[("all", "any")]).flatten();
    }
    rule.src_ports = f.optional("src-ports").and_then(|(v, p)| read_ports(dc, v, &p));
    rule.dst_ports = f.optional("ports").and_then(|(v, p)| read_ports(dc, v, &p));
    if let Some((v, p)) = allowed(dc, &mut f, "interface-type") {
        rule.iface_type = one_of(dc, v, &p, "an interface type", &IFACE_TYPES, &[("vpn", "remote-access")]);
    }
    if let Some((v, p)) = allowed(dc, &mut f, "profile") {
        rule.profile = read_profile(dc, v, &p);
    }
    if let Some((v, p)) = allowed(dc, &mut f, "app") {
        // Windows compares program paths without regard to case.
        rule.app = dc.scalar(v, &p, "a program name like communicator.exe").map(str::to_lowercase);
    }
    f.finish(dc);
    Some(FileRule { rule, in_iface, out_iface })
}

/// Fields of host firewalls (Windows Firewall's vocabulary), with why a network firewall
/// cannot have them.
const HOST_ONLY: [(&str, &str); 6] = [
    ("direction", "a network firewall sees packets pass through: scope the rule with `in` and `out` interfaces"),
    ("local", "a network firewall has no local address: use `src` and `dst`"),
    ("remote", "a network firewall has no remote address: use `src` and `dst`"),
    ("interface-type", "interface types are a Windows Firewall scope: put the rule on the host"),
    ("profile", "network profiles are a Windows Firewall scope: put the rule on the host"),
    ("app", "a network firewall sees packets, not programs: put program rules on the host"),
];
/// Fields of network firewalls, with why a host firewall cannot have them.
const NETWORK_ONLY: [(&str, &str); 2] = [
    ("in", "a host firewall scopes by `direction: in | out` and `interface-type`"),
    ("out", "a host firewall scopes by `direction: in | out` and `interface-type`"),
];

/// A rule field that only some firewalls have: the value when this node's kind has it;
/// `None` (reported) when it does not. With the kind unknown (already reported) the
/// field is read as written.
fn scoped<'t>(
    dc: &mut Decoder<'_>,
    f: &mut Fields<'t>,
    field: &'static str,
    kind: Option<NodeKind>,
    host: bool,
    network: bool,
) -> Option<(&'t Value, Path)> {
    let found = f.optional(field)?;
    let Some(k) = kind else { return Some(found) };
    if let Some((_, hint)) = HOST_ONLY.iter().find(|(n, _)| *n == field).filter(|_| network) {
        not_for_kind(dc, f, field, k, HOST_FIREWALL_KINDS, hint);
        return None;
    }
    if let Some((_, hint)) = NETWORK_ONLY.iter().find(|(n, _)| *n == field).filter(|_| host) {
        not_for_kind(dc, f, field, k, NETWORK_FIREWALL_KINDS, hint);
        return None;
    }
    Some(found)
}
