//! The server's passive port range (`LabConfig::passive_ports`): the port offered in `229` and
//! connected to comes from it.

use std::fs;
use std::net::SocketAddr;

use smolftp::ftp::client::Step;
use smolftp::lab::{LabConfig, SERVER_IP};
use smolftp::net::ports::PortRange;

use super::{assert_ok, assert_session, run_recorded, scratch, segments};

/// The server's data connections' ports: the destination of every SYN not to port 21.
fn data_syn_ports(segs: &[smolftp::trace::Segment]) -> Vec<u16> {
    segs.iter()
        .filter(|s| s.flags.syn && !s.flags.ack && s.dst.port() != 21)
        .map(|s| s.dst.port())
        .collect()
}

/// The control replies of the server (from port 21), as text, in order.
fn server_replies(segs: &[smolftp::trace::Segment]) -> String {
    let bytes: Vec<u8> = segs
        .iter()
        .filter(|s| s.src == SocketAddr::new(SERVER_IP.into(), 21))
        .flat_map(|s| s.payload.iter().copied())
        .collect();
    String::from_utf8(bytes).expect("the replies are text")
}

/// With a range of one port, EPSV offers that port and the data connection goes to it.
#[test]
fn a_one_port_range_is_the_port_offered_and_connected_to() {
    let s = scratch("passive-one-port");
    fs::write(s.root.join("f.txt"), b"one port").unwrap();
    let cfg = LabConfig {
        passive: true,
        passive_ports: PortRange::single(40000).unwrap(),
        ..Default::default()
    };
    let capture = s.local.join("one-port.pcapng");
    let steps = vec![Step::Retr {
        remote: "f.txt".into(),
        local: s.local.join("f.txt"),
    }];
    let run = run_recorded(&cfg, &s.root, steps, &capture);
    assert_session(&run, 1);
    assert_ok(&run.outcomes[0], 226);
    assert_eq!(fs::read(s.local.join("f.txt")).unwrap(), b"one port");
    let segs = segments(&capture);
    let replies = server_replies(&segs);
    assert!(
        replies.contains("229 Entering Extended Passive Mode (|||40000|).\r\n"),
        "EPSV offers port 40000: {replies}"
    );
    assert_eq!(
        data_syn_ports(&segs),
        vec![40000],
        "one data connection, to 40000"
    );
}
