//! Client tests: against a server [`Session`] through the in-memory pump, and scripted.

mod ipv6;
mod steps;

use super::*;
use crate::ftp::FinPlacement;
use crate::ftp::command::TransferType;
use crate::ftp::jail::Jail;
use crate::ftp::jail::tests::TempDir;
use crate::ftp::server::{ServerConfig, Session};
use crate::ftp::testpump::Pump;
use crate::ftp::testpump::t0;
use crate::ftp::{DataError, DataEvent, Endpoint};
use std::net::Ipv4Addr;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

pub(super) fn client_config() -> ClientConfig {
    ClientConfig {
        user: "anonymous".into(),
        pass: "guest@".into(),
        local_ip: Ipv4Addr::new(10, 0, 0, 2).into(),
        data_port_base: 5001,
        fin: FinPolicy::Seed,
        passive: false,
        server_ip: Ipv4Addr::new(10, 0, 0, 1).into(),
        timeout: None,
    }
}

pub(super) fn server(root: &Path, writable: bool) -> Session {
    let cfg = ServerConfig {
        root: root.to_path_buf(),
        accounts: vec![],
        anonymous: true,
        writable,
        fin: FinPolicy::Seed,
        greeting: "smolftp".into(),
        allow_foreign_port: false,
        max_login_failures: 3,
        atomic_uploads: true,
        idle_timeout: None,
        login_failure_delay: std::time::Duration::ZERO,
        data_timeout: std::time::Duration::from_secs(30),
        anonymous_writable: true,
        login_guard: Default::default(),
    };
    let jail = Jail::new(root).unwrap();
    Session::new(
        Arc::new(cfg),
        Arc::new(jail),
        Ipv4Addr::new(10, 0, 0, 2).into(),
        t0(),
    )
}

pub(super) fn content(n: usize, salt: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(31) ^ salt) as u8)
        .collect()
}

pub(super) struct Setup {
    pub(super) dir: TempDir,
    pub(super) root: PathBuf,
    pub(super) local: PathBuf,
}

/// A served `root/` with `readme.txt` (150 000 bytes) and a `local/` with `up.bin` (70 001).
pub(super) fn setup() -> Setup {
    let dir = TempDir::new("client");
    let root = dir.0.join("root");
    let local = dir.0.join("local");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(root.join("readme.txt"), content(150_000, 7)).unwrap();
    std::fs::write(local.join("up.bin"), content(70_001, 99)).unwrap();
    Setup { dir, root, local }
}

