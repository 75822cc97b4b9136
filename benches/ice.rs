//! One ICE negotiation between two agents behind NATs, with a STUN/TURN server on the public
//! side: ours through the engine, and the webrtc-rs stack (`webrtc-ice` 0.17 on
//! `webrtc-util`'s virtual network, with the `turn` crate's server) on a paused tokio clock,
//! measured in the same run.
//!
//! The network (`topologies/bench-ice.yaml` for ours, the same addresses built with vnet for
//! theirs): host A behind a port-restricted cone NAT, host B behind a symmetric NAT, the
//! STUN/TURN server at 203.0.113.10:3478. Neither server-reflexive candidate is reachable
//! from the other side, so both stacks gather host, server-reflexive and relayed candidates
//! and end on a pair through the relay.
//!
//! One session, ours: a fresh `Engine` (the topology is loaded once, outside the loop), a
//! TURN server service (it answers Binding too) and one `MediaEndpoint` per host (an RFC 8445
//! agent, A controlling, and a UDP TURN client on its host socket, which is also its STUN
//! client); gathering runs until both clients hold their reflexive and relayed addresses;
//! the candidates cross as SDP lines (no SIP), each side permits the peer's addresses on its
//! allocation and starts checking; the session ends when both agents have selected a pair.
//!
//! One session, theirs: a fresh vnet (root router, two NAT routers, three nets), a TURN
//! server, two agents with a STUN and a TURN URL; both gather until done, candidates cross
//! as their SDP strings, A dials (controlling) and B accepts, and the session ends when both
//! calls return (a pair is selected on both sides); then everything is closed. vnet's
//! routers take their delay from the wall clock (`SystemTime`), which a paused tokio clock
//! cannot advance, so its links have no latency; ours have 5 ms on the public segment and
//! 1 ms on each LAN.
//!
//! Time: criterion measures the bench thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, through
//! `iter_custom`), so other load on a shared machine does not count; both stacks run on this
//! one thread (theirs on a current-thread runtime). After criterion, a pass measured by hand
//! also takes wall time and the whole process's CPU time (equal to the thread's when no
//! other thread worked).
//!
//! Memory: a counting global allocator adds up the bytes requested by every allocation (a
//! `realloc` counts its new size) during the hand-measured pass, so KiB/session is
//! allocation traffic, not a peak. It passes every request on to glibc's malloc (the
//! system allocator) or, with `ICE_BENCH_ALLOCATOR=mimalloc`, to mimalloc, the allocator the
//! `icepath` binary ships with; the choice holds for the whole process, so both stacks run
//! on the same allocator in one run. The bench thread keeps its count in a thread-local (no
//! atomic instruction per allocation, which would weigh on the time measured); any other
//! thread counts in shared atomics, and the totals add both.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mimalloc::MiMalloc;

// ---------------------------------------------------------------------------------------
// Counting allocator.

/// Counts every allocation, then hands it to the allocator `ICE_BENCH_ALLOCATOR` names:
/// `system` (glibc's malloc, the default) or `mimalloc` (what the `icepath` binary ships
/// with). The choice is made once, at the process's first allocation (before `main`, so the
/// variable is read with `getenv`, which allocates nothing), and holds for everything the
/// process allocates: both stacks are measured on the same allocator in one run.
struct Counting;

static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// `Allocator::Undecided` until the first allocation.
static ALLOCATOR: AtomicU8 = AtomicU8::new(Allocator::Undecided as u8);

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Allocator {
    Undecided,
    System,
    Mimalloc,
}

