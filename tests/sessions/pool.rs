//! The server's listener pool on the in-process cable (issue 15): a burst of connects is
//! greeted, never reset; spoofed SYNs (frames written straight onto the cable) are half-open
//! connections, not sessions, bounded in number and in time, and do not keep a real client
//! out. Also: with more sockets than one shard holds, a recorded run explains every frame.

use std::sync::Arc;
use std::time::{Duration as StdDuration, UNIX_EPOCH};

use smoltcp::phy::{ChecksumCapabilities, Device, TxToken};
use smoltcp::socket::tcp::State;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    IpAddress, IpEndpoint, IpProtocol, IpRepr, Ipv4Address, Ipv4Cidr, TcpControl, TcpPacket,
    TcpRepr, TcpSeqNumber,
};

use smolftp::ftp::client::Step;
use smolftp::ftp::jail::Jail;
use smolftp::ftp::server::ServerConfig;
use smolftp::lab::{LabConfig, socket_options};
use smolftp::link::wire::{self, WireConfig, WireEnd};
use smolftp::link::{Format, Recorder};
use smolftp::net::host::{Congestion, Host, HostConfig, SocketHandle};
use smolftp::net::server::{ServerNet, ServerNode};

use super::scratch;

const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const CLIENT: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);

/// A server host and a client host on one cable, on a virtual clock in 1 ms steps.
struct Bench {
    server_host: Host<WireEnd>,
    server: ServerNode,
    client_host: Host<WireEnd>,
    now: Instant,
    _dir: super::Scratch,
}

fn host(name: &str, addr: Ipv4Address, seed: u64, end: WireEnd, now: Instant) -> Host<WireEnd> {
    let config = HostConfig {
        name: name.into(),
        addr: Ipv4Cidr::new(addr, 24),
        addr6: None,
        gateway: None,
        seed,
        congestion: Congestion::Reno,
    };
    Host::new(config, end, now)
}

impl Bench {
    /// `listeners` kept, `half_open` allowed, `max_sessions` served.
    fn new(tag: &str, listeners: usize, half_open: usize, max_sessions: usize) -> Bench {
        let dir = scratch(tag);
        let now = Instant::from_secs(1000);
        let (s_end, c_end) = wire::pair(WireConfig {
            mtu: 1500,
            delay: Duration::from_millis(1),
            ..WireConfig::default()
        });
        let mut server_host = host("server", SERVER, 1, s_end, now);
        let client_host = host("client", CLIENT, 2, c_end, now);
        let (control_socket, data) = socket_options(16 * 1024, 16 * 1024, Duration::from_secs(60));
        let jail = Jail::new(&dir.root).expect("jail");
        let server = ServerNode::new(
            &mut server_host,
            Arc::new(ServerConfig::new(&dir.root)),
            Arc::new(jail),
            ServerNet {
                control_port: 21,
                listeners,
                max_sessions,
                control_socket,
                data,
                half_open,
                handshake_timeout: ServerNet::HANDSHAKE_TIMEOUT,
            },
        );
        Bench {
            server_host,
            server,
            client_host,
            now,
            _dir: dir,
        }
    }

    /// Runs both hosts for `ms` milliseconds; checks after every step that the server holds
    /// no more control sockets than its bound.
    fn run(&mut self, ms: u64, bound: usize) {
        for _ in 0..ms {
            self.server_host.poll(self.now);
            self.server.step(
                &mut self.server_host,
                UNIX_EPOCH + StdDuration::from_secs(1),
            );
            self.client_host.poll(self.now);
            assert!(
                self.server.control_sockets() <= bound,
                "{} control sockets, {bound} allowed",
                self.server.control_sockets()
            );
            self.now += Duration::from_millis(1);
        }
    }

    /// A real connect from the client host.
    fn connect(&mut self) -> SocketHandle {
        let (options, _) = socket_options(4096, 4096, Duration::from_secs(60));
        let h = self.client_host.add_tcp(options, "client");
        self.client_host
            .connect(h, IpEndpoint::new(SERVER.into(), 21), None)
            .expect("connect");
        h
    }