fn list_retr_stor(late_finish: bool) {
    let s = setup();
    let steps = vec![
        Step::List(None),
        Step::Retr {
            remote: "readme.txt".into(),
            local: s.local.join("readme.txt"),
        },
        Step::Stor {
            local: s.local.join("up.bin"),
            remote: "up.bin".into(),
        },
    ];
    let mut pump = Pump::new(server(&s.root, true), Client::new(client_config(), steps));
    pump.client_finish_late = late_finish;
    pump.chunk = 1460;
    pump.run();
    assert!(pump.client.is_finished());
    assert_eq!(pump.client.error(), None);
    let listens: Vec<(u16, String)> = pump
        .client_actions
        .iter()
        .filter_map(|a| match a {
            DataAction::Listen { port, label } => Some((*port, label.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        listens,
        vec![
            (5001, "LIST data connection".to_string()),
            (5002, "RETR readme.txt data connection".to_string()),
            (5003, "STOR up.bin data connection".to_string()),
        ]
    );
    let connects: Vec<u16> = pump
        .server_actions
        .iter()
        .filter_map(|a| match a {
            DataAction::Connect { peer, .. } => Some(peer.port()),
            _ => None,
        })
        .collect();
    assert_eq!(connects, vec![5001, 5002, 5003]);
    let sends: Vec<&DataAction> = pump
        .server_actions
        .iter()
        .filter(|a| matches!(a, DataAction::Send { .. }))
        .collect();
    assert_eq!(
        sends,
        vec![
            &DataAction::Send {
                fin: FinPlacement::Separate
            },
            &DataAction::Send {
                fin: FinPlacement::Piggyback
            }
        ]
    );
    let out = pump.client.outcomes();
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|o| o.ok), "{out:?}");
    let listing = String::from_utf8(out[0].listing.clone().unwrap()).unwrap();
    assert!(
        listing.ends_with(" readme.txt\r\n") && listing.contains(" 150000 "),
        "{listing}"
    );
    assert_eq!(out[0].reply, Reply::new(226, "Directory send OK."));
    assert_eq!(out[1].bytes, 150_000);
    assert_eq!(out[1].reply, Reply::new(226, "Transfer complete."));
    assert_eq!(
        std::fs::read(s.local.join("readme.txt")).unwrap(),
        std::fs::read(s.root.join("readme.txt")).unwrap()
    );
    assert_eq!(out[2].bytes, 70_001);
    assert_eq!(
        std::fs::read(s.root.join("up.bin")).unwrap(),
        std::fs::read(s.local.join("up.bin")).unwrap()
    );
    drop(s.dir);
}

#[test]
fn list_retr_stor_in_memory() {
    list_retr_stor(false);
}

#[test]
fn final_reply_before_data_finished() {
    list_retr_stor(true);
}

#[test]
fn failures_go_on_to_next_step() {
    let s = setup();
    let steps = vec![
        Step::Retr {
            remote: "missing.txt".into(),
            local: s.local.join("missing.txt"),
        },
        Step::Stor {
            local: s.local.join("no-such-local"),
            remote: "x".into(),
        },
        Step::Stor {
            local: s.local.join("up.bin"),
            remote: "up.bin".into(),
        },
        Step::Cwd("nowhere".into()),
        Step::Pwd,
        Step::Size("readme.txt".into()),
        Step::Type(TransferType::Image),
        Step::Nlst(None),
        Step::Syst,
        Step::Feat,
        Step::Noop,
        Step::Cdup,
    ];
    let mut pump = Pump::new(server(&s.root, false), Client::new(client_config(), steps));
    pump.run();
    assert!(pump.client.is_finished());
    assert_eq!(pump.client.error(), None);
    let out = pump.client.outcomes();
    let summary: Vec<(String, u16, bool)> = out
        .iter()
        .map(|o| (o.step.to_string(), o.reply.code, o.ok))
        .collect();
    let want: Vec<(&str, u16, bool)> = vec![
        ("RETR missing.txt", 550, false),
        ("STOR x", 550, false),
        ("STOR up.bin", 550, false),
        ("CWD nowhere", 550, false),
        ("PWD", 257, true),
        ("SIZE readme.txt", 213, true),
        ("TYPE I", 200, true),
        ("NLST", 226, true),
        ("SYST", 215, true),
        ("FEAT", 211, true),
        ("NOOP", 200, true),
        ("CDUP", 250, true),
    ];
    let summary: Vec<(&str, u16, bool)> = summary
        .iter()
        .map(|(a, b, c)| (a.as_str(), *b, *c))
        .collect();
    assert_eq!(summary, want);
    assert!(out[1].local_error.is_some());
    assert_eq!(out[7].listing.as_deref(), Some(&b"readme.txt\r\n"[..]));
    assert!(out[9].reply.lines.iter().any(|l| l == " SIZE"));
    // The failed RETR and STOR used ports 5001 and 5002 (the unopened local file none) and
    // were aborted; NLST got 5003.
    let ports: Vec<u16> = pump
        .client_actions
        .iter()
        .filter_map(|a| match a {
            DataAction::Listen { port, .. } => Some(*port),
            _ => None,
        })
        .collect();
    assert_eq!(ports, vec![5001, 5002, 5003]);
    let aborts = pump
        .client_actions
        .iter()
        .filter(|a| **a == DataAction::Abort)
        .count();
    assert_eq!(aborts, 2);
    assert!(!s.local.join("missing.txt").exists());
}

#[test]
fn login_refused_is_fatal() {
    let s = setup();
    let mut cfg = client_config();
    cfg.user = "mallory".into();
    let mut pump = Pump::new(server(&s.root, false), Client::new(cfg, vec![Step::Pwd]));
    pump.run();
    assert!(pump.client.is_finished());
    let err = pump.client.error().unwrap();
    assert!(err.contains("530 Login incorrect."), "{err}");
    assert!(pump.client.outcomes().is_empty());
}

/// Feeds server text to a client and returns what it sent.
pub(super) fn feed(c: &mut Client, text: &str) -> String {
    c.handle_control(text.as_bytes(), t0());
    let out = String::from_utf8_lossy(c.control_out()).into_owned();
    let n = c.control_out().len();
    c.control_sent(n);
    out
}

#[test]
fn scripted_dialogue() {
    let mut c = Client::new(client_config(), vec![Step::List(Some("/pub".into()))]);
    assert_eq!(feed(&mut c, "garbage\r\n"), "");
    assert_eq!(
        feed(&mut c, "220-Welcome\r\n 220 still\r\n220 ready\r\n"),
        "USER anonymous\r\n"
    );
    assert_eq!(feed(&mut c, "331 pw\r\n"), "PASS guest@\r\n");
    assert_eq!(feed(&mut c, "230 ok\r\n"), "PORT 10,0,0,2,19,137\r\n");
    assert_eq!(
        c.poll_action(),
        Some(DataAction::Listen {
            port: 5001,
            label: "LIST data connection".into()
        })
    );
    assert_eq!(feed(&mut c, "200 ok\r\n"), "LIST /pub\r\n");
    c.handle_data_event(DataEvent::Connected, t0());
    assert_eq!(c.poll_action(), Some(DataAction::Receive));
    assert_eq!(feed(&mut c, "150 here\r\n"), "");
    c.write_data(b"a\r\n");
    assert_eq!(feed(&mut c, "226 done\r\n"), "");
    c.handle_data_event(DataEvent::Finished, t0());
    assert_eq!(c.control_out(), b"QUIT\r\n");
    c.control_sent(6);
    assert!(!c.is_finished());
    assert_eq!(feed(&mut c, "221 bye\r\n"), "");
    assert!(c.is_finished());
    assert_eq!(c.outcomes()[0].listing.as_deref(), Some(&b"a\r\n"[..]));
    // Replies with nothing outstanding are ignored.
    assert_eq!(feed(&mut c, "200 late\r\n500 x\r\n"), "");
    c.handle_control_closed(t0());
    assert_eq!(c.error(), None);
}

#[test]
fn control_closed_and_bad_greeting() {
    let mut c = Client::new(client_config(), vec![]);
    feed(&mut c, "220 hi\r\n");
    c.handle_control_closed(t0());
    assert!(c.is_finished());
    assert!(c.error().unwrap().contains("closed"));

    let mut c = Client::new(client_config(), vec![]);
    assert_eq!(feed(&mut c, "421 too many users\r\n"), "");
    assert!(c.is_finished());
    assert!(c.error().unwrap().contains("421"));

    let mut c = Client::new(client_config(), vec![]);
    feed(&mut c, "500 what\r\n");
    assert!(c.is_finished() && c.error().unwrap().contains("500 what"));

    // No steps: straight to QUIT after login.
    let mut c = Client::new(client_config(), vec![]);
    feed(&mut c, "220 hi\r\n");
    assert_eq!(feed(&mut c, "230 no password needed\r\n"), "QUIT\r\n");
}

#[test]
fn garbage_never_panics() {
    let steps = vec![
        Step::List(None),
        Step::Retr {
            remote: "r".into(),
            local: std::env::temp_dir().join(format!("smolftp-garbage-{}", std::process::id())),
        },
        Step::Pwd,
    ];
    let mut c = Client::new(client_config(), steps);
    let mut seed = 777u32;
    let codes = [
        "220 ", "331 ", "230 ", "200 ", "150 ", "226 ", "550 ", "211-", "211 ", "x", "\r\n",
    ];
    for _ in 0..3000 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let text = codes[(seed >> 16) as usize % codes.len()];
        c.handle_control(text.as_bytes(), t0());
        c.handle_control(b"\r\n", t0());
        match (seed >> 8) % 5 {
            0 => c.handle_data_event(DataEvent::Connected, t0()),
            1 => c.handle_data_event(DataEvent::Finished, t0()),
            2 => c.handle_data_event(DataEvent::Failed(DataError::Reset), t0()),
            3 => c.write_data(b"data"),
            _ => {
                let mut buf = [0u8; 8];
                c.read_data(&mut buf);
            }
        }
        while c.poll_action().is_some() {}
        let n = c.control_out().len();
        c.control_sent(n);
    }
    let _ = std::fs::remove_file(
        std::env::temp_dir().join(format!("smolftp-garbage-{}", std::process::id())),
    );
}