impl Allocator {
    /// The allocator of this process (decided on the first call).
    fn get() -> Allocator {
        match ALLOCATOR.load(Ordering::Relaxed) {
            1 => Allocator::System,
            2 => Allocator::Mimalloc,
            _ => {
                // SAFETY: the name is a NUL-terminated string; getenv returns null or a
                // NUL-terminated string that stays valid while nothing changes the
                // environment (nothing here does).
                let v = unsafe { libc::getenv(c"ICE_BENCH_ALLOCATOR".as_ptr()) };
                let mimalloc = !v.is_null() && unsafe { std::ffi::CStr::from_ptr(v) }.to_bytes() == b"mimalloc";
                let a = if mimalloc { Allocator::Mimalloc } else { Allocator::System };
                // The first allocation happens on the main thread before any other starts,
                // so no second thread can decide differently.
                ALLOCATOR.store(a as u8, Ordering::Relaxed);
                a
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Allocator::Mimalloc => "mimalloc",
            _ => "system (glibc)",
        }
    }
}

/// What the bench thread allocated, counted in the thread itself.
#[derive(Clone, Copy)]
struct Local {
    /// Set by `count_on_this_thread`: this thread counts here, not in the shared counters.
    counting: bool,
    bytes: u64,
    allocations: u64,
}

thread_local! {
    // Const-initialised and without a destructor, so reading it allocates nothing and
    // needs no set-up: safe to use from inside the allocator.
    static LOCAL: Cell<Local> = const { Cell::new(Local { counting: false, bytes: 0, allocations: 0 }) };
}

/// From now on, allocations on the calling thread (the one both stacks run on) are counted
/// in the thread itself. Two atomic read-modify-writes per allocation (a locked instruction
/// each) cost about as much as glibc's malloc itself, and a session of ours makes a few
/// hundred allocations: in the shared counters they were some 6% of the CPU time measured.
/// Every other thread still counts in the shared counters, so `allocated` misses nothing.
fn count_on_this_thread() {
    LOCAL.set(Local { counting: true, ..LOCAL.get() });
}

/// Counts one allocation of `size` bytes.
fn count(size: usize) {
    let l = LOCAL.get();
    if l.counting {
        LOCAL.set(Local { bytes: l.bytes + size as u64, allocations: l.allocations + 1, ..l });
    } else {
        ALLOCATED.fetch_add(size as u64, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        match Allocator::get() {
            Allocator::Mimalloc => unsafe { MiMalloc.alloc(layout) },
            _ => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        match Allocator::get() {
            Allocator::Mimalloc => unsafe { MiMalloc.alloc_zeroed(layout) },
            _ => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match Allocator::get() {
            Allocator::Mimalloc => unsafe { MiMalloc.dealloc(ptr, layout) },
            _ => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        match Allocator::get() {
            Allocator::Mimalloc => unsafe { MiMalloc.realloc(ptr, layout, new_size) },
            _ => unsafe { System.realloc(ptr, layout, new_size) },
        }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes and allocations so far: the calling thread's own count (when it keeps one) and
/// every other thread's.
fn allocated() -> (u64, u64) {
    let l = LOCAL.get();
    (ALLOCATED.load(Ordering::Relaxed) + l.bytes, ALLOCATIONS.load(Ordering::Relaxed) + l.allocations)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of the calling thread: what criterion measures here, so other work on this
/// shared machine does not count.
fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of the whole process (to check that no other thread did the work).
fn process_cpu() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// What one implementation measured.
#[derive(Clone, Copy, Default)]
struct Measured {
    /// Criterion's samples: the thread's CPU time in total, and iterations.
    cpu: Duration,
    iters: u64,
    /// The hand-measured pass: wall time, the process's CPU time, bytes and allocations.
    wall: Duration,
    process_cpu: Duration,
    bytes: u64,
    allocs: u64,
    sessions: u64,
}

impl Measured {
    fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.iters.max(1) as f64
    }

    fn per_session(&self, x: f64) -> f64 {
        x / self.sessions.max(1) as f64
    }

    fn wall_us(&self) -> f64 {
        self.per_session(self.wall.as_secs_f64() * 1e6)
    }

    fn process_cpu_us(&self) -> f64 {
        self.per_session(self.process_cpu.as_secs_f64() * 1e6)
    }

    fn kib(&self) -> f64 {
        self.per_session(self.bytes as f64 / 1024.0)
    }

    fn allocs(&self) -> f64 {
        self.per_session(self.allocs as f64)
    }
}

/// Runs `session` `n` times, counting wall time, CPU time and bytes allocated.
fn by_hand(n: u64, mut session: impl FnMut()) -> Measured {
    let (b0, a0) = allocated();
    let (w0, c0) = (Instant::now(), process_cpu());
    for _ in 0..n {
        session();
    }
    let (wall, process_cpu) = (w0.elapsed(), process_cpu() - c0);
    let (b1, a1) = allocated();
    Measured { wall, process_cpu, bytes: b1 - b0, allocs: a1 - a0, sessions: n, ..Measured::default() }
}

/// How many sessions the hand-measured pass runs.
const HAND_SESSIONS: u64 = 2000;

// ---------------------------------------------------------------------------------------
// Ours.

mod ours {
    use super::*;
    use icepath::engine::{Service, ServiceId};
    use icepath::proto::ice::{
        AgentState, Candidate, CandidateType, IceAgent, IceConfig, LocalCandidateSpec, Profile, Role,
    };
    use icepath::proto::turn::RestCredential;
    use icepath::proto::{MediaEndpoint, TurnClient, TurnClientConfig, TurnServer, TurnServerConfig};
    use icepath::schema::load_topology;
    use icepath::topology::NodeId;
    use icepath::trace::TraceLevel;
    use icepath::{Engine, Limits, SimDuration, SimRng, SimTime, Topology};

    pub const SERVER: SocketAddrV4 = SocketAddrV4::new(std::net::Ipv4Addr::new(203, 0, 113, 10), 3478);
    const MEDIA_PORT: u16 = 50000;
    const REALM: &str = "bench.example";
    const SECRET: &[u8] = b"bench-ice-secret";
    /// A session that has not ended by then is a bug.
    const GIVE_UP: SimDuration = SimDuration::from_secs(60);

    /// What stays the same across sessions: the topology, the nodes, the credentials, the
    /// labels each host's seeds are drawn under.
    pub struct Setup {
        pub topo: Topology,
        server: NodeId,
        hosts: [NodeId; 2],
        cred: RestCredential,
        labels: [Labels; 2],
    }

    /// The `seed_for` labels of one host's TURN client, ICE tie-breaker and ICE agent.
    struct Labels {
        turn: String,
        tie: String,
        ice: String,
    }

    pub fn setup() -> Setup {
        let file = "topologies/bench-ice.yaml";
        let topo = load_topology(file, include_str!("../topologies/bench-ice.yaml"))
            .expect("the bench topology is valid")
            .topology;
        let node = |n: &str| topo.node_by_name(n).expect("bench node");
        let (server, hosts) = (node("turn"), [node("host-a"), node("host-b")]);
        // The credential service runs before any call: issued once.
        let cred = RestCredential::issue(SECRET, SimTime::ZERO + SimDuration::from_secs(8 * 3600), "bench");
        let labels = hosts.map(|h| {
            let name = &topo.node(h).name;
            Labels { turn: format!("turn-client/{name}"), tie: format!("ice-tie/{name}"), ice: format!("ice/{name}") }
        });
        Setup { topo, server, hosts, cred, labels }
    }

    /// How a session ended.
    pub struct Outcome {
        /// Virtual time when both agents had selected a pair.
        pub completed_at: SimTime,
        /// A's selected pair, `local type <-> remote type`.
        pub pair: String,
        pub packets: u64,
    }

    fn endpoint(e: &mut Engine<'_>, s: &Setup, side: usize) -> ServiceId {
        let node = s.hosts[side];
        let iface = s.topo.node(node).ifaces[0];
        let host = SocketAddrV4::new(s.topo.iface(iface).addr, MEDIA_PORT);
        let labels = &s.labels[side];
        let turn = TurnClient::new(TurnClientConfig {
            seed: e.seed_for(&labels.turn),
            ..TurnClientConfig::new(host, SERVER, &s.cred.username, &s.cred.password)
        });
        let tie_breaker = e.seed_for(&labels.tie);
        let ufrag = format!("{:08x}", tie_breaker >> 32);
        let pwd = format!("{:024x}", (tie_breaker as u128) * 0x9e37_79b9);
        let role = if side == 0 { Role::Controlling } else { Role::Controlled };
        let cfg = IceConfig::new(Profile::Rfc8445, role, tie_breaker, &ufrag, &pwd, e.seed_for(&labels.ice));
        let endpoint = MediaEndpoint::new(IceAgent::new(cfg), &ufrag, &pwd, vec![host], vec![turn]);
        let id = e.attach(node, Service::Media(Box::new(endpoint)));
        e.command(id, |s, now| {
            if let Service::Media(m) = s {
                m.gather(now);
            }
        });
        id
    }

    fn media<'a>(e: &'a Engine<'_>, id: ServiceId) -> &'a MediaEndpoint {
        match e.service(id) {
            Service::Media(m) => m,
            _ => unreachable!("a media service"),
        }
    }

    /// Host, server-reflexive and relayed candidates into the agent; the offer's lines.
    fn offer(e: &mut Engine<'_>, id: ServiceId) -> (String, String, Vec<String>) {
        e.command(id, |s, _| {
            let Service::Media(m) = s else { unreachable!("a media service") };
            let host = m.hosts()[0];
            let t = &m.turn[0];
            let (reflexive, relayed) = (t.reflexive().expect("gathered"), t.relayed().expect("gathered"));
            m.agent.add_local_candidate(LocalCandidateSpec::host(host, 0));
            if reflexive != host {
                m.agent.add_local_candidate(LocalCandidateSpec::server_reflexive(reflexive, host, 0));
            }
            m.agent.add_local_candidate(LocalCandidateSpec::relayed(
                relayed,
                reflexive,
                icepath::wire::Protocol::Udp,
                0,
            ));
            let lines = m.agent.local_candidates().iter().map(|c| c.to_sdp()).collect();
            (m.ufrag.clone(), m.pwd.clone(), lines)
        })
    }

    fn answer(e: &mut Engine<'_>, id: ServiceId, (ufrag, pwd, lines): &(String, String, Vec<String>)) {
        e.command(id, |s, now| {
            let Service::Media(m) = s else { unreachable!("a media service") };
            m.agent.set_remote_credentials(ufrag, pwd);
            for line in lines {
                let c = Candidate::from_sdp(line).expect("our own SDP parses");
                m.permit(now, c.address);
                m.agent.add_remote_candidate(c);
            }
            m.agent.start_checks(now);
        });
    }

    fn kind(c: CandidateType) -> &'static str {
        match c {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relayed => "relay",
        }
    }

    /// Runs every event of the next instant that has any, so the agents are looked at
    /// after each instant (and the session ends at the exact instant both completed).
    fn next_instant(e: &mut Engine<'_>, give_up: SimTime, what: &str) {
        let at = e.next_event_at().unwrap_or_else(|| panic!("{what}: nothing left to do"));
        assert!(at < give_up, "{what}");
        e.run_until(at);
    }

    /// One negotiation, from a fresh engine to both agents completed.
    pub fn session(s: &Setup) -> Outcome {
        let mut e = Engine::new(&s.topo, SimRng::new(1), Limits::default(), TraceLevel::Counters);
        let server_ip = *SERVER.ip();
        let cfg = TurnServerConfig {
            seed: e.seed_for("turn/server"),
            ..TurnServerConfig::new(SERVER, server_ip, REALM, SECRET)
        };
        e.attach(s.server, Service::Turn(Box::new(TurnServer::new(cfg))));
        let ids = [endpoint(&mut e, s, 0), endpoint(&mut e, s, 1)];
        let give_up = e.now() + GIVE_UP;
        let gathered = |e: &Engine<'_>| {
            ids.iter().all(|&id| media(e, id).turn.iter().all(|t| t.reflexive().is_some() && t.relayed().is_some()))
        };
        while !gathered(&e) {
            next_instant(&mut e, give_up, "gathering did not finish");
        }
        let offers = [offer(&mut e, ids[0]), offer(&mut e, ids[1])];
        answer(&mut e, ids[0], &offers[1]);
        answer(&mut e, ids[1], &offers[0]);
        let done = |e: &Engine<'_>| ids.iter().all(|&id| media(e, id).agent.state() == AgentState::Completed);
        while !done(&e) {
            next_instant(&mut e, give_up, "the agents did not complete");
        }
        let p = media(&e, ids[0]).agent.selected_pair().expect("completed");
        let pair = format!("{} <-> {}", kind(p.local.kind), kind(p.remote.kind));
        Outcome { completed_at: e.now(), pair, packets: e.trace().counters().sent }
    }
}

// ---------------------------------------------------------------------------------------
// Theirs: webrtc-ice on webrtc-util's vnet, with the turn crate's server.

mod theirs {
    use std::collections::HashMap;
    use std::net::{IpAddr, SocketAddr};
    use std::sync::Arc;

    use tokio::sync::{Mutex, mpsc};
    use webrtc_ice::agent::Agent;
    use webrtc_ice::agent::agent_config::AgentConfig;
    use webrtc_ice::candidate::Candidate;
    use webrtc_ice::candidate::candidate_base::unmarshal_candidate;
    use webrtc_ice::mdns::MulticastDnsMode;
    use webrtc_ice::network_type::NetworkType;
    use webrtc_ice::url::Url;
    use webrtc_util::vnet::nat::{EndpointDependencyType, NatType};
    use webrtc_util::vnet::net::{Net, NetConfig};
    use webrtc_util::vnet::router::{Nic, Router, RouterConfig};

    const SERVER_IP: &str = "203.0.113.10";
    const REALM: &str = "bench.example";
    const USER: &str = "bench";
    const PASSWORD: &str = "bench-password";

    type Shared<T> = Arc<Mutex<T>>;

    /// The TURN server's one user.
    struct Auth {
        key: Vec<u8>,
    }

    impl turn::auth::AuthHandler for Auth {
        fn auth_handle(&self, username: &str, _realm: &str, _from: SocketAddr) -> Result<Vec<u8>, turn::Error> {
            if username == USER { Ok(self.key.clone()) } else { Err(turn::Error::Other("unknown user".into())) }
        }
    }

    async fn attach_net(net: &Arc<Net>, router: &Shared<Router>) {
        let nic = net.get_nic().expect("a virtual net has a NIC");
        router.lock().await.add_net(Arc::clone(&nic)).await.expect("add net");
        nic.lock().await.set_router(Arc::clone(router)).await.expect("set router");
    }

    async fn attach_router(child: &Shared<Router>, parent: &Shared<Router>) {
        let nic = Arc::clone(child) as Arc<Mutex<dyn Nic + Send + Sync>>;
        parent.lock().await.add_router(Arc::clone(child)).await.expect("add router");
        nic.lock().await.set_router(Arc::clone(parent)).await.expect("set router");
    }

    fn nat_router(public: &str, lan: &str, nat: NatType) -> Shared<Router> {
        Arc::new(Mutex::new(
            Router::new(RouterConfig {
                static_ips: vec![public.to_owned()],
                cidr: lan.to_owned(),
                nat_type: Some(nat),
                ..RouterConfig::default()
            })
            .expect("router"),
        ))
    }

    fn host_net(ip: &str) -> Arc<Net> {
        Arc::new(Net::new(Some(NetConfig { static_ips: vec![ip.to_owned()], ..NetConfig::default() })))
    }

    async fn agent(net: &Arc<Net>) -> Arc<Agent> {
        let urls = vec![
            Url::parse_url(&format!("stun:{SERVER_IP}:3478")).expect("url"),
            Url {
                username: USER.to_owned(),
                password: PASSWORD.to_owned(),
                ..Url::parse_url(&format!("turn:{SERVER_IP}:3478?transport=udp")).expect("url")
            },
        ];
        let cfg = AgentConfig {
            urls,
            network_types: vec![NetworkType::Udp4],
            multicast_dns_mode: MulticastDnsMode::Disabled,
            net: Some(Arc::clone(net)),
            ..AgentConfig::default()
        };
        Arc::new(Agent::new(cfg).await.expect("agent"))
    }

    /// Gathers on `a` until it reports the end of candidates.
    async fn gather(a: &Arc<Agent>) {
        let (tx, mut rx) = mpsc::channel::<()>(1);
        let tx = Arc::new(Mutex::new(Some(tx)));
        a.on_candidate(Box::new(move |c: Option<Arc<dyn Candidate + Send + Sync>>| {
            let tx = Arc::clone(&tx);
            Box::pin(async move {
                if c.is_none() {
                    tx.lock().await.take();
                }
            })
        }));
        a.gather_candidates().expect("gather");
        let _ = rx.recv().await;
    }

    /// The candidates `from` gathered, as the other side parses them from SDP.
    async fn exchange(from: &Arc<Agent>, to: &Arc<Agent>) {
        for c in from.get_local_candidates().await.expect("candidates") {
            let parsed: Arc<dyn Candidate + Send + Sync> =
                Arc::new(unmarshal_candidate(&c.marshal()).expect("their own SDP parses"));
            to.add_remote_candidate(&parsed).expect("add remote");
        }
    }

    /// One negotiation on a fresh virtual network; returns A's selected pair.
    pub async fn session() -> String {
        let wan = Arc::new(Mutex::new(
            Router::new(RouterConfig { cidr: "0.0.0.0/0".to_owned(), ..RouterConfig::default() }).expect("router"),
        ));
        let server_net =
            Arc::new(Net::new(Some(NetConfig { static_ip: SERVER_IP.to_owned(), ..NetConfig::default() })));
        attach_net(&server_net, &wan).await;
        let prc = NatType {
            mapping_behavior: EndpointDependencyType::EndpointIndependent,
            filtering_behavior: EndpointDependencyType::EndpointAddrPortDependent,
            ..NatType::default()
        };
        let sym = NatType {
            mapping_behavior: EndpointDependencyType::EndpointAddrPortDependent,
            filtering_behavior: EndpointDependencyType::EndpointAddrPortDependent,
            ..NatType::default()
        };
        let lan_a = nat_router("203.0.113.1", "192.168.1.0/24", prc);
        let lan_b = nat_router("203.0.113.2", "10.2.0.0/24", sym);
        let (net_a, net_b) = (host_net("192.168.1.10"), host_net("10.2.0.10"));
        attach_net(&net_a, &lan_a).await;
        attach_net(&net_b, &lan_b).await;
        attach_router(&lan_a, &wan).await;
        attach_router(&lan_b, &wan).await;
        wan.lock().await.start().await.expect("start routers");

        let conn = server_net.bind(SocketAddr::new(SERVER_IP.parse().expect("ip"), 3478)).await.expect("bind");
        let mut users = HashMap::new();
        users.insert(USER.to_owned(), turn::auth::generate_auth_key(USER, REALM, PASSWORD));
        let server = turn::server::Server::new(turn::server::config::ServerConfig {
            conn_configs: vec![turn::server::config::ConnConfig {
                conn,
                relay_addr_generator: Box::new(turn::relay::relay_static::RelayAddressGeneratorStatic {
                    relay_address: SERVER_IP.parse::<IpAddr>().expect("ip"),
                    address: "0.0.0.0".to_owned(),
                    net: Arc::clone(&server_net),
                }),
            }],
            realm: REALM.to_owned(),
            auth_handler: Arc::new(Auth { key: users.remove(USER).expect("one user") }),
            channel_bind_timeout: std::time::Duration::from_secs(0),
            alloc_close_notify: None,
        })
        .await
        .expect("turn server");

        let (a, b) = (agent(&net_a).await, agent(&net_b).await);
        gather(&a).await;
        gather(&b).await;
        exchange(&a, &b).await;
        exchange(&b, &a).await;
        let (a_ufrag, a_pwd) = a.get_local_user_credentials().await;
        let (b_ufrag, b_pwd) = b.get_local_user_credentials().await;
        let accepting = Arc::clone(&b);
        let (_keep_b, cancel_b) = mpsc::channel(1);
        let accepted = tokio::spawn(async move { accepting.accept(cancel_b, a_ufrag, a_pwd).await.map(|_| ()) });
        let (_keep_a, cancel_a) = mpsc::channel(1);
        a.dial(cancel_a, b_ufrag, b_pwd).await.expect("dial");
        accepted.await.expect("accept task").expect("accept");
        let pair = a.get_selected_candidate_pair().map(|p| format!("{p}")).unwrap_or_default();

        a.close().await.expect("close a");
        b.close().await.expect("close b");
        server.close().await.expect("close server");
        wan.lock().await.stop().await.expect("stop routers");
        pair
    }
}

// ---------------------------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("tokio runtime")
}

thread_local! {
    static OURS: Cell<Measured> = Cell::new(Measured::default());
    static THEIRS: Cell<Measured> = Cell::new(Measured::default());
}

fn record(cell: &'static std::thread::LocalKey<Cell<Measured>>, cpu: Duration, iters: u64) {
    cell.with(|c| {
        let mut m = c.get();
        m.cpu += cpu;
        m.iters += iters;
        c.set(m);
    });
}

/// Criterion measures the thread's CPU time over `iters` sessions (`iter_custom`).
fn cpu_of(iters: u64, cell: &'static std::thread::LocalKey<Cell<Measured>>, mut session: impl FnMut()) -> Duration {
    let began = thread_cpu();
    for _ in 0..iters {
        session();
    }
    let t = thread_cpu() - began;
    record(cell, t, iters);
    t
}

fn ice(c: &mut Criterion) {
    count_on_this_thread();
    let setup = ours::setup();
    // For profilers (`valgrind --tool=callgrind`): only N sessions of ours, nothing else.
    if let Some(n) = std::env::var("ICE_BENCH_PROFILE").ok().and_then(|v| v.parse::<u64>().ok()) {
        let (cpu, (b0, a0)) = (thread_cpu(), allocated());
        let mut last = None;
        for _ in 0..n {
            last = Some(black_box(ours::session(&setup)));
        }
        let (cpu, (b1, a1)) = (thread_cpu() - cpu, allocated());
        // How the sessions end, so a change that should only make them cheaper can be seen
        // to leave them as they were.
        if let Some(o) = last {
            eprintln!(
                "ice/icepath: A selected {} after {} of virtual time, {} datagrams sent",
                o.pair, o.completed_at, o.packets
            );
        }
        let per = |x: f64| x / n.max(1) as f64;
        eprintln!(
            "ice/icepath: {n} sessions, {:.1} µs of CPU, {:.1} KiB and {:.0} allocations each ({})",
            per(cpu.as_secs_f64() * 1e6),
            per((b1 - b0) as f64 / 1024.0),
            per((a1 - a0) as f64),
            Allocator::get().name()
        );
        return;
    }
    let o = ours::session(&setup);
    eprintln!(
        "ice/icepath: A selected {} after {} of virtual time, {} datagrams sent",
        o.pair, o.completed_at, o.packets
    );
    let rt = runtime();
    let pair = rt.block_on(theirs::session());
    eprintln!("ice/webrtc-ice: A selected {pair}");

    let mut g = c.benchmark_group("ice");
    g.bench_function("icepath", |b| {
        b.iter_custom(|iters| cpu_of(iters, &OURS, || drop(black_box(ours::session(&setup)))))
    });
    g.bench_function("webrtc-ice", |b| {
        b.iter_custom(|iters| cpu_of(iters, &THEIRS, || drop(black_box(rt.block_on(theirs::session())))))
    });
    g.finish();

    let ours_hand = by_hand(HAND_SESSIONS, || drop(black_box(ours::session(&setup))));
    let theirs_hand = by_hand(HAND_SESSIONS / 10, || drop(black_box(rt.block_on(theirs::session()))));
    let with_criterion = |m: Measured, c: Measured| Measured { cpu: c.cpu, iters: c.iters, ..m };
    report(&with_criterion(ours_hand, OURS.with(Cell::get)), &with_criterion(theirs_hand, THEIRS.with(Cell::get)));
}

fn report(o: &Measured, t: &Measured) {
    eprintln!();
    eprintln!(
        "ice: one negotiation (gather host/srflx/relay, exchange, check, nominate; both completed), allocator: {}",
        Allocator::get().name()
    );
    eprintln!(
        "| | CPU µs/session | wall µs/session | process CPU µs/session | KiB allocated/session | allocations/session |"
    );
    eprintln!("| --- | --- | --- | --- | --- | --- |");
    for (name, m) in [("icepath", o), ("webrtc-ice 0.17.2", t)] {
        eprintln!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
            m.cpu_us(),
            m.wall_us(),
            m.process_cpu_us(),
            m.kib(),
            m.allocs()
        );
    }
    eprintln!(
        "| webrtc-ice / icepath | {:.1}x | {:.1}x | {:.1}x | {:.1}x | {:.1}x |",
        t.cpu_us() / o.cpu_us(),
        t.wall_us() / o.wall_us(),
        t.process_cpu_us() / o.process_cpu_us(),
        t.kib() / o.kib(),
        t.allocs() / o.allocs()
    );
    eprintln!(
        "CPU µs/session: the mean of criterion's samples (thread CPU time); the other columns: \
         {} sessions of ours and {} of theirs measured by hand after criterion's run",
        o.sessions, t.sessions
    );
}

criterion_group! {
    name = benches;
    // Criterion's plotters backend needs a system font this machine may not have.
    config = Criterion::default().without_plots();
    targets = ice
}
criterion_main!(benches);
