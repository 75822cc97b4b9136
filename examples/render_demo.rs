//! Runs one real call (laptop-full → desk-pc on `topologies/remote-worker-vpn.yaml`, 10 s of
//! media) and writes its charts (SVG and PNG) and an HTML report to `/tmp/icepath-demo/`,
//! or to the directory given as the first argument. For looking at the output:
//! `cargo run --example render_demo && chromium --headless --screenshot … index.html`.

use std::fs;
use std::path::PathBuf;

use icepath::report::charts::{self, Chart, IceTimeline, MediaSeries, PairMatrix, QualityChart, TopologyDiagram};
use icepath::scenario::{CallSpec, run_call};
use icepath::schema::load_topology;
use icepath::time::SimDuration;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp/icepath-demo".into()));
    fs::create_dir_all(&out).expect("creating the output directory");
    let file = "topologies/remote-worker-vpn.yaml";
    let text = fs::read_to_string(file).expect("reading the topology");
    let topo = load_topology(file, &text).expect("a valid topology").topology;
    let node = |n: &str| topo.node_by_name(n).expect("node exists");
    let mut spec = CallSpec::new(node("laptop-full"), node("desk-pc"));
    spec.media_duration = SimDuration::from_secs(10);
    let call = run_call(&topo, &spec).expect("both ends have SIP");

    let matrix = PairMatrix::from_call(&call);
    write(&out, &matrix);
    write(&out, &IceTimeline::from_call(&call));
    write(&out, &QualityChart::from_call(&call));
    write(&out, &MediaSeries::from_call(&call));
    // The call does not report the nodes its packets crossed yet; these are the hops of the
    // chosen pair (the laptop's VPN address to the desk PC: through the tunnel, whose outer
    // packets cross the home NAT and the internet to the concentrator) and of its SIP.
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let diagram = TopologyDiagram::from_topology(&topo)
        .with_media_path(names(&["laptop-full", "home-a", "core", "corp-vpn", "corp-rtr", "desk-pc"]))
        .with_signaling_path(names(&[
            "laptop-full",
            "home-a",
            "core",
            "corp-vpn",
            "corp-rtr",
            "lync-fe",
            "corp-rtr",
            "desk-pc",
        ]));
    write(&out, &diagram);
    fs::write(out.join("topology.dot"), diagram.to_dot()).expect("writing DOT");
    println!("wrote {}", out.display());
}

fn write<C: Chart>(dir: &std::path::Path, chart: &C) {
    fs::write(dir.join(format!("{}.svg", chart.name())), charts::svg(chart)).expect("writing SVG");
    fs::write(dir.join(format!("{}.png", chart.name())), charts::png(chart)).expect("writing PNG");
}