#[test]
fn interactive_client_waits_for_steps_and_quits_on_finish() {
    let s = setup();
    let client = Client::interactive(client_config());
    let mut pump = Pump::new(server(&s.root, false), client);
    pump.run();
    assert!(pump.client.is_idle(), "logged in and idle");
    assert!(!pump.client.is_finished());
    pump.client.push_step(Step::Pwd);
    pump.client.push_step(Step::Retr {
        remote: "readme.txt".into(),
        local: s.local.join("r.txt"),
    });
    pump.run();
    assert!(pump.client.is_idle());
    assert_eq!(pump.client.outcomes().len(), 2);
    assert!(
        pump.client.outcomes().iter().all(|o| o.ok),
        "{:?}",
        pump.client.outcomes()
    );
    assert_eq!(
        std::fs::read(s.local.join("r.txt")).unwrap(),
        content(150_000, 7)
    );
    pump.client.finish();
    pump.run();
    assert!(pump.client.is_finished());
    assert!(pump.client.error().is_none());
}

#[test]
fn the_150_reply_announces_the_size() {
    let r = Reply::new(
        150,
        "Opening BINARY mode data connection for readme.txt (3686 bytes).",
    );
    assert_eq!(announced_size(&r), Some(3686));
    assert_eq!(announced_size(&Reply::new(150, "Ok to send data.")), None);
    assert_eq!(announced_size(&Reply::new(150, "x (lots of bytes).")), None);
}

