//! Reassembly on the in-process cable (issue 16): how many holes a smolftp receiver keeps.
//! A test device writes data segments straight onto the cable as a sender far ahead of a loss
//! would: one segment after each of many holes, as a Linux sender filling a 1 MiB window at
//! 10 % loss leaves about 70. Each must be kept and reported in the first SACK block of the
//! answer (RFC 2018 4): one the receiver dropped is never reported, and the sender learns of it
//! only from its retransmission timer. Then the holes are filled and the bytes read back whole.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::tcp::State;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpEndpoint, Ipv4Address, Ipv4Packet, TcpPacket, TcpRepr, TcpSeqNumber};

use common::watch::{Observe, Watch, config, inject};
use smolftp::link::wire::{self, WireConfig, WireEnd};
use smolftp::net::host::{Host, SocketHandle};
use smolftp::net::options::SocketOptions;

const SENDER: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const RECEIVER: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
/// Holes opened: well above the 32 the assembler kept before, as at 10 % loss in 1 MiB.
const HOLES: u32 = 100;
const SEG: u32 = 100;

/// The receiver's last answer: its sequence number, acknowledgement number and SACK blocks.
#[derive(Default, Clone, Debug)]
struct Answer {
    seq: u32,
    ack: Option<u32>,
    sack: Vec<(u32, u32)>,
}

/// The receiver's frames: the last TCP answer is kept.
impl Observe for RefCell<Answer> {
    fn sent(&self, frame: &[u8]) {
        let caps = ChecksumCapabilities::default();
        if let Ok(ip) = Ipv4Packet::new_checked(frame)
            && let Ok(tcp) = TcpPacket::new_checked(ip.payload())
            && let Ok(repr) =
                TcpRepr::parse(&tcp, &ip.src_addr().into(), &ip.dst_addr().into(), &caps)
        {
            *self.borrow_mut() = Answer {
                seq: repr.seq_number.0 as u32,
                ack: repr.ack_number.map(|a| a.0 as u32),
                sack: repr.sack_ranges.iter().flatten().copied().collect(),
            };
        }
    }
}

struct Bench {
    sender: Host<WireEnd>,
    receiver: Host<Watch<RefCell<Answer>>>,
    r: SocketHandle,
    last: Rc<RefCell<Answer>>,
    now: Instant,
}

impl Bench {
    /// A connection from the receiver's port 40000 to the sender's port 20, established, the
    /// receiver with a data connection's options (64 KiB window, an ACK for every segment).
    fn new() -> Bench {
        let now = Instant::from_secs(1000);
        let (s_end, r_end) = wire::pair(WireConfig {
            mtu: 1500,
            delay: Duration::from_millis(1),
            ..WireConfig::default()
        });
        let last = Rc::new(RefCell::new(Answer::default()));
        let mut sender = Host::new(config("sender", SENDER, 1), s_end, now);
        let mut receiver = Host::new(
            config("receiver", RECEIVER, 2),
            Watch {
                inner: r_end,
                seen: last.clone(),
            },
            now,
        );
        let options = SocketOptions::data(65535, 65535, Duration::from_secs(60));
        let s = sender.add_tcp(options, "sender");
        sender.tcp(s).listen(20).expect("listen");
        let r = receiver.add_tcp(options, "receiver");
        receiver
            .connect(r, IpEndpoint::new(SENDER.into(), 20), Some(40000))
            .expect("connect");
        let mut now = now;
        for _ in 0..50 {
            sender.poll(now);
            receiver.poll(now);
            now += Duration::from_millis(1);
        }
        assert_eq!(receiver.tcp(r).state(), State::Established);
        assert_eq!(sender.tcp(s).state(), State::Established);
        Bench {
            sender,
            receiver,
            r,
            last,
            now,
        }
    }

    /// The receiver takes what the cable brings (the sender host is no longer polled: the
    /// segments below are written for it, and it would only object to the ACKs of them).
    fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.receiver.poll(self.now);
            self.now += Duration::from_millis(1);
        }
    }

    /// Writes a data segment from the sender's endpoint at `seq` straight onto the cable.
    fn inject(&mut self, seq: u32, ack: u32, payload: &[u8]) {
        let tcp = TcpRepr {
            src_port: 20,
            dst_port: 40000,
            control: smoltcp::wire::TcpControl::None,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: Some(TcpSeqNumber(ack as i32)),
            window_len: 65535,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        };
        inject(self.sender.device_mut(), self.now, SENDER, RECEIVER, &tcp);
    }
}

