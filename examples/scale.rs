//! The population scale run: enterprises of 1,000 to 100,000 hosts, a tenth of them on a
//! call at once (60 s of G.711 audio each), each size in its own child process so its peak
//! memory (VmHWM) is its own. Writes `benches/scale.csv` and `benches/scale.svg`.
//!
//! ```sh
//! cargo run --release --example scale                 # every size
//! cargo run --release --example scale -- 1000 10000   # chosen sizes
//! cargo run --release --example scale -- --one 10000  # one size, in this process
//! SCALE_SECS=10 cargo run --release --example scale -- --one 10000  # shorter calls (profiling)
//! ```
//!
//! A host is a user: 60% on office LANs (sites of up to 500), 40% at home behind a mix of
//! NATs, a tenth of those on VPN. Calls start evenly over the first 5 s of the window.

use std::process::Command;

/// The allocator the `icepath` binary uses (see `src/main.rs`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;

use plotters::coord::Shift;
use plotters::prelude::*;

use icepath::population::{generate, read_population};
use icepath::report::charts::{Chart, DrawResult};
use icepath::scenario::{PopulationOptions, run_population};
use icepath::{SimDuration, schema};

const SIZES: [u64; 5] = [1_000, 3_000, 10_000, 30_000, 100_000];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--chart") {
        // Redraw the chart from the CSV of an earlier run.
        let csv = std::fs::read_to_string("benches/scale.csv").expect("benches/scale.csv");
        chart(&points(csv.lines().skip(1).map(str::to_string).collect::<Vec<_>>().as_slice()));
        return;
    }
    if args.first().map(String::as_str) == Some("--one") {
        let hosts: u64 = args.get(1).and_then(|s| s.parse().ok()).expect("--one HOSTS");
        one(hosts);
        return;
    }
    let sizes: Vec<u64> =
        if args.is_empty() { SIZES.to_vec() } else { args.iter().filter_map(|s| s.parse().ok()).collect() };
    let exe = std::env::current_exe().expect("own path");
    let mut rows = Vec::new();
    println!("hosts,calls,nodes,packets_sent,generate_s,load_s,run_s,total_s,cpu_s,peak_mib,connected,relayed");
    for hosts in sizes {
        let out = Command::new(&exe).args(["--one", &hosts.to_string()]).output().expect("child runs");
        let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
        if !out.status.success() || line.is_empty() {
            eprintln!("{hosts} hosts: failed: {}", String::from_utf8_lossy(&out.stderr));
            continue;
        }
        println!("{line}");
        rows.push(line);
    }
    let csv = format!(
        "hosts,calls,nodes,packets_sent,generate_s,load_s,run_s,total_s,cpu_s,peak_mib,connected,relayed\n{}\n",
        rows.join("\n")
    );
    std::fs::write("benches/scale.csv", csv).expect("write benches/scale.csv");
    chart(&points(&rows));
    println!("wrote benches/scale.csv and benches/scale.svg");
}

/// (hosts, wall s, CPU s, peak MiB) of each CSV row.
fn points(rows: &[String]) -> Vec<(f64, f64, f64, f64)> {
    rows.iter()
        .map(|r| {
            let f: Vec<f64> = r.split(',').map(|x| x.parse().unwrap_or(0.0)).collect();
            (f[0], f[7], f[8], f[9])
        })
        .collect()
}

