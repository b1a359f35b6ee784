//! Tests of the conduit: a server session on a host of an in-process cable, fed by a raw
//! client socket on the other host.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration as StdDuration, UNIX_EPOCH};

use smoltcp::socket::tcp::State;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpEndpoint, Ipv4Address, Ipv4Cidr};

use super::*;
use crate::ftp::jail::Jail;
use crate::ftp::jail::tests::TempDir;
use crate::ftp::server::{ServerConfig, Session};
use crate::link::wire::{self, WireConfig, WireEnd};
use crate::net::host::{Congestion, HostConfig};

fn host(name: &str, last: u8, end: WireEnd, at: Instant) -> Host<WireEnd> {
    let config = HostConfig {
        name: name.into(),
        addr: Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, last), 24),
        addr6: None,
        gateway: None,
        seed: u64::from(last),
        congestion: Congestion::default(),
    };
    Host::new(config, end, at)
}

fn socket() -> SocketOptions {
    SocketOptions {
        rx_buffer: 8192,
        tx_buffer: 8192,
        ack_delay: None,
        nagle: false,
        timeout: None,
        keep_alive: None,
    }
}

/// Both hosts polled, the clock moved on by a millisecond, `rounds` times.
fn pump(server: &mut Host<WireEnd>, client: &mut Host<WireEnd>, at: &mut Instant, rounds: u32) {
    for _ in 0..rounds {
        client.poll(*at);
        server.poll(*at);
        *at += Duration::from_millis(1);
    }
}

/// `PASV`, `RETR` and `ABOR` pipelined behind the login in one segment: the session answers
/// the `PASV` only once the network layer reports the passive port (so the `RETR` behind it
/// waits for that event), the `RETR` waits for a data connection, the `ABOR` drops it. One step
/// of the conduit settles all of it: every reply is in the socket, the passive socket is given
/// up, and a second step finds nothing to do.
#[test]
fn a_pipelined_pasv_retr_abor_burst_settles_in_one_step() {
    let dir = TempDir::new("conduit-settle");
    std::fs::write(dir.0.join("readme.txt"), b"hello\n").unwrap();
    let (a, b) = wire::pair(WireConfig::default());
    let mut at = Instant::from_secs(1);
    let mut server = host("server", 1, a, at);
    let mut client = host("client", 2, b, at);
    let control = server.add_tcp(socket(), "control connection");
    server.tcp(control).listen(21).unwrap();
    let raw = client.add_tcp(socket(), "raw client");
    let to = IpEndpoint::new(Ipv4Address::new(10, 0, 0, 1).into(), 21);
    client.connect(raw, to, None).unwrap();
    pump(&mut server, &mut client, &mut at, 10);
    assert_eq!(server.tcp(control).state(), State::Established);

    let wall = UNIX_EPOCH + StdDuration::from_secs(1_748_736_000);
    let config = Arc::new(ServerConfig::new(&dir.0));
    let jail = Arc::new(Jail::new(&dir.0).unwrap());
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mono = StdDuration::from_secs(1);
    let mut session = Session::new(config, jail, peer, Now::new(mono, wall));
    let mut conduit = Conduit::new(control);
    let opts = DataOptions {
        socket: socket(),
        source_port: Some(20),
        passive_ports: "50000-50009".parse().unwrap(),
    };
    let burst = b"USER anonymous\r\nPASS x\r\nPASV\r\nRETR readme.txt\r\nABOR\r\n";
    client.tcp(raw).send_slice(burst).unwrap();
    pump(&mut server, &mut client, &mut at, 3);
    assert_eq!(server.tcp(control).recv_queue(), burst.len());

    assert!(conduit.step(&mut server, &mut session, &opts, wall));
    assert_eq!(server.tcp(control).recv_queue(), 0, "every line was read");
    assert!(
        session.control_out().is_empty(),
        "every reply is in the socket"
    );
    assert!(
        !conduit.step(&mut server, &mut session, &opts, wall),
        "the first step left work for a second one"
    );
    assert!(conduit.data.is_none(), "the passive offer was given up");

    pump(&mut server, &mut client, &mut at, 3);
    let mut got = vec![0u8; 4096];
    let n = client.tcp(raw).recv_slice(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got[..n]);
    let codes: Vec<&str> = text.lines().map(|l| &l[..3]).collect();
    assert_eq!(codes, ["220", "331", "230", "227", "225"], "{text}");
    assert!(
        text.contains("Entering Passive Mode (10,0,0,1,195,80)."),
        "{text}"
    );
}

#[test]
fn every_kind_of_work_is_visited_and_all_of_it_starts_a_step() {
    let kinds = [Work::ControlIn, Work::Actions, Work::Data, Work::ControlOut];
    let all = kinds.iter().fold(0, |acc, w| acc | w.bit());
    assert_eq!(Work::ALL, all);
    assert!(kinds.iter().all(|w| Work::ORDER.contains(w)));
    // What sends replies can give every other kind of work something to do.
    assert_eq!(Work::ControlOut.wakes(), Work::ALL);
}
