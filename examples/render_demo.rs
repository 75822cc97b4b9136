//! Runs one real call (laptop-full → desk-pc on `topologies/remote-worker-vpn.yaml`, 10 s of
//! media) and writes its charts (SVG and PNG) and an HTML report to `/tmp/icepath-demo/`,
//! or to the directory given as the first argument. For looking at the output:
//! `cargo run --example render_demo && chromium --headless --screenshot … index.html`.

use std::fs;
use std::path::PathBuf;

use icepath::report::charts::{self, Chart, IceTimeline, PairMatrix};
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
    println!("wrote {}", out.display());
}

fn write<C: Chart>(dir: &std::path::Path, chart: &C) {
    fs::write(dir.join(format!("{}.svg", chart.name())), charts::svg(chart)).expect("writing SVG");
    fs::write(dir.join(format!("{}.png", chart.name())), charts::png(chart)).expect("writing PNG");
}
