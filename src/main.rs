//! The `icepath` command line: reads files, calls the library, prints, picks the exit code.
//!
//! Exit codes: 0 success; 1 the simulation ran but the outcome is a failure (a traced
//! packet was dropped); 2 invalid input (a topology with errors, a bad argument).

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc rather than the system allocator: a run allocates and frees a payload per
/// packet, and glibc's malloc and free were a tenth of a population run's instructions.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use icepath::proto::ice::Profile;
use icepath::report::PathReport;
use icepath::rng::DEFAULT_SEED;
use icepath::scenario::{BackgroundFlow, CallSpec, MediaType, ProbeSpec, ProbeTarget, run_call, run_probe};
use icepath::schema::{self, Severity};
use icepath::topology::{NodeKind, Topology};
use icepath::trace::TraceLevel;
use icepath::wire::{Datagram, Protocol, TcpFlags, TcpHeader};
use icepath::{Engine, Limits, SimDuration, SimRng, SimTime};

/// icepath: simulate how packets, NATs, firewalls, VPNs and ICE treat your network design.
#[derive(Parser)]
#[command(name = "icepath", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a topology file and summarise it.
    Check {
        /// The topology YAML file.
        topology: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Send packets through a topology and show the hop-by-hop path of each.
    Trace {
        /// The topology YAML file.
        topology: String,
        /// The node that sends.
        #[arg(long)]
        from: String,
        /// Destination: ADDRESS[:PORT], or the id of a node (its first interface address).
        #[arg(long)]
        to: String,
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
        /// Payload bytes per packet (172 = a 20 ms G.711 RTP packet).
        #[arg(long, default_value_t = 172)]
        size: usize,
        /// Number of packets.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Time between packets, e.g. 20ms.
        #[arg(long, default_value = "20ms")]
        interval: String,
        /// Source port.
        #[arg(long, default_value_t = 50000)]
        src_port: u16,
        /// The destination answers every packet (addresses swapped), like an echo or STUN
        /// server, so the return path through NATs and firewalls is traced too.
        #[arg(long)]
        echo: bool,
        /// The program sending (host firewall rules can be scoped to it), e.g. communicator.exe.
        #[arg(long)]
        app: Option<String>,
        /// Set the IPv4 Don't Fragment bit (on by default, as media stacks do).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        df: bool,
        /// The run's seed; every random draw derives from it.
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
        /// Stop after this much virtual time, e.g. 60s.
        #[arg(long, default_value = "3600s")]
        horizon: String,
        /// Stop after this many events.
        #[arg(long, default_value_t = Limits::default().max_events)]
        max_events: u64,
        /// Write every datagram, as it crossed each link, to a pcap file (Wireshark).
        #[arg(long)]
        pcap: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Ask an Edge's relay for this node's server-reflexive and relayed addresses (STUN
    /// Binding and TURN Allocate with MRAS credentials) and show the exchange.
    Probe {
        /// The topology YAML file.
        topology: String,
        /// The client node.
        #[arg(long)]
        from: String,
        /// The Edge to allocate on.
        #[arg(long)]
        server: String,
        /// Which face of the Edge to use: its public address (the 1:1 NAT in front, else its external NIC) or its internal NIC.
        #[arg(long, value_enum, default_value_t = Face::External)]
        via: Face,
        /// TURN over UDP (3478) or TCP (443).
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        transport: Proto,
        /// The Edge whose MRAS issues the credentials (default: the server itself).
        #[arg(long)]
        credentials_from: Option<String>,
        /// The client's source port.
        #[arg(long, default_value_t = 50000)]
        src_port: u16,
        /// How long to let the exchange run, e.g. 45s (UDP gives up after 39.5 s).
        #[arg(long, default_value = "45s")]
        duration: String,
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
        /// Write every datagram, as it crossed each link, to a pcap file (Wireshark).
        #[arg(long)]
        pcap: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Place a call between two clients: signaling through their registrars, candidate
    /// gathering on their Edge, ICE checks across the network; shows every pair and the winner.
    Call {
        /// The topology YAML file.
        topology: String,
        /// The calling node (needs a `sip:` block).
        #[arg(long)]
        from: String,
        /// The called node (needs a `sip:` block).
        #[arg(long)]
        to: String,
        #[arg(long, value_enum, default_value_t = IceProfile::MsIce2)]
        profile: IceProfile,
        /// What the call carries; desktop sharing and file transfer are TCP-only.
        #[arg(long, value_enum, default_value_t = Media::Audio)]
        media: Media,
        /// The audio codec sent once connected: G.711 (pcmu, the default) or an Opus/SILK-like
        /// wideband codec. Audio only.
        #[arg(long, value_enum)]
        codec: Option<AudioCodec>,
        /// Bitrate of the video (default 1.5Mbit, 30 fps) or desktop-sharing (default 500kbit)
        /// stream, e.g. 2Mbit.
        #[arg(long)]
        bitrate: Option<String>,
        /// How long media flows on every working path after checks settle, e.g. 10s (0 for none).
        #[arg(long, default_value = "10s")]
        duration: String,
        /// Bulk traffic while media flows, FROM:TO@RATE (node ids and a rate like 150Mbit),
        /// e.g. lync-fe:laptop-split@150Mbit; may be repeated.
        #[arg(long = "background", value_name = "FROM:TO@RATE")]
        background: Vec<String>,
        /// Give up this long after the INVITE (checks retransmit for 39.5 s before a pair
        /// fails), e.g. 45s.
        #[arg(long, default_value = "45s")]
        timeout: String,
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
        /// Write every datagram, as it crossed each link, to a pcap file (Wireshark).
        #[arg(long)]
        pcap: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run one scenario file: place its calls, judge its expectations, print a summary per call.
    Run {
        /// The scenario YAML file.
        scenario: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Skip the scenario's mutants (the deliberate breaks its expectations must catch).
        #[arg(long)]
        no_mutants: bool,
    },
    /// Run every scenario under the given folders or files; one line per expectation, then
    /// `N passed, N failed`. Exit code 1 when anything fails.
    Test {
        /// Scenario files or folders (searched for *.yaml); default: scenarios/
        paths: Vec<String>,
        /// Also write a JUnit XML report here.
        #[arg(long)]
        junit: Option<String>,
        /// Run only the k-th of n slices of the sorted file list, like 2/4 (for CI matrices).
        #[arg(long)]
        partition: Option<String>,
        /// Worker threads (default: one per core); results are the same for any number.
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Write design-review reports: per scenario an index.html with charts (and PNGs for
    /// slides), results.json and trace.pcap; for several, an index page with a pass/fail table.
    Report {
        /// Scenario files or folders (searched for *.yaml).
        paths: Vec<String>,
        /// Where to write: a single scenario's folder, or the root of a suite's reports
        /// (default: reports/).
        #[arg(short = 'o', long = "out")]
        out: Option<String>,
    },
    /// Run a scenario over the variations its `sweep:` section lists (NAT presets, link
    /// latency, jitter and loss, VPN states), many seeds each, in parallel; print the success
    /// rate, winning pair types and quality per parameter value, and write a JSON summary and
    /// charts. The output is the same for any number of jobs.
    Sweep {
        /// The scenario YAML file with a `sweep:` section.
        #[arg(required_unless_present = "merge")]
        scenario: Option<String>,
        /// Seeds per point (default: the section's `seeds`, else 1); replica r uses the
        /// scenario's seed + r.
        #[arg(long)]
        seeds: Option<u32>,
        /// Worker threads (default: one per core); results are the same for any number.
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only the k-th of n slices of the run list, like 2/4; merge the slices' JSON
        /// files with --merge.
        #[arg(long)]
        partition: Option<String>,
        /// Instead of running, merge the sweep.json files of partitioned runs of one sweep.
        #[arg(long, num_args = 1.., conflicts_with_all = ["scenario", "seeds", "partition"])]
        merge: Vec<String>,
        /// Where to write sweep.json and the charts (default: target/sweep/<scenario stem>/).
        #[arg(short = 'o', long = "out")]
        out: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Write the topology of an enterprise described by a population file (sites, home
    /// users behind a mix of NATs, VPN users, Edge pools): an ordinary topology file.
    Generate {
        /// The population YAML file.
        population: String,
        /// Write the topology here (default: standard output).
        #[arg(short = 'o', long = "out")]
        out: Option<String>,
        /// Seed for the NAT presets and tunnels drawn per home user (default: the file's `seed`).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run many concurrent calls over the enterprise a population file describes (one shared
    /// network): per-Edge allocations and relay bandwidth over time, the busiest links, the
    /// call-quality distribution.
    Population {
        /// The population YAML file.
        population: String,
        /// The run's seed (default: the file's `seed`): the generated network and the calls.
        #[arg(long)]
        seed: Option<u64>,
        /// How long calls keep arriving, e.g. 60s; the run then lets every call end.
        #[arg(long, default_value = "60s")]
        duration: String,
        /// How many links to rank.
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also write summary.json, calls.json, topology.yaml and the charts (SVG) here.
        #[arg(short = 'o', long = "out")]
        out: Option<String>,
    },
    /// Audit a topology's security zones: for every pair of zones, what is reachable by new
    /// unsolicited flows, found by sending probes through the firewall, NAT and route models.
    Audit {
        /// The topology YAML file.
        topology: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AudioCodec {
    Pcmu,
    Opus,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Media {
    Audio,
    Video,
    DesktopSharing,
    FileTransfer,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum IceProfile {
    Rfc8445,
    MsIce2,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Face {
    External,
    Internal,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Proto {
    Udp,
    Tcp,
}

/// Writes to stdout, ignoring a closed pipe (`icepath trace ... | head` must not panic).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// `out!` with a newline.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// A failure that ends the command with a message and an exit code.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn input(message: impl Into<String>) -> Self {
        Failure { message: message.into(), code: 2 }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { topology, format } => check(&topology, format),
        Command::Trace { .. } => trace(cli.command),
        Command::Probe { .. } => probe(cli.command),
        Command::Call { .. } => call(cli.command),
        Command::Run { scenario, format, no_mutants } => run_scenario(&scenario, format, no_mutants),
        Command::Test { paths, junit, partition, jobs, format } => {
            test_suite(paths, junit.as_deref(), partition.as_deref(), jobs, format)
        }
        Command::Audit { topology, format } => audit(&topology, format),
        Command::Sweep { scenario, seeds, jobs, partition, merge, out, format } => {
            sweep(scenario, seeds, jobs, partition.as_deref(), merge, out, format)
        }
        Command::Generate { population, out, seed } => generate(&population, out.as_deref(), seed),
        Command::Population { population, seed, duration, top, format, out } => {
            run_population(&population, seed, &duration, top, format, out.as_deref())
        }
        Command::Report { paths, out } => report(paths, out),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprint!("{}", f.message);
            if !f.message.ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(f.code)
        }
    }
}

/// Reads and validates a topology; prints warnings to stderr.
fn load(path: &str) -> Result<Topology, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::input(format!("error: cannot read {path}: {e}")))?;
    match schema::load_topology(path, &text) {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprint!("{}", render(&loaded.warnings, &text));
            }
            Ok(loaded.topology)
        }
        Err(err) => {
            let errors = err.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
            let mut msg = render(&err.diagnostics, &text);
            let _ = writeln!(msg, "{path}: {errors} error{} found; nothing was simulated", plural(errors));
            Err(Failure::input(msg))
        }
    }
}

/// Diagnostics for stderr: miette's graphical report on a terminal, plain compiler-style text
/// (stable, grep-able, what CI logs and golden tests see) otherwise.
fn render(diagnostics: &[schema::Diagnostic], text: &str) -> String {
    if std::io::stderr().is_terminal() {
        schema::render_fancy(diagnostics, text, true)
    } else {
        schema::render(diagnostics, text)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn check(path: &str, format: Format) -> Result<u8, Failure> {
    let t = load(path)?;
    let kinds: Vec<(NodeKind, usize)> = NodeKind::ALL
        .iter()
        .map(|&k| (k, t.nodes.iter().filter(|n| n.kind == k).count()))
        .filter(|&(_, n)| n > 0)
        .collect();
    let kind_summary = kinds
        .iter()
        .map(|(k, n)| {
            let noun = if *k == NodeKind::Dns { "dns server" } else { k.as_str() };
            format!("{n} {noun}{}", plural(*n))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let subnets = t.subnets();
    let islands = t.islands();
    let island_names =
        |i: &Vec<icepath::topology::NodeId>| i.iter().map(|n| t.node(*n).name.as_str()).collect::<Vec<_>>();
    let link_names =
        |ids: &[icepath::topology::LinkId]| ids.iter().map(|l| t.link(*l).name.as_str()).collect::<Vec<_>>();
    let zone_members =
        |z: &icepath::topology::Zone| z.members.iter().map(|n| t.node(*n).name.as_str()).collect::<Vec<_>>();
    match format {
        Format::Json => {
            let json = serde_json::json!({
                "topology": t.name,
                "file": path,
                "nodes": t.nodes.len(),
                "kinds": kinds.iter().map(|(k, n)| (k.as_str().to_string(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
                "links": t.links.len(),
                "interfaces": t.ifaces.len(),
                "subnets": subnets.iter().map(|(net, links)| serde_json::json!({"subnet": net.to_string(), "links": link_names(links)})).collect::<Vec<_>>(),
                "islands": islands.iter().map(island_names).collect::<Vec<_>>(),
                "zones": t.zones.iter().map(|(name, z)| serde_json::json!({"zone": name, "nodes": zone_members(z)})).collect::<Vec<_>>(),
            });
            outln!("{}", serde_json::to_string_pretty(&json).expect("invariant: json value serializes"));
        }
        Format::Text => {
            outln!("{path}: ok, topology `{}`", t.name);
            outln!(
                "  {} nodes ({kind_summary}), {} links, {} interfaces",
                t.nodes.len(),
                t.links.len(),
                t.ifaces.len()
            );
            if islands.len() > 1 {
                outln!(
                    "  {} islands: links do not join every node, so these groups can never reach each other:",
                    islands.len()
                );
                for i in &islands {
                    outln!("    {}", island_names(i).join(", "));
                }
            }
            outln!("  subnets:");
            for (net, links) in &subnets {
                outln!("    {net:<18} {}", link_names(links).join(", "));
            }
            if !t.zones.is_empty() {
                outln!("  zones:");
                for (name, z) in &t.zones {
                    outln!("    {name:<10} {}", zone_members(z).join(", "));
                }
            }
        }
    }
    Ok(0)
}

fn trace(cmd: Command) -> Result<u8, Failure> {
    let Command::Trace {
        topology,
        from,
        to,
        proto,
        size,
        count,
        interval,
        src_port,
        echo,
        app,
        df,
        seed,
        horizon,
        max_events,
        pcap,
        format,
    } = cmd
    else {
        unreachable!("trace() is only called for the trace command")
    };
    let interval = duration_arg("--interval", &interval)?;
    let horizon = duration_arg("--horizon", &horizon)?;
    let t = load(&topology)?;
    let from_id = node_arg(&t, "--from", &from)?;
    let (dst, resolved) = destination(&t, from_id, &to)?;
    // The source address is the one a real stack would pick: the egress interface's.
    let src_ip = source_address(&t, from_id, *dst.ip())
        .ok_or_else(|| Failure::input(format!("error: --from {from}: node has no interface to send from")))?;
    let src = SocketAddrV4::new(src_ip, src_port);
    let limits = Limits { horizon: SimTime::ZERO + horizon, max_events, ..Limits::default() };
    let mut engine = Engine::new(&t, SimRng::new(seed), limits, TraceLevel::Hops);
    engine.set_capture(pcap.is_some());
    // VPN clients connect first, as they would before the user sends anything.
    engine.connect_vpns();
    engine.run();
    engine.set_echo(echo);
    let start = engine.now();
    let first = icepath::trace::PacketId(engine.trace().counters().sent + 1);
    for i in 0..count {
        let payload = vec![0u8; size];
        let mut d = match proto {
            Proto::Udp => Datagram::udp(src, dst, payload),
            Proto::Tcp => {
                let h = TcpHeader { seq: i, ack: 0, flags: TcpFlags(TcpFlags::SYN.0), window: 65535 };
                Datagram::tcp(src, dst, h, payload)
            }
        };
        d.dont_fragment = df;
        d.ident = i as u16;
        let at = start + SimDuration::from_nanos(interval.as_nanos().saturating_mul(i as u64));
        engine.send_from_app(at, from_id, d, app.as_deref());
    }
    let run = engine.run();
    let report = PathReport::new(&t, seed, engine.trace(), &run, first);
    if let Some(path) = &pcap {
        write_pcap(path, engine.captured())?;
    }
    match format {
        Format::Json => out!("{}", report.to_json()),
        Format::Text => {
            let p = match proto {
                Proto::Udp => Protocol::Udp,
                Proto::Tcp => Protocol::Tcp,
            };
            if let Some(r) = &resolved {
                outln!(
                    "{to} resolves to {} for {from} (view `{}` of {}, asked from {})",
                    dst.ip(),
                    r.view,
                    t.node(r.server).name,
                    r.source
                );
            }
            for s in engine.vpn_sessions() {
                outln!(
                    "vpn: {} knows client {} at {} (tunnel up at {})",
                    t.node(s.concentrator).name,
                    s.inner,
                    s.outer,
                    s.since
                );
            }
            outln!(
                "tracing {count} {p} packet{} of {size} payload bytes from {from} ({src}) to {dst}, every {interval}; seed {seed}",
                plural(count as usize)
            );
            out!("{}", report.to_text());
        }
    }
    Ok(if report.all_delivered() { 0 } else { 1 })
}

fn probe(cmd: Command) -> Result<u8, Failure> {
    let Command::Probe {
        topology,
        from,
        server,
        via,
        transport,
        credentials_from,
        src_port,
        duration,
        seed,
        pcap,
        format,
    } = cmd
    else {
        unreachable!("probe() is only called for the probe command")
    };
    let duration = duration_arg("--duration", &duration)?;
    let t = load(&topology)?;
    let client = node_arg(&t, "--from", &from)?;
    let edge = node_arg(&t, "--server", &server)?;
    let credentials_from = match &credentials_from {
        Some(n) => node_arg(&t, "--credentials-from", n)?,
        None => edge,
    };
    let spec = ProbeSpec {
        client,
        src_port,
        edge,
        target: match via {
            Face::External => ProbeTarget::External,
            Face::Internal => ProbeTarget::Internal,
        },
        protocol: match transport {
            Proto::Udp => Protocol::Udp,
            Proto::Tcp => Protocol::Tcp,
        },
        credentials_from,
        seed,
        duration,
        capture: pcap.is_some(),
    };
    let outcome = run_probe(&t, &spec).map_err(|e| Failure::input(format!("error: {e}")))?;
    emit(pcap.as_deref(), &outcome.capture, format, || outcome.to_json(), || outcome.to_text())?;
    Ok(if outcome.allocated() { 0 } else { 1 })
}

fn call(cmd: Command) -> Result<u8, Failure> {
    let Command::Call {
        topology,
        from,
        to,
        profile,
        media,
        codec,
        bitrate,
        duration,
        background,
        timeout,
        seed,
        pcap,
        format,
    } = cmd
    else {
        unreachable!("call() is only called for the call command")
    };
    let timeout = duration_arg("--timeout", &timeout)?;
    let media_duration = duration_arg("--duration", &duration)?;
    let t = load(&topology)?;
    let background = background.iter().map(|b| background_arg(&t, b)).collect::<Result<Vec<_>, _>>()?;
    let bitrate = bitrate
        .map(|b| {
            schema::parse_bandwidth(&b)
                .ok()
                .filter(|&r| r > 0)
                .ok_or_else(|| Failure::input(format!("error: --bitrate {b}: expected a rate like 1.5Mbit")))
        })
        .transpose()?;
    use icepath::wire::rtp::Codec;
    let codec = match (media, codec, bitrate) {
        (Media::Audio, _, Some(_)) => return Err(Failure::input("error: --bitrate is for video and desktop sharing")),
        (Media::Audio, None | Some(AudioCodec::Pcmu), None) => Codec::PCMU,
        (Media::Audio, Some(AudioCodec::Opus), None) => Codec::OPUS,
        (_, Some(_), _) => return Err(Failure::input("error: --codec is for audio calls")),
        (Media::Video, None, b) => Codec::conference_video(b.unwrap_or(1_500_000)),
        (Media::DesktopSharing, None, b) => Codec::desktop_sharing(b.unwrap_or(500_000)),
        (Media::FileTransfer, None, Some(_)) => {
            return Err(Failure::input("error: --bitrate is for video and desktop sharing"));
        }
        (Media::FileTransfer, None, None) => Codec::PCMU,
    };
    let spec = CallSpec {
        caller: node_arg(&t, "--from", &from)?,
        callee: node_arg(&t, "--to", &to)?,
        profile: match profile {
            IceProfile::Rfc8445 => Profile::Rfc8445,
            IceProfile::MsIce2 => Profile::MsIce2,
        },
        media: match media {
            Media::Audio => MediaType::Audio,
            Media::Video => MediaType::Video,
            Media::DesktopSharing => MediaType::DesktopSharing,
            Media::FileTransfer => MediaType::FileTransfer,
        },
        codec,
        media_duration,
        background,
        seed,
        connect_timeout: timeout,
        start: SimDuration::ZERO,
        capture: pcap.is_some(),
    };
    let outcome = run_call(&t, &spec).map_err(|e| Failure::input(format!("error: {e}")))?;
    emit(pcap.as_deref(), &outcome.capture, format, || outcome.to_json(), || outcome.to_text())?;
    Ok(if outcome.connected() { 0 } else { 1 })
}

/// Writes the capture if asked, then the result in the chosen format.
fn emit(
    pcap: Option<&str>,
    capture: &[(SimTime, Datagram)],
    format: Format,
    json: impl FnOnce() -> String,
    text: impl FnOnce() -> String,
) -> Result<(), Failure> {
    if let Some(path) = pcap {
        write_pcap(path, capture)?;
    }
    match format {
        Format::Json => out!("{}", json()),
        Format::Text => out!("{}", text()),
    }
    Ok(())
}

fn write_pcap(path: &str, records: &[(SimTime, Datagram)]) -> Result<(), Failure> {
    let bytes = icepath::report::pcap::pcap_bytes(records.iter().map(|(t, d)| (*t, d)));
    std::fs::write(path, bytes).map_err(|e| Failure { message: format!("error: cannot write {path}: {e}"), code: 1 })
}

/// Parses `FROM:TO@RATE`.
fn background_arg(t: &Topology, text: &str) -> Result<BackgroundFlow, Failure> {
    let bad = || {
        Failure::input(format!("error: --background {text}: expected FROM:TO@RATE like lync-fe:laptop-split@150Mbit"))
    };
    let (nodes, rate) = text.split_once('@').ok_or_else(bad)?;
    let (from, to) = nodes.split_once(':').ok_or_else(bad)?;
    let rate = schema::parse_bandwidth(rate)
        .map_err(|e| Failure::input(format!("error: --background {text}: rate: expected {e}")))?;
    Ok(BackgroundFlow { from: node_arg(t, "--background", from)?, to: node_arg(t, "--background", to)?, rate })
}

fn duration_arg(flag: &str, text: &str) -> Result<SimDuration, Failure> {
    schema::parse_duration(text).map_err(|e| Failure::input(format!("error: {flag} {text}: expected {e}")))
}

/// Resolves a node id, suggesting the closest one on a typo.
fn node_arg(t: &Topology, flag: &str, name: &str) -> Result<icepath::topology::NodeId, Failure> {
    t.node_by_name(name).ok_or_else(|| {
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        let hint = match schema::suggest(name, &names) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("known nodes: {}", names.join(", ")),
        };
        Failure::input(format!("error: {flag}: unknown node `{name}` in topology `{}`\n  hint: {hint}", t.name))
    })
}

/// Parses `ADDRESS[:PORT]`, a node id, or a DNS name resolved through the sender's
/// resolver (default port 3478, the STUN/TURN port).
fn destination(
    t: &Topology,
    from: icepath::topology::NodeId,
    to: &str,
) -> Result<(SocketAddrV4, Option<icepath::net::dns::Resolution>), Failure> {
    const DEFAULT_PORT: u16 = 3478;
    if let Ok(sa) = to.parse::<SocketAddrV4>() {
        return Ok((sa, None));
    }
    if let Ok(ip) = to.parse::<Ipv4Addr>() {
        return Ok((SocketAddrV4::new(ip, DEFAULT_PORT), None));
    }
    let (name, port) = match to.rsplit_once(':') {
        Some((n, p)) => {
            let port = p.parse::<u16>().map_err(|_| {
                Failure::input(format!("error: --to {to}: port `{p}` is not a number between 0 and 65535"))
            })?;
            (n, port)
        }
        None => (to, DEFAULT_PORT),
    };
    if name.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(Failure::input(format!(
            "error: --to {to}: expected ADDRESS[:PORT] like 192.0.2.10:3478, a node id or a DNS name"
        )));
    }
    if t.node_by_name(name).is_none() && name.contains('.') {
        let r = icepath::net::dns::resolve(t, from, name)
            .map_err(|e| Failure::input(format!("error: --to {to}: cannot resolve: {e}")))?;
        let addr = *r.addrs.first().expect("invariant: views hold at least one address per name");
        return Ok((SocketAddrV4::new(addr, port), Some(r)));
    }
    let node = node_arg(t, "--to", name)?;
    let iface = t
        .node(node)
        .ifaces
        .first()
        .copied()
        .ok_or_else(|| Failure::input(format!("error: --to {to}: node `{name}` has no interfaces")))?;
    Ok((SocketAddrV4::new(t.iface(iface).addr, port), None))
}

/// The address of the interface `node` would send toward `dst` from, else its first one.
fn source_address(t: &Topology, node: icepath::topology::NodeId, dst: Ipv4Addr) -> Option<Ipv4Addr> {
    let egress = icepath::net::forward::egress(t, node, dst).map(|(via, _)| via);
    egress.or(t.node(node).ifaces.first().copied()).map(|i| t.iface(i).addr)
}

/// A scenario file that did not load: every problem with its snippet, then a count and
/// what was therefore not done.
fn scenario_failure(e: &icepath::suite::LoadFailure, file: &str, consequence: &str) -> Failure {
    let errors = e.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    Failure::input(format!("{}{file}: {errors} error{} found; {consequence}", e.render(), plural(errors)))
}

fn run_scenario(path: &str, format: Format, no_mutants: bool) -> Result<u8, Failure> {
    let s = icepath::suite::load(std::path::Path::new(path))
        .map_err(|e| scenario_failure(&e, path, "nothing was simulated"))?;
    let opts = icepath::suite::RunOptions { skip_mutants: no_mutants, ..Default::default() };
    let r = icepath::suite::run(&s, opts);
    match format {
        Format::Text => out!("{}", icepath::suite::to_text(&r)),
        Format::Json => out!("{}", serde_json::to_string_pretty(&r).expect("invariant: results serialize") + "\n"),
    }
    Ok(if r.passed() { 0 } else { 1 })
}

fn test_suite(
    paths: Vec<String>,
    junit: Option<&str>,
    partition: Option<&str>,
    jobs: Option<usize>,
    format: Format,
) -> Result<u8, Failure> {
    use icepath::suite::{Partition, RunOptions, SuiteEntry, collect, junit_xml, run_suite, suite_json, suite_text};
    let paths: Vec<std::path::PathBuf> =
        if paths.is_empty() { vec!["scenarios".into()] } else { paths.into_iter().map(Into::into).collect() };
    let partition: Option<Partition> = partition
        .map(|p| p.parse().map_err(|e: String| Failure::input(format!("error: --partition: {e}"))))
        .transpose()?;
    let files = collect(&paths).map_err(|e| Failure::input(format!("error: cannot list scenarios: {e}")))?;
    let files: Vec<_> =
        files.into_iter().enumerate().filter(|(i, _)| partition.is_none_or(|p| p.takes(*i))).map(|(_, f)| f).collect();
    if files.is_empty() && partition.is_none() {
        return Err(Failure::input("error: no scenario files (*.yaml) found"));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()
        .map_err(|e| Failure::input(format!("error: --jobs: {e}")))?;
    let entries = pool.install(|| run_suite(&files, RunOptions::default()));
    if let Some(path) = junit {
        std::fs::write(path, junit_xml(&entries))
            .map_err(|e| Failure::input(format!("error: cannot write {path}: {e}")))?;
    }
    let text = suite_text(&entries);
    match format {
        Format::Text => out!("{text}"),
        Format::Json => out!("{}", suite_json(&entries)),
    }
    Ok(if entries.iter().all(SuiteEntry::passed) { 0 } else { 1 })
}

fn audit(path: &str, format: Format) -> Result<u8, Failure> {
    let t = load(path)?;
    let report = icepath::suite::audit(&t);
    match format {
        Format::Text => out!("{}", report.to_text()),
        Format::Json => out!("{}", serde_json::to_string_pretty(&report).expect("invariant: audit serializes") + "\n"),
    }
    Ok(if report.flags.is_empty() { 0 } else { 1 })
}

fn report(paths: Vec<String>, out: Option<String>) -> Result<u8, Failure> {
    use icepath::suite::{RunOptions, collect, folder_name, load, run, write_index, write_report};
    if paths.is_empty() {
        return Err(Failure::input("error: give a scenario file or a folder of them"));
    }
    let single = paths.len() == 1 && std::path::Path::new(&paths[0]).is_file();
    let paths: Vec<std::path::PathBuf> = paths.into_iter().map(Into::into).collect();
    let files = collect(&paths).map_err(|e| Failure::input(format!("error: cannot list scenarios: {e}")))?;
    let root = std::path::PathBuf::from(out.unwrap_or_else(|| "reports".into()));
    let opts = RunOptions { capture: true, ..Default::default() };
    let mut index = Vec::new();
    let mut all_passed = true;
    for f in &files {
        let s = load(f).map_err(|e| scenario_failure(&e, &f.display().to_string(), "no report written"))?;
        let r = run(&s, opts);
        let folder = folder_name(&r.file);
        let dir = if single { root.clone() } else { root.join(&folder) };
        write_report(&s, &r, &dir).map_err(|e| Failure::input(format!("error: writing {}: {e}", dir.display())))?;
        let (ok, bad) = r.counts();
        all_passed &= bad == 0;
        outln!("{}: {} ({ok} passed, {bad} failed)", r.id, dir.join("index.html").display());
        let summary = r
            .calls
            .iter()
            .map(|c| match &c.outcome.selected {
                Some(sel) => format!("{}: {} -> {}", c.name, sel.local, sel.remote),
                None => format!("{}: failed", c.name),
            })
            .chain(r.audit.as_ref().map(|a| format!("zone audit ({} probes)", a.probes)))
            .collect::<Vec<_>>()
            .join("; ");
        index.push((format!("{}: {}", r.id, r.title), format!("{folder}/index.html"), bad == 0, summary));
    }
    if !single {
        write_index(&index, &root).map_err(|e| Failure::input(format!("error: writing {}: {e}", root.display())))?;
        outln!("index: {}", root.join("index.html").display());
    }
    Ok(if all_passed { 0 } else { 1 })
}

fn sweep(
    scenario: Option<String>,
    seeds: Option<u32>,
    jobs: Option<usize>,
    partition: Option<&str>,
    merge: Vec<String>,
    out: Option<String>,
    format: Format,
) -> Result<u8, Failure> {
    use icepath::sweep::{SweepOptions, SweepReport, load, run, write_charts};
    let stem = |file: &str| {
        std::path::Path::new(file).file_stem().map_or("sweep".into(), |s| s.to_string_lossy().into_owned())
    };
    let report = if merge.is_empty() {
        let path = scenario.expect("clap: a scenario unless --merge");
        let partition = partition
            .map(|p| p.parse().map_err(|e: String| Failure::input(format!("error: --partition: {e}"))))
            .transpose()?;
        if seeds == Some(0) {
            return Err(Failure::input("error: --seeds: expected at least 1"));
        }
        let s = load(std::path::Path::new(&path)).map_err(|e| scenario_failure(&e, &path, "nothing was simulated"))?;
        let opts = SweepOptions { seeds, partition };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.unwrap_or(0))
            .build()
            .map_err(|e| Failure::input(format!("error: --jobs: {e}")))?;
        // A progress bar on a terminal only: CI logs and pipes get nothing.
        let runs = s.header(&opts).runs_total;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(partition.map_or(runs, |p| (runs + p.n - p.k) / p.n) as u64);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {elapsed} ({eta} left)")
            {
                bar.set_style(style);
            }
            bar
        });
        let tick = || {
            if let Some(b) = &bar {
                b.inc(1);
            }
        };
        let report = pool.install(|| run(&s, &opts, &tick));
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        report
    } else {
        let mut parts = Vec::new();
        for f in &merge {
            let text =
                std::fs::read_to_string(f).map_err(|e| Failure::input(format!("error: cannot read {f}: {e}")))?;
            let r: SweepReport = serde_json::from_str(&text)
                .map_err(|e| Failure::input(format!("error: {f}: not a sweep.json written by icepath sweep: {e}")))?;
            parts.push(r);
        }
        SweepReport::merge(parts).map_err(|e| Failure::input(format!("error: --merge: {e}")))?
    };
    let dir = std::path::PathBuf::from(out.unwrap_or_else(|| format!("target/sweep/{}", stem(&report.header.file))));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("sweep.json"), report.to_json()))
        .and_then(|()| write_charts(&report, &dir));
    if let Err(e) = written {
        return Err(Failure { message: format!("error: writing {}: {e}", dir.display()), code: 1 });
    }
    match format {
        Format::Text => {
            out!("{}", report.to_text());
            outln!();
            outln!("written: {}", dir.join("sweep.json").display());
        }
        Format::Json => out!("{}", report.to_json()),
    }
    Ok(0)
}

/// Reads and checks a population file.
fn load_population(path: &str) -> Result<icepath::population::PopulationSpec, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::input(format!("error: cannot read {path}: {e}")))?;
    icepath::population::read_population(path, &text).map_err(|err| {
        let errors = err.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
        let mut msg = render(&err.diagnostics, &text);
        let _ = writeln!(msg, "{path}: {errors} error{} found; nothing was generated", plural(errors));
        Failure::input(msg)
    })
}

fn generate(path: &str, out: Option<&str>, seed: Option<u64>) -> Result<u8, Failure> {
    let spec = load_population(path)?;
    let g = icepath::population::generate(&spec, seed.unwrap_or(spec.seed));
    match out {
        Some(file) => {
            std::fs::write(file, &g.yaml).map_err(|e| Failure::input(format!("error: cannot write {file}: {e}")))?;
            eprintln!(
                "{file}: {} users ({} Edge servers, {} VPN concentrators)",
                g.users.len(),
                g.edges.len(),
                g.concentrators.len()
            );
        }
        None => out!("{}", g.yaml),
    }
    Ok(0)
}

fn run_population(
    path: &str,
    seed: Option<u64>,
    duration: &str,
    top: usize,
    format: Format,
    out: Option<&str>,
) -> Result<u8, Failure> {
    let spec = load_population(path)?;
    let window = schema::parse_duration(duration)
        .map_err(|e| Failure::input(format!("error: --duration {duration}: expected {}", e.expected)))?;
    let seed = seed.unwrap_or(spec.seed);
    let g = icepath::population::generate(&spec, seed);
    let topo = match schema::load_topology("generated.yaml", &g.yaml) {
        Ok(l) => l.topology,
        Err(e) => return Err(Failure::input(format!("error: the generated topology does not load (a bug):\n{e}"))),
    };
    let opts = icepath::scenario::PopulationOptions { seed, window, top_links: top, ..Default::default() };
    let r = icepath::scenario::run_population(&topo, &spec, &g.users, &g.edges, &opts);
    if let Some(dir) = out {
        let dir = std::path::Path::new(dir);
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.join(name), bytes)
                .map_err(|e| Failure::input(format!("error: cannot write {}: {e}", dir.join(name).display())))
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::input(format!("error: cannot create {}: {e}", dir.display())))?;
        write("summary.json", r.to_json().as_bytes())?;
        write("calls.json", r.calls_json().as_bytes())?;
        write("topology.yaml", g.yaml.as_bytes())?;
        write("edge-allocations.svg", icepath::report::charts::svg(&r.allocations_chart()).as_bytes())?;
        write("edge-relay-bandwidth.svg", icepath::report::charts::svg(&r.relay_chart()).as_bytes())?;
    }
    match format {
        Format::Text => out!("{}", r.to_text()),
        Format::Json => out!("{}", r.to_json()),
    }
    Ok(0)
}
