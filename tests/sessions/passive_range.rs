//! The server's passive port range (`LabConfig::passive_ports`, `smolftp server
//! --passive-ports`): the port offered in `227`/`229` and connected to comes from it, and when
//! every port of it is taken, `PASV`/`EPSV` get `425` and the session goes on.

use std::fs;
use std::net::SocketAddr;

use smolftp::ftp::client::{Outcome, Step};
use smolftp::lab::{LabConfig, SERVER_IP, virtual_start};
use smolftp::net::ports::PortRange;

use super::{assert_ok, assert_session, run_recorded, scratch, segments};

/// The port a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` reply offers.
fn pasv_port(o: &Outcome) -> u16 {
    assert_eq!(o.reply.code, 227, "{}: {:?}", o.step, o.reply);
    let text = o.reply.text();
    let inside = text
        .split(['(', ')'])
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {text}"));
    let n: Vec<u16> = inside.split(',').map(|x| x.parse().unwrap()).collect();
    assert_eq!(n.len(), 6, "{text}");
    n[4] * 256 + n[5]
}

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
    let cfg = {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.client.passive = true;
        lab_cfg.server.passive_ports = PortRange::single(40000).unwrap();
        lab_cfg
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

/// One port serves one transfer after another: the offer given up by a second `PASV`, and the
/// server's end of a finished download in TIME-WAIT (it sent the first FIN), leave the port free
/// for the next listener: a new connection comes from another client port.
#[test]
fn a_one_port_range_serves_one_transfer_after_another() {
    let s = scratch("passive-one-port-again");
    fs::write(s.root.join("f.txt"), b"again").unwrap();
    let cfg = {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.client.passive = true;
        lab_cfg.server.passive_ports = "40000".parse().unwrap();
        lab_cfg
    };
    let capture = s.local.join("again.pcapng");
    let steps = vec![
        Step::Quote("PASV".into()),
        Step::Quote("PASV".into()),
        Step::List(None),
        Step::Nlst(None),
        Step::Retr {
            remote: "f.txt".into(),
            local: s.local.join("f.txt"),
        },
    ];
    let run = run_recorded(&cfg, &s.root, steps, &capture);
    assert_session(&run, 5);
    // 40000 = 156 * 256 + 64.
    assert_eq!(
        run.outcomes[0].reply.text(),
        "Entering Passive Mode (10,0,0,1,156,64)."
    );
    assert_eq!(pasv_port(&run.outcomes[0]), 40000);
    assert_eq!(pasv_port(&run.outcomes[1]), 40000);
    for o in &run.outcomes[2..] {
        assert_ok(o, 226);
    }
    assert_eq!(fs::read(s.local.join("f.txt")).unwrap(), b"again");
    let segs = segments(&capture);
    assert_eq!(
        data_syn_ports(&segs),
        vec![40000; 3],
        "three data connections"
    );
    let clients: std::collections::BTreeSet<u16> = segs
        .iter()
        .filter(|s| s.flags.syn && !s.flags.ack && s.dst.port() == 40000)
        .map(|s| s.src.port())
        .collect();
    assert_eq!(
        clients.len(),
        3,
        "each from its own client port: {clients:?}"
    );
}

/// Two ports, three sessions at once: the first two sessions hold an offer each (`PASV`, then
/// `NOOP`s), so the third's `PASV` finds every port taken and gets `425`; once the two have
/// quit without using their offers, those ports are free again and the third's `LIST` gets
/// one. Nothing hangs, nothing panics.
#[test]
fn when_every_passive_port_is_taken_pasv_gets_425_and_the_session_goes_on() {
    let s = scratch("passive-exhausted");
    let cfg = {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.client.passive = true;
        lab_cfg.server.passive_ports = PortRange::new(40000, 40001).unwrap();
        lab_cfg
    };
    let holder = || {
        let mut steps = vec![Step::Quote("PASV".into())];
        steps.extend(std::iter::repeat_n(Step::Noop, 4));
        steps
    };
    let mut late = vec![Step::Noop, Step::Quote("PASV".into())];
    late.extend(std::iter::repeat_n(Step::Noop, 8));
    late.push(Step::List(None));
    let runs = cfg
        .run_many(
            &s.root,
            vec![holder(), holder(), late],
            None,
            virtual_start(),
        )
        .expect("the run");
    for (i, (outcomes, error)) in runs.sessions.iter().enumerate() {
        assert_eq!(error, &None, "session {i}");
        assert_eq!(outcomes.len(), if i < 2 { 5 } else { 11 }, "session {i}");
    }
    let held: std::collections::BTreeSet<u16> = runs.sessions[..2]
        .iter()
        .map(|(outcomes, _)| pasv_port(&outcomes[0]))
        .collect();
    assert_eq!(held, [40000, 40001].into(), "one port each");
    let (late, _) = &runs.sessions[2];
    let refused = &late[1];
    assert!(!refused.ok);
    assert_eq!(refused.reply.code, 425, "{:?}", refused.reply);
    assert_eq!(refused.reply.text(), "Can't open passive data connection.");
    assert_ok(&late[10], 226);
}