    /// The first reply code the server sent on `h`, or what happened instead.
    fn greeting(&mut self, h: SocketHandle) -> String {
        let socket = self.client_host.tcp(h);
        let mut buf = [0u8; 256];
        match socket.recv_slice(&mut buf) {
            Ok(n) if n >= 3 => String::from_utf8_lossy(&buf[..3]).into_owned(),
            _ => format!("nothing ({})", socket.state()),
        }
    }

    /// Writes a SYN from `src` to port 21 straight onto the cable (the client host never knows).
    fn spoof_syn(&mut self, src: IpEndpoint, seq: u32) {
        let tcp = TcpRepr {
            src_port: src.port,
            dst_port: 21,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: None,
            window_len: 64240,
            window_scale: None,
            max_seg_size: Some(1460),
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: b"",
        };
        let dst = IpAddress::from(SERVER);
        let ip = IpRepr::new(src.addr, dst, IpProtocol::Tcp, tcp.buffer_len(), 64);
        let caps = ChecksumCapabilities::default();
        let len = ip.header_len() + tcp.buffer_len();
        let token = self
            .client_host
            .device_mut()
            .transmit(self.now)
            .expect("the cable takes frames");
        token.consume(len, |buf| {
            ip.emit(&mut buf[..], &caps);
            let mut p = TcpPacket::new_unchecked(&mut buf[ip.header_len()..]);
            tcp.emit(&mut p, &src.addr, &dst, &caps);
        });
    }
}

/// Spoofed source `i`: addresses 10.0.0.100-199 of the cable's subnet that nobody holds.
fn spoofed(i: u32) -> IpEndpoint {
    let addr = Ipv4Address::new(10, 0, 0, 100 + (i % 100) as u8);
    IpEndpoint::new(addr.into(), 30000 + i as u16)
}

#[test]
fn a_burst_of_thirty_connects_in_one_poll_is_all_greeted() {
    let mut b = Bench::new("pool-burst", 64, 64, 20);
    let clients: Vec<SocketHandle> = (0..30).map(|_| b.connect()).collect();
    b.run(200, 20 + 64 + 64);
    let got: Vec<String> = clients.iter().map(|h| b.greeting(*h)).collect();
    let count = |code: &str| got.iter().filter(|g| *g == code).count();
    assert_eq!(
        (count("220"), count("421")),
        (20, 10),
        "20 served, 10 refused, none reset: {got:?}"
    );
    assert_eq!(b.server.sessions(), 20);
}

/// A burst larger than the listening sockets: the SYNs past them wait in the device for the
/// next poll (the Host's backlog of one poll) while the pool grows, instead of being reset.
#[test]
fn a_burst_larger_than_the_listeners_waits_a_poll_and_is_all_greeted() {
    let mut b = Bench::new("pool-backlog", 16, 16, 100);
    let clients: Vec<SocketHandle> = (0..60).map(|_| b.connect()).collect();
    b.run(200, 16 + 16 + 100);
    let got: Vec<String> = clients.iter().map(|h| b.greeting(*h)).collect();
    assert!(got.iter().all(|g| g == "220"), "all 60 served: {got:?}");
    assert_eq!(b.server.sessions(), 60);
}

/// A burst far larger than the listeners (issue 12: no buffers on idle listeners): the pool
/// grows for it, poll by poll, and every client is greeted; once the burst is over the pool
/// is back to its listeners, the ones added for the burst gone.
#[test]
fn the_pool_grows_for_a_burst_and_shrinks_back_after_it() {
    let (listeners, half_open, max_sessions) = (8, 8, 300);
    let bound = listeners + half_open + max_sessions;
    let mut b = Bench::new("pool-grow", listeners, half_open, max_sessions);
    let clients: Vec<SocketHandle> = (0..300).map(|_| b.connect()).collect();
    let mut most = 0;
    for _ in 0..100 {
        b.run(1, bound);
        most = most.max(b.server.listening());
    }
    let got: Vec<String> = clients.iter().map(|h| b.greeting(*h)).collect();
    assert!(got.iter().all(|g| g == "220"), "all 300 served: {got:?}");
    assert_eq!(b.server.sessions(), 300);
    assert!(most > listeners, "the pool grew: at most {most} listening");
    assert_eq!(b.server.listening(), listeners, "and shrank back");
}

