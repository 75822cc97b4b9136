use super::*;

const TOPO: &str = "\
links:
  - {id: lan, subnet: 10.0.0.0/24}
nodes:
  - id: fe
    kind: host
    interfaces: [{name: eth0, address: 10.0.0.10/24, link: lan}]
  - id: pc1
    kind: host
    interfaces: [{name: eth0, address: 10.0.0.11/24, link: lan}]
    sip: {registrar: fe}
  - id: pc2
    kind: host
    interfaces: [{name: eth0, address: 10.0.0.12/24, link: lan}]
    sip: {registrar: fe}
  - id: gw
    kind: router
    interfaces: [{name: eth0, address: 10.0.0.1/24, link: lan}]
    firewall:
      default: deny
      rules:
        - {name: first, action: allow, protocol: udp}
        - {name: last, action: deny}
";

fn build_from(text: &str) -> Result<Scenario, LoadFailure> {
    let def = read_scenario("s.yaml", text)
        .map_err(|diagnostics| LoadFailure { diagnostics, sources: vec![("s.yaml".into(), text.into())] })?;
    build("s.yaml".into(), text.into(), def, "t.yaml".into(), TOPO.into())
}

fn errors(text: &str) -> Vec<String> {
    match build_from(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.diagnostics.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn a_good_scenario_loads_and_resolves() {
    let s = build_from(
        "scenario: X1\ntopology: t.yaml\ncalls:\n  - from: pc1\n    to: pc2\n    expect: {result: connected, via: [gw]}\n",
    )
    .unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(s.def.id, "X1");
    assert_eq!(s.calls.len(), 1);
    assert_eq!(s.def.seed, 1);
}

#[test]
fn unknown_expectation_keys_are_errors_with_a_suggestion() {
    let e =
        errors("scenario: X\ntopology: t.yaml\ncalls:\n  - from: pc1\n    to: pc2\n    expect: {reslt: connected}\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("s.yaml:6:14: error: calls[0].expect.reslt: unknown field `reslt`"), "{}", e[0]);
    assert!(e[0].contains("did you mean `result`?"), "{}", e[0]);
}

#[test]
fn unknown_nodes_get_did_you_mean_at_their_place() {
    let e = errors("scenario: X\ntopology: t.yaml\ncalls:\n  - from: pc3\n    to: pc2\n    expect: {avoids: [gw2]}\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("s.yaml:4:11: error: calls[0].from: unknown node \"pc3\""), "{}", e[0]);
    assert!(e[0].contains("did you mean \"pc1\"?"), "{}", e[0]);
    assert!(e[1].starts_with("s.yaml:6:23: error: calls[0].expect.avoids[0]: unknown node \"gw2\""), "{}", e[1]);
}

#[test]
fn a_caller_without_sip_is_refused_with_a_hint() {
    let e = errors("scenario: X\ntopology: t.yaml\ncalls:\n  - from: gw\n    to: pc2\n    expect: {result: failed}\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("calls[0].from: expected a client with a `sip:` block"), "{}", e[0]);
}

#[test]
fn overrides_are_checked_like_the_topology_and_reported_in_the_scenario() {
    // A bad next hop in an added route is found by the topology checks, and reported at
    // the scenario's line.
    let e = errors(
        "scenario: X\ntopology: t.yaml\noverrides:\n  - node: gw\n    add-route: {to: 10.9.0.0/16, via: 192.168.7.1}\ncalls:\n  - from: pc1\n    to: pc2\n    expect: {result: connected}\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("s.yaml:5:"), "{}", e[0]);
    assert!(e[0].contains("not on-link"), "{}", e[0]);
    // Names that match nothing.
    let e = errors(
        "scenario: X\ntopology: t.yaml\noverrides:\n  - node: gww\n    set: {zone: lan}\n  - node: gw\n    remove-rule: frist\ncalls:\n  - from: pc1\n    to: pc2\n    expect: {result: connected}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("unknown node \"gww\"") && e[0].contains("did you mean \"gw\"?"), "{}", e[0]);
    assert!(e[1].contains("existing rule") && e[1].contains("did you mean \"first\"?"), "{}", e[1]);
}

#[test]
fn overrides_change_the_topology() {
    let s = build_from(
        "scenario: X\ntopology: t.yaml\noverrides:\n  - node: gw\n    remove-rule: first\n  - node: gw\n    add-rule: {name: new, action: allow, protocol: tcp}\n    before: last\n  - link: lan\n    set: {latency: 7ms}\ncalls:\n  - from: pc1\n    to: pc2\n    expect: {result: connected}\n",
    )
    .unwrap_or_else(|e| panic!("{}", e.render()));
    let gw = s.topology.node(s.topology.node_by_name("gw").unwrap());
    let names: Vec<_> = gw.roles.firewall.as_ref().unwrap().rules.iter().map(|r| r.name.clone().unwrap()).collect();
    assert_eq!(names, ["new", "last"]);
    assert_eq!(s.topology.links[0].props.latency, crate::SimDuration::from_millis(7));
}

#[test]
fn a_mutant_that_does_not_load_is_an_error() {
    let e = errors(
        "scenario: X\ntopology: t.yaml\ncalls:\n  - from: pc1\n    to: pc2\n    expect: {result: connected}\nmutants:\n  - name: m\n    overrides:\n      - node: gw\n        remove-route: 10.1.0.0/16\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("existing route"), "{}", e[0]);
}

#[test]
fn partitions_split_round_robin() {
    let p: Partition = "2/3".parse().unwrap();
    let taken: Vec<usize> = (0..7).filter(|&i| p.takes(i)).collect();
    assert_eq!(taken, [1, 4]);
    for bad in ["0/3", "4/3", "x", "1/0", "1-2"] {
        assert!(bad.parse::<Partition>().is_err(), "{bad}");
    }
    // Every file lands in exactly one slice.
    for n in 1..5 {
        for i in 0..20 {
            let owners = (1..=n).filter(|&k| Partition { k, n }.takes(i)).count();
            assert_eq!(owners, 1);
        }
    }
}
