//! Script tests of the data-connection mode verbs over IPv4 and IPv6: `EPRT`, `EPSV` and the
//! `522` answers to `PORT`/`PASV` on an IPv6 control connection.

use crate::ftp::Endpoint;
use crate::ftp::testpump::t0;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::ftp::jail::Jail;
use crate::ftp::jail::tests::TempDir;
use crate::ftp::server::Session;
use crate::ftp::{DataAction, DataEvent};

/// A logged-in session for a client at `peer`, serving a root with `readme.txt`.
fn session(peer: &str) -> (TempDir, Session) {
    let dir = TempDir::new("server-v6");
    let root = dir.0.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("readme.txt"), b"hello").unwrap();
    let cfg = Arc::new(super::super::tests::config(&root, false));
    let jail = Arc::new(Jail::new(&root).unwrap());
    let peer: IpAddr = peer.parse().unwrap();
    let mut s = Session::new(cfg, jail, peer, t0());
    s.handle_control(b"USER anonymous\r\nPASS x\r\n", t0());
    let n = s.control_out().len();
    s.control_sent(n);
    (dir, s)
}

fn cmd(s: &mut Session, line: &str) -> String {
    s.handle_control(format!("{line}\r\n").as_bytes(), t0());
    let text = String::from_utf8_lossy(s.control_out()).into_owned();
    let n = s.control_out().len();
    s.control_sent(n);
    text
}

fn actions(s: &mut Session) -> Vec<DataAction> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

#[test]
fn ipv6_refuses_port_and_pasv_with_522() {
    let (_d, mut s) = session("fd00::2");
    assert_eq!(
        cmd(&mut s, "PORT 10,0,0,2,19,137"),
        "522 PORT is IPv4 only, use EPRT.\r\n"
    );
    assert_eq!(cmd(&mut s, "PASV"), "522 PASV is IPv4 only, use EPSV.\r\n");
    assert_eq!(
        cmd(&mut s, "EPSV 1"),
        "522 Network protocol not supported, use (2).\r\n"
    );
    assert_eq!(
        cmd(&mut s, "EPRT |1|10.0.0.2|5001|"),
        "522 Network protocol not supported, use (2).\r\n"
    );
    assert!(actions(&mut s).is_empty());
    assert_eq!(
        cmd(&mut s, "RETR readme.txt"),
        "425 Use PORT or PASV first.\r\n"
    );
}

#[test]
fn ipv6_eprt_connects_to_the_client() {
    let (_d, mut s) = session("fd00::2");
    assert_eq!(
        cmd(&mut s, "EPRT |2|fd00::3|5001|"),
        "501 EPRT must name your own address and a port >= 1024.\r\n"
    );
    assert_eq!(
        cmd(&mut s, "EPRT |2|fd00::2|21|"),
        "501 EPRT must name your own address and a port >= 1024.\r\n"
    );
    assert_eq!(
        cmd(&mut s, "EPRT |2|fd00::2|5001|"),
        "200 EPRT command successful.\r\n"
    );
    assert_eq!(
        cmd(&mut s, "RETR readme.txt"),
        "",
        "150 waits for the connection"
    );
    let peer: SocketAddr = "[fd00::2]:5001".parse().unwrap();
    assert!(matches!(
        &actions(&mut s)[..],
        [DataAction::Connect { peer: p, .. }] if *p == peer
    ));
    s.handle_data_event(DataEvent::Connected, t0());
    assert!(cmd(&mut s, "NOOP").starts_with("150 "));
}

#[test]
fn ipv6_epsv_listens_for_the_client() {
    for arg in ["EPSV", "EPSV 2", "epsv 2"] {
        let (_d, mut s) = session("fd00::2");
        assert_eq!(cmd(&mut s, arg), "");
        let from: IpAddr = "fd00::2".parse().unwrap();
        assert!(matches!(
            &actions(&mut s)[..],
            [DataAction::ListenPassive { from: f, .. }] if *f == from
        ));
        s.handle_data_event(
            DataEvent::Listening("[fd00::1]:50000".parse().unwrap()),
            t0(),
        );
        assert_eq!(
            cmd(&mut s, "NOOP"),
            "229 Entering Extended Passive Mode (|||50000|).\r\n200 NOOP ok.\r\n"
        );
    }
}

#[test]
fn ipv4_eprt_and_epsv_2() {
    let (_d, mut s) = session("10.0.0.2");
    assert_eq!(
        cmd(&mut s, "EPSV 2"),
        "522 Network protocol not supported, use (1).\r\n"
    );
    assert_eq!(
        cmd(&mut s, "EPRT |2|fd00::2|5001|"),
        "522 Network protocol not supported, use (1).\r\n"
    );
    assert_eq!(
        cmd(&mut s, "EPRT |3|10.0.0.2|5001|"),
        "522 Network protocol not supported, use (1,2).\r\n"
    );
    assert_eq!(
        cmd(&mut s, "EPRT #1#10.0.0.2#5001#"),
        "200 EPRT command successful.\r\n"
    );
    assert_eq!(
        cmd(&mut s, "RETR readme.txt"),
        "",
        "150 waits for the connection"
    );
    let peer: SocketAddr = "10.0.0.2:5001".parse().unwrap();
    assert!(matches!(
        &actions(&mut s)[..],
        [DataAction::Connect { peer: p, .. }] if *p == peer
    ));
    s.handle_data_event(DataEvent::Connected, t0());
    assert!(cmd(&mut s, "NOOP").starts_with("150 "));
}