/// The byte at stream offset `i`.
fn byte(i: u32) -> u8 {
    (i.wrapping_mul(7) % 251) as u8
}

fn chunk(from: u32) -> Vec<u8> {
    (from..from + SEG).map(byte).collect()
}

#[test]
fn a_receiver_keeps_and_sacks_data_after_a_hundred_holes() {
    let mut b = Bench::new();
    let answer = b.last.borrow().clone();
    let rcv_nxt = answer.ack.expect("the receiver acknowledged the SYN+ACK");
    // What the sender acknowledges: the receiver's next sequence number.
    let ack = answer.seq;
    // Segment i (100 octets) starts at offset 100 + 200 i: a hole of 100 octets before each.
    let offset = |i: u32| SEG + 2 * SEG * i;
    for i in 0..HOLES {
        let at = offset(i);
        b.inject(rcv_nxt.wrapping_add(at), ack, &chunk(at));
        b.run(2);
        let answer = b.last.borrow().clone();
        assert_eq!(answer.ack, Some(rcv_nxt), "segment {i}: a duplicate ACK");
        let first = answer.sack.first().copied();
        assert_eq!(
            first,
            Some((rcv_nxt.wrapping_add(at), rcv_nxt.wrapping_add(at + SEG))),
            "segment {i} after {} holes is kept and reported in the first SACK block",
            i + 1
        );
    }
    // Fill the holes, the first one last: then everything is acknowledged at once.
    for i in (0..HOLES).rev() {
        let at = if i == 0 { 0 } else { offset(i - 1) + SEG };
        b.inject(rcv_nxt.wrapping_add(at), ack, &chunk(at));
        b.run(2);
    }
    let end = offset(HOLES - 1) + SEG;
    assert_eq!(b.last.borrow().ack, Some(rcv_nxt.wrapping_add(end)));
    let mut got = vec![0u8; end as usize + 1];
    let n = b.receiver.tcp(b.r).recv_slice(&mut got).expect("readable");
    assert_eq!(n, end as usize);
    assert!(
        got[..n]
            .iter()
            .enumerate()
            .all(|(i, &v)| v == byte(i as u32)),
        "the bytes read back are the bytes sent"
    );
}

#[test]
fn with_every_hole_in_use_a_segment_in_the_first_hole_is_still_kept() {
    let mut b = Bench::new();
    let answer = b.last.borrow().clone();
    let rcv_nxt = answer.ack.expect("the receiver acknowledged the SYN+ACK");
    let ack = answer.seq;
    // One segment after each of 300 holes: more than the assembler tracks (256).
    let offset = |i: u32| SEG + 2 * SEG * i;
    let mut kept = 0;
    for i in 0..300 {
        let at = offset(i);
        b.inject(rcv_nxt.wrapping_add(at), ack, &chunk(at));
        b.run(2);
        let first = b.last.borrow().sack.first().copied();
        if first == Some((rcv_nxt.wrapping_add(at), rcv_nxt.wrapping_add(at + SEG))) {
            kept += 1;
        }
    }
    assert!(
        (32..300).contains(&kept),
        "{kept} of 300 kept: the assembler is full"
    );
    // The sender resends the first hole in order and its first segment is lost: the second
    // (40..60, touching nothing held) takes the place of the highest data held.
    b.inject(rcv_nxt.wrapping_add(40), ack, &chunk(40)[..20]);
    b.run(2);
    let answer = b.last.borrow().clone();
    assert_eq!(answer.ack, Some(rcv_nxt));
    assert_eq!(
        answer.sack.first().copied(),
        Some((rcv_nxt.wrapping_add(40), rcv_nxt.wrapping_add(60))),
        "kept and reported"
    );
    // The lost one comes again: the acknowledgement covers both.
    b.inject(rcv_nxt, ack, &chunk(0)[..40]);
    b.run(2);
    assert_eq!(b.last.borrow().ack, Some(rcv_nxt.wrapping_add(60)));
}