#[test]
fn passive_list_retr_stor_in_memory() {
    let s = setup();
    let steps = vec![
        Step::List(None),
        Step::Retr {
            remote: "readme.txt".into(),
            local: s.local.join("readme.txt"),
        },
        Step::Stor {
            local: s.local.join("up.bin"),
            remote: "up.bin".into(),
        },
    ];
    let mut config = client_config();
    config.passive = true;
    let mut pump = Pump::new(server(&s.root, true), Client::new(config, steps));
    pump.chunk = 1460;
    pump.run();
    assert!(pump.client.is_finished());
    assert_eq!(pump.client.error(), None);
    assert!(
        pump.client.outcomes().iter().all(|o| o.ok),
        "{:?}",
        pump.client.outcomes()
    );
    // No PORT, no listening on the client; the server listened three times.
    assert!(
        !pump
            .client_actions
            .iter()
            .any(|a| matches!(a, DataAction::Listen { .. }))
    );
    let connects: Vec<_> = pump
        .client_actions
        .iter()
        .filter_map(|a| match a {
            DataAction::Connect { peer, .. } => Some(*peer),
            _ => None,
        })
        .collect();
    let server = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), 50000);
    assert_eq!(connects, vec![server; 3]);
    let passive = pump
        .server_actions
        .iter()
        .filter(|a| matches!(a, DataAction::ListenPassive { .. }))
        .count();
    assert_eq!(passive, 3);
    assert_eq!(
        std::fs::read(s.local.join("readme.txt")).unwrap(),
        content(150_000, 7)
    );
    assert_eq!(
        std::fs::read(s.root.join("up.bin")).unwrap(),
        content(70_001, 99)
    );
}