/// The population file for `hosts` users.
fn spec_text(hosts: u64) -> String {
    let site_users = hosts * 6 / 10;
    let sites = site_users.div_ceil(500).max(1);
    let per_site = site_users / sites;
    let homes = hosts - per_site * sites;
    let calls = hosts / 10;
    let secs: u64 = std::env::var("SCALE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    // Every call allocates four relays at first (UDP and TCP, both ends) and keeps about
    // one; an Edge relays from 45,536 ports.
    let servers = (calls * 4).div_ceil(40_000).max(2);
    let concentrators = (homes / 10).div_ceil(2_000).clamp(1, 10);
    format!(
        "name: scale-{hosts}\nseed: 1\n\
         sites: {{count: {sites}, users: {per_site}}}\n\
         homes: {{users: {homes}, nat: {{port-restricted-cone: 50%, restricted-cone: 20%, full-cone: 10%, symmetric: 20%}}, vpn: {{share: 10%, full: 50%}}}}\n\
         vpn: {{concentrators: {concentrators}, capacity: 200000pps}}\n\
         edges: {{pools: 1, servers: {servers}}}\n\
         calls: {{arrivals: concurrent, count: {calls}, ramp: 5s, duration: {secs}s, distribution: fixed, codec: pcmu}}\n"
    )
}

fn one(hosts: u64) {
    let t = Instant::now();
    let spec = read_population("scale.yaml", &spec_text(hosts)).expect("the scale population reads");
    let g = generate(&spec, spec.seed);
    let t_gen = t.elapsed().as_secs_f64();
    let topo = schema::load_topology("scale-topology.yaml", &g.yaml).expect("the generated topology loads").topology;
    drop(g.yaml);
    let t_load = t.elapsed().as_secs_f64() - t_gen;
    let opts = PopulationOptions { seed: 1, window: SimDuration::from_secs(6), ..PopulationOptions::default() };
    let r = run_population(&topo, &spec, &g.users, &g.edges, &opts);
    let total = t.elapsed().as_secs_f64();
    let t_run = total - t_gen - t_load;
    eprintln!("{}", r.to_text());
    println!(
        "{hosts},{},{},{},{t_gen:.3},{t_load:.3},{t_run:.3},{total:.3},{:.3},{:.1},{},{}",
        r.calls.placed,
        topo.nodes.len(),
        r.packets.sent,
        cpu_seconds(),
        peak_mib(),
        r.calls.connected,
        r.calls.relayed
    );
}

/// CPU time this (single-threaded) process has run, from /proc/self/schedstat: on a
/// shared machine the wall time also counts waiting for a core.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/schedstat").unwrap_or_default();
    s.split_whitespace().next().and_then(|ns| ns.parse::<f64>().ok()).map_or(0.0, |ns| ns / 1e9)
}

/// The process's peak resident set (VmHWM), in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Time and memory against hosts, both axes logarithmic, drawn through the library's
/// chart machinery (which embeds the font plotters needs to measure text).
fn chart(points: &[(f64, f64, f64, f64)]) {
    let svg = icepath::report::charts::svg(&ScaleChart { points: points.to_vec() });
    std::fs::write("benches/scale.svg", svg).expect("write benches/scale.svg");
}

struct ScaleChart {
    /// (hosts, wall s, CPU s, peak MiB)
    points: Vec<(f64, f64, f64, f64)>,
}

impl Chart for ScaleChart {
    fn name(&self) -> &'static str {
        "scale"
    }
    fn title(&self) -> &str {
        "icepath population scale run: a tenth of the hosts on a 60 s call"
    }
    fn no_data(&self) -> Option<&'static str> {
        self.points.is_empty().then_some("no size was measured")
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
        let points = &self.points;
        area.fill(&WHITE)?;
        let all = || points.iter().flat_map(|p| [p.1, p.2, p.3 / 1024.0]);
        let y_max = all().fold(10.0f64, f64::max) * 2.0;
        let y_min = all().fold(1.0f64, f64::min).max(1e-3) / 2.0;
        let mut c = ChartBuilder::on(area)
            .caption(self.title(), ("sans-serif", 30))
            .margin(24)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d((500f64..200_000f64).log_scale(), (y_min..y_max).log_scale())?;
        c.configure_mesh()
            .x_desc("hosts (calls = hosts / 10)")
            .y_desc("time (s), peak memory (GiB)")
            .label_style(("sans-serif", 18))
            .axis_desc_style(("sans-serif", 20))
            .draw()?;
        let series = [
            (
                "wall time, s (shared 2-core machine)",
                RGBColor(0x1b, 0x3a, 0x6b),
                points.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
            ),
            ("CPU time, s (one thread)", RGBColor(0x27, 0x8a, 0x4e), points.iter().map(|p| (p.0, p.2)).collect()),
            (
                "peak memory (VmHWM), GiB",
                RGBColor(0xc0, 0x39, 0x2b),
                points.iter().map(|p| (p.0, p.3 / 1024.0)).collect(),
            ),
        ];
        for (name, color, pts) in series {
            c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(3)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
            c.draw_series(pts.into_iter().map(|p| Circle::new(p, 5, color.filled())))?;
        }
        let targets = [
            (
                "target: 10 s at 10k hosts, 2 min at 100k",
                RGBColor(0x1b, 0x3a, 0x6b),
                vec![(10_000.0, 10.0), (100_000.0, 120.0)],
            ),
            (
                "target: 1 GB at 10k hosts, 8 GB at 100k",
                RGBColor(0xc0, 0x39, 0x2b),
                vec![(10_000.0, 1.0), (100_000.0, 8.0)],
            ),
        ];
        for (name, color, pts) in targets {
            c.draw_series(pts.into_iter().map(move |p| Cross::new(p, 9, color.stroke_width(2))))?
                .label(name)
                .legend(move |(x, y)| Cross::new((x + 12, y), 6, color.stroke_width(2)));
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 18))
            .draw()?;
        Ok(())
    }
}
