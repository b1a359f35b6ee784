//! RFC 5961 on the in-process cable (issue 16): a test device injects resets into an
//! established connection. An RST inside the receive window but not at the next expected
//! sequence number draws a challenge ACK and the connection lives (data still flows); the
//! exact RST closes it.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use smoltcp::socket::tcp::{SendReason, State};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpEndpoint, Ipv4Address, TcpControl, TcpRepr, TcpSeqNumber};

use common::watch::{Observe, Watch, config, inject};
use smolftp::lab::socket_options;
use smolftp::link::wire::{self, WireConfig, WireEnd};
use smolftp::net::host::{Host, SocketHandle};
use smolftp::trace::Segment;

const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const CLIENT: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);

/// What the client end has sent: its last acknowledgement number (the server's next sequence
/// number as the client expects it) and how many segments without data.
#[derive(Default)]
struct Seen {
    last_ack: Cell<Option<u32>>,
    pure_acks: Cell<u32>,
}

impl Observe for Seen {
    fn sent(&self, frame: &[u8]) {
        if let Some(seg) = Segment::borrow_ip(frame) {
            if seg.flags.ack {
                self.last_ack.set(Some(seg.ack));
            }
            if seg.payload.is_empty() && !seg.flags.syn && !seg.flags.fin {
                self.pure_acks.set(self.pure_acks.get() + 1);
            }
        }
    }
}

struct Bench {
    server: Host<WireEnd>,
    client: Host<Watch<Seen>>,
    s: SocketHandle,
    c: SocketHandle,
    seen: Rc<Seen>,
    now: Instant,
}

impl Bench {
    /// A connection from the client's port 40000 to the server's port 21, established.
    fn new() -> Bench {
        let now = Instant::from_secs(1000);
        let (s_end, c_end) = wire::pair(WireConfig {
            mtu: 1500,
            delay: Duration::from_millis(1),
            ..WireConfig::default()
        });
        let seen = Rc::new(Seen::default());
        let mut server = Host::new(config("server", SERVER, 1), s_end, now);
        let mut client = Host::new(
            config("client", CLIENT, 2),
            Watch {
                inner: c_end,
                seen: seen.clone(),
            },
            now,
        );
        let (options, _) = socket_options(16 * 1024, 16 * 1024, Duration::from_secs(60));
        let s = server.add_tcp(options, "server");
        server.tcp(s).listen(21).expect("listen");
        let c = client.add_tcp(options, "client");
        client
            .connect(c, IpEndpoint::new(SERVER.into(), 21), Some(40000))
            .expect("connect");
        let mut b = Bench {
            server,
            client,
            s,
            c,
            seen,
            now,
        };
        b.run(50);
        assert_eq!(b.client.tcp(c).state(), State::Established);
        assert_eq!(b.server.tcp(s).state(), State::Established);
        b
    }

    fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.server.poll(self.now);
            self.client.poll(self.now);
            self.now += Duration::from_millis(1);
        }
    }

    /// Writes an RST from the server's endpoint to the client at `seq` straight onto the
    /// cable, as a blind attacker would (the server host never knows).
    fn inject_rst(&mut self, seq: u32) {
        let tcp = TcpRepr {
            src_port: 21,
            dst_port: 40000,
            control: TcpControl::Rst,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: None,
            window_len: 0,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: b"",
        };
        inject(self.server.device_mut(), self.now, SERVER, CLIENT, &tcp);
    }
}

#[test]
fn an_in_window_rst_gets_a_challenge_ack_and_the_exact_rst_closes() {
    let mut b = Bench::new();
    let rcv_nxt = b
        .seen
        .last_ack
        .get()
        .expect("the client acknowledged the SYN+ACK");
    let acks_before = b.seen.pure_acks.get();

    // In the window (16 KiB), 100 bytes past the next expected byte.
    b.inject_rst(rcv_nxt.wrapping_add(100));
    b.run(5);
    assert_eq!(
        b.client.tcp(b.c).state(),
        State::Established,
        "the connection lives"
    );
    assert_eq!(b.seen.pure_acks.get(), acks_before + 1, "one challenge ACK");
    assert_eq!(
        b.seen.last_ack.get(),
        Some(rcv_nxt),
        "it names the next expected byte"
    );
    let client = b.c;
    assert_eq!(
        b.client.tcp(client).tcp_info().last_sent,
        Some(SendReason::ChallengeAck)
    );

    // Data still flows after the challenge.
    let server = b.s;
    b.server
        .tcp(server)
        .send_slice(b"220 still here\r\n")
        .unwrap();
    b.run(20);
    let mut buf = [0u8; 64];
    let n = b.client.tcp(client).recv_slice(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"220 still here\r\n");
    let rcv_nxt = b.seen.last_ack.get().unwrap();

    // A second guess within the second is not answered (rate limit), and harmless.
    let acks_before = b.seen.pure_acks.get();
    b.inject_rst(rcv_nxt.wrapping_add(7));
    b.run(5);
    assert_eq!(b.client.tcp(client).state(), State::Established);
    assert!(b.seen.pure_acks.get() <= acks_before + 1);

    // Out of the window: dropped silently.
    b.inject_rst(rcv_nxt.wrapping_add(1 << 30));
    b.run(5);
    assert_eq!(b.client.tcp(client).state(), State::Established);

    // The exact RST closes the connection.
    b.inject_rst(rcv_nxt);
    b.run(5);
    assert_eq!(
        b.client.tcp(client).state(),
        State::Closed,
        "the exact RST is accepted"
    );
}