#[test]
fn passive_falls_back_to_pasv_and_ignores_its_address() {
    let mut config = client_config();
    config.passive = true;
    let mut c = Client::new(config, vec![Step::Nlst(None), Step::Nlst(None)]);
    feed(&mut c, "220 hi\r\n");
    feed(&mut c, "331 pw\r\n");
    assert_eq!(feed(&mut c, "230 ok\r\n"), "EPSV\r\n");
    assert_eq!(
        feed(&mut c, "500 What?\r\n"),
        "PASV\r\n",
        "EPSV refused: PASV"
    );
    // The reply names a private address: the client connects to the server it knows.
    assert_eq!(
        feed(
            &mut c,
            "227 Entering Passive Mode (192,168,1,9,195,80).\r\n"
        ),
        "NLST\r\n"
    );
    assert_eq!(
        c.poll_action(),
        Some(DataAction::Connect {
            peer: "10.0.0.1:50000".parse().unwrap(),
            label: "NLST data connection".into()
        })
    );
    c.handle_data_event(DataEvent::Connected, t0());
    assert_eq!(c.poll_action(), Some(DataAction::Receive));
    c.handle_data_event(DataEvent::Finished, t0());
    // The next transfer goes straight to PASV.
    assert_eq!(feed(&mut c, "226 done\r\n"), "PASV\r\n");
}

#[test]
fn server_offers_passive_ports_and_starts_a_transfer_already_connected() {
    let s = setup();
    let mut srv = server(&s.root, false);
    let take = |srv: &mut Session| {
        let out = String::from_utf8_lossy(srv.control_out()).into_owned();
        let n = srv.control_out().len();
        srv.control_sent(n);
        out
    };
    srv.handle_control(b"USER anonymous\r\nPASS x\r\n", t0());
    take(&mut srv);
    srv.handle_control(b"PASV\r\n", t0());
    assert!(matches!(
        srv.poll_action(),
        Some(DataAction::ListenPassive { from, .. }) if from == Ipv4Addr::new(10, 0, 0, 2)
    ));
    assert_eq!(take(&mut srv), "", "the reply waits for the port");
    srv.handle_data_event(
        DataEvent::Listening("10.0.0.1:50001".parse().unwrap()),
        t0(),
    );
    assert_eq!(
        take(&mut srv),
        "227 Entering Passive Mode (10,0,0,1,195,81).\r\n"
    );
    // The client connects before it sends RETR, as curl does.
    srv.handle_data_event(DataEvent::Connected, t0());
    srv.handle_control(b"RETR readme.txt\r\n", t0());
    assert!(take(&mut srv).starts_with("150 "));
    assert!(matches!(srv.poll_action(), Some(DataAction::Send { .. })));

    let mut srv = server(&s.root, false);
    srv.handle_control(b"USER anonymous\r\nPASS x\r\nEPSV\r\n", t0());
    take(&mut srv);
    assert!(matches!(
        srv.poll_action(),
        Some(DataAction::ListenPassive { .. })
    ));
    srv.handle_data_event(
        DataEvent::Listening("10.0.0.1:50002".parse().unwrap()),
        t0(),
    );
    assert_eq!(
        take(&mut srv),
        "229 Entering Extended Passive Mode (|||50002|).\r\n"
    );
    // PORT after EPSV gives the passive port up.
    srv.handle_control(b"PORT 10,0,0,2,19,137\r\n", t0());
    assert_eq!(srv.poll_action(), Some(DataAction::Abort));
    assert_eq!(take(&mut srv), "200 PORT command successful.\r\n");
    srv.handle_control(b"EPSV 2\r\n", t0());
    assert_eq!(
        take(&mut srv),
        "522 Network protocol not supported, use (1).\r\n"
    );
}
