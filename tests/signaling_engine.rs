//! Signaling through the network on the bundled enterprise: every client registers (the
//! home user through the Access Edge, the branch user through the site-to-site tunnel), and
//! an instant message crosses Edge and front end — seed 001's "IM works".

use std::collections::BTreeMap;

use icepath::engine::{Service, ServiceEvent, ServiceId};
use icepath::proto::signaling::{Method, Start, UserAgentEvent};
use icepath::schema::load_topology;
use icepath::topology::NodeId;
use icepath::trace::{Record, TraceLevel};
use icepath::{Engine, Limits, SimDuration, SimRng, Topology};

fn load_text(text: &str) -> Topology {
    load_topology("enterprise-edge.yaml", text).expect("valid topology").topology
}

fn ua_events(e: &Engine<'_>, id: ServiceId) -> Vec<UserAgentEvent> {
    e.trace()
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Service { service, event: ServiceEvent::UserAgent(ev), .. } if *service == id => Some(ev.clone()),
            _ => None,
        })
        .collect()
}

fn run_for(e: &mut Engine<'_>, secs: u64) {
    let until = e.now() + SimDuration::from_secs(secs);
    e.run_until(until);
}

fn agents<'a>(e: &mut Engine<'a>) -> BTreeMap<NodeId, ServiceId> {
    e.start_signaling()
}

#[test]
fn everyone_registers_and_im_crosses_edge_and_front_end() {
    let text = std::fs::read_to_string("topologies/enterprise-edge.yaml").unwrap();
    let topo = load_text(&text);
    let mut e = Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
    let uas = agents(&mut e);
    run_for(&mut e, 2);
    for (node, id) in &uas {
        assert!(ua_events(&e, *id).contains(&UserAgentEvent::Registered), "{} did not register", topo.node(*node).name);
    }
    let home = uas[&topo.node_by_name("home-pc").unwrap()];
    let branch = uas[&topo.node_by_name("branch-pc").unwrap()];
    e.command(home, |s, now| {
        if let Service::UserAgent(u) = s {
            u.send_request(now, Method::Message, "branch-pc", "im-1", "hello from home");
        }
    });
    run_for(&mut e, 2);
    let got = ua_events(&e, branch).into_iter().find_map(|ev| match ev {
        UserAgentEvent::Request(m) if m.start == Start::Request(Method::Message) => Some(m),
        _ => None,
    });
    let msg = got.expect("the branch user receives the IM");
    assert_eq!(msg.body, "hello from home");
    // The branch answers; the answer finds its way back through front end and Edge.
    e.command(branch, |s, _| {
        if let Service::UserAgent(u) = s {
            u.respond(&msg, 200, "");
        }
    });
    run_for(&mut e, 2);
    assert!(ua_events(&e, home).iter().any(|ev| matches!(ev, UserAgentEvent::Response(m) if m.start == Start::Response { code: 200, method: Method::Message })));
}

#[test]
fn without_the_access_edge_rule_external_users_cannot_sign_in() {
    let text = std::fs::read_to_string("topologies/enterprise-edge.yaml").unwrap();
    let closed = text.replacen("        - {name: \"Access Edge SIP\", action: allow, in: out0, protocol: tcp, dst: 172.16.10.10, ports: 5061}\n", "", 1);
    assert_ne!(closed, text);
    let topo = load_text(&closed);
    let mut e = Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
    let uas = agents(&mut e);
    run_for(&mut e, 40);
    let home = uas[&topo.node_by_name("home-pc").unwrap()];
    let events = ua_events(&e, home);
    assert!(!events.contains(&UserAgentEvent::Registered), "{events:?}");
    assert!(
        events.iter().any(|ev| matches!(ev, UserAgentEvent::TimedOut { method: Method::Register, .. })),
        "{events:?}"
    );
    let internal = uas[&topo.node_by_name("user-pc").unwrap()];
    assert!(ua_events(&e, internal).contains(&UserAgentEvent::Registered));
}