#[test]
fn spoofed_syns_are_not_sessions_and_a_real_client_gets_in() {
    let (listeners, half_open, max_sessions) = (16, 32, 4);
    let bound = listeners + half_open + max_sessions;
    let mut b = Bench::new("pool-flood", listeners, half_open, max_sessions);
    // 1000 spoofed SYNs, 10 per millisecond: far more than the pool holds, fewer than it holds
    // per round trip (2 ms).
    for i in 0..1000u32 {
        b.spoof_syn(spoofed(i), i * 7919);
        if i % 10 == 9 {
            b.run(1, bound);
            assert_eq!(
                b.server.sessions(),
                0,
                "a half-open connection is no session"
            );
            assert!(b.server.half_open() <= half_open + max_sessions);
        }
    }
    b.run(2, bound); // the last SYNs are still on the cable
    assert!(
        b.server.half_open_dropped() >= 1000 - (half_open + max_sessions) as u64,
        "the oldest half-open connections make room: {} dropped",
        b.server.half_open_dropped()
    );
    // The flood goes on while a real client connects.
    let real = b.connect();
    for i in 1000..1100u32 {
        b.spoof_syn(spoofed(i), i * 7919);
        b.run(1, bound);
    }
    b.run(100, bound);
    assert_eq!(b.greeting(real), "220", "the real client is served");
    assert_eq!(b.server.sessions(), 1);
    assert_eq!(b.client_host.tcp(real).state(), State::Established);
}

#[test]
fn a_half_open_connection_is_dropped_after_the_handshake_timeout() {
    let mut b = Bench::new("pool-timeout", 8, 8, 4);
    for i in 0..3 {
        b.spoof_syn(spoofed(i), 1000 + i);
    }
    b.run(1000, 20);
    assert_eq!(b.server.half_open(), 3, "the SYN-ACKs go unanswered");
    let timeout = ServerNet::HANDSHAKE_TIMEOUT.total_millis();
    b.run(timeout, 20);
    assert_eq!(b.server.half_open(), 0, "dropped after {timeout} ms");
    assert_eq!(b.server.half_open_dropped(), 3);
    assert_eq!(b.server.listening(), 8, "the pool is whole again");
}

/// 40 sessions at once put both hosts well past one shard of sockets: every frame of the
/// recorded run still finds its connection (the comments name it) and every download is whole.
#[test]
fn a_recorded_run_past_one_shard_explains_every_frame() {
    let s = scratch("pool-shards");
    std::fs::write(s.root.join("one.bin"), vec![7u8; 100_000]).unwrap();
    let cfg = {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.server.max_sessions = 40;
        lab_cfg
    };
    let plans = (0..40)
        .map(|i| {
            vec![Step::Retr {
                remote: "one.bin".into(),
                local: s.local.join(format!("{i}.bin")),
            }]
        })
        .collect();
    let capture = s.local.join("many.pcapng");
    let recorder = Recorder::create(&capture, Format::Pcapng).expect("capture");
    let runs = cfg
        .run_many(
            &s.root,
            plans,
            Some(&recorder),
            smolftp::lab::virtual_start(),
        )
        .expect("the run");
    for (i, (outcomes, error)) in runs.sessions.iter().enumerate() {
        assert_eq!(error, &None, "session {i}");
        assert!(outcomes.iter().all(|o| o.ok), "session {i}: {outcomes:?}");
        let got = std::fs::metadata(s.local.join(format!("{i}.bin"))).unwrap();
        assert_eq!(got.len(), 100_000, "session {i}");
    }
    let frames = smolftp::trace::read::read_capture(&capture).expect("read the capture");
    assert!(frames.len() > 40 * 20, "{} frames", frames.len());
    let lost: Vec<_> = frames
        .iter()
        .filter_map(|f| f.comment.as_deref())
        .filter(|c| c.contains("no socket of this host"))
        .collect();
    assert!(lost.is_empty(), "frames no socket explains: {lost:?}");
    assert!(
        frames.iter().all(|f| f.comment.is_some()),
        "every frame has a comment"
    );
}
