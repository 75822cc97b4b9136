//! Runs one real call (laptop-full → desk-pc on `topologies/remote-worker-vpn.yaml`, 10 s of
//! media) and writes its charts (SVG and PNG, plus the topology as Graphviz DOT), its HTML
//! report and a one-entry index to `/tmp/icepath-demo/`, or to the directory given as the
//! first argument. For looking at the output as a reviewer would:
//!
//! ```text
//! cargo run --example render_demo
//! chromium --headless --no-sandbox --disable-gpu --screenshot=/tmp/shot.png \
//!     --window-size=1400,2400 file:///tmp/icepath-demo/index.html
//! ```

use std::fs;
use std::path::PathBuf;

use icepath::report::charts::CallCharts;
use icepath::report::html::{CallSection, IndexEntry, ReportPage, index_page, render_page};
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

    // The media path comes from the call's trace; the call does not trace its SIP, so the
    // signaling path is written out here: the laptop reaches the front end through the
    // tunnel (whose outer packets cross the home NAT and the internet), as does the INVITE
    // on its way to the desk PC.
    let mut charts = CallCharts::from_call(&call, &topo);
    charts.topology.signaling_path =
        ["laptop-full", "home-a", "core", "corp-vpn", "corp-rtr", "lync-fe", "corp-rtr", "desk-pc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    for (name, png) in charts.pngs() {
        fs::write(out.join(format!("{name}.png")), png).expect("writing a PNG");
    }
    for (name, _, svg) in charts.svgs() {
        if let Ok(svg) = svg {
            fs::write(out.join(format!("{name}.svg")), svg).expect("writing an SVG");
        }
    }
    fs::write(out.join("topology.dot"), charts.topology.to_dot()).expect("writing DOT");

    let page = ReportPage {
        title: "Remote worker on a tunnel-all VPN calls a desk PC".into(),
        summary: vec![
            "Two remote workers sit behind home NATs on a corporate remote-access VPN; laptop-full runs a \
             tunnel-all VPN, so its Lync media hairpins through the concentrator. It calls desk-pc on the \
             corporate LAN; 10 s of G.711 audio flow on every working path."
                .into(),
        ],
        calls: vec![CallSection::from_call(&call, &charts, Some(""))],
        extras: Vec::new(),
    };
    fs::write(out.join("index.html"), render_page(&page)).expect("writing the page");
    let entry = IndexEntry {
        name: page.title.clone(),
        href: "index.html".into(),
        passed: call.connected(),
        summary: call.verdict.clone().unwrap_or_else(|| call.failure.clone().unwrap_or_default()),
    };
    fs::write(out.join("suite.html"), index_page("Demo suite", &[entry])).expect("writing the index");
    println!("wrote {}", out.display());
}
