//! Tests of the session's limits against a hostile or careless client: replies to a client that
//! never reads, lines held during a transfer, one byte a second without a line end, anonymous
//! users on a writable server, password guessing over many connections.

use super::super::*;
use crate::ftp::Endpoint;
use crate::ftp::jail::tests::TempDir;
use crate::ftp::testpump::{at, t0};
use crate::ftp::{DataAction, DataEvent};
use std::net::Ipv4Addr;
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A served root with `readme.txt` (64 KiB) and a configuration with the safe defaults plus an
/// account `alice`/`wonder`, no login delay and no idle timeout.
fn setup(tag: &str) -> (TempDir, ServerConfig) {
    let dir = TempDir::new(tag);
    std::fs::write(dir.0.join("readme.txt"), vec![b'r'; 64 * 1024]).unwrap();
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.accounts = vec![("alice".into(), "wonder".into())];
    cfg.login_failure_delay = Duration::ZERO;
    cfg.idle_timeout = None;
    (dir, cfg)
}

fn session(dir: &TempDir, cfg: &Arc<ServerConfig>, peer: [u8; 4]) -> Session {
    let jail = Arc::new(Jail::new(&dir.0).unwrap());
    let mut s = Session::new(cfg.clone(), jail, Ipv4Addr::from(peer).into(), t0());
    take(&mut s);
    s
}

fn take(s: &mut Session) -> String {
    let text = String::from_utf8_lossy(s.control_out()).into_owned();
    let n = s.control_out().len();
    s.control_sent(n);
    text
}

fn cmd(s: &mut Session, bytes: &[u8]) -> String {
    s.handle_control(bytes, t0());
    take(s)
}

/// Sends everything, round after round, until nothing is left; returns it all.
fn drain(s: &mut Session) -> String {
    let mut all = String::new();
    for _ in 0..100_000 {
        if s.control_out().is_empty() {
            break;
        }
        all.push_str(&take(s));
    }
    all
}

/// Bytes of replies a session may hold at most: the bound plus one reply (`HELP` is the
/// longest fixed one).
const ROOM: usize = 64 * 1024 + 4096;

#[test]
fn replies_to_a_client_that_never_reads_stay_bounded() {
    let (dir, cfg) = setup("limits-flood");
    let mut s = session(&dir, &Arc::new(cfg), [10, 0, 0, 2]);
    let flood = b"HELP\r\n".repeat(20_000);
    let mut peak = 0;
    for chunk in flood.chunks(510) {
        s.handle_control(chunk, t0());
        peak = peak.max(s.control_out().len());
    }
    assert!(peak <= ROOM, "{peak} reply bytes waiting");
    // Nothing is lost: once the client reads, every line is answered.
    let all = drain(&mut s);
    assert_eq!(all.matches("214 Help OK.\r\n").count(), 20_000);
}

#[test]
fn the_network_layer_is_told_to_stop_reading_and_to_go_on() {
    let (dir, cfg) = setup("limits-wants");
    let mut s = session(&dir, &Arc::new(cfg), [10, 0, 0, 2]);
    let flood = b"HELP\r\n".repeat(100_000);
    let mut fed = 0;
    while fed < flood.len() && s.wants_control() {
        let n = (flood.len() - fed).min(512);
        s.handle_control(&flood[fed..fed + n], t0());
        fed += n;
    }
    assert!(!s.wants_control());
    assert!(
        fed < MAX_UNSENT,
        "{fed} bytes read from a client that reads nothing"
    );
    assert!(s.control_out().len() <= ROOM);
    take(&mut s);
    assert!(
        s.wants_control(),
        "reading goes on once the replies are taken"
    );
}

#[test]
fn lines_held_during_a_transfer_are_bounded() {
    let (dir, cfg) = setup("limits-held");
    let mut s = session(&dir, &Arc::new(cfg), [10, 0, 0, 2]);
    cmd(
        &mut s,
        b"USER alice\r\nPASS wonder\r\nPORT 10,0,0,2,19,137\r\n",
    );
    cmd(&mut s, b"RETR readme.txt\r\n");
    assert!(matches!(s.poll_action(), Some(DataAction::Connect { .. })));
    s.handle_data_event(DataEvent::Connected, t0());
    assert!(take(&mut s).starts_with("150 "));
    // The client never reads the data and sends NOOPs.
    let noops = b"NOOP\r\n".repeat(10_000);
    for chunk in noops.chunks(512) {
        s.handle_control(chunk, t0());
        assert!(
            s.held.len() <= MAX_QUEUED_LINES,
            "{} lines held",
            s.held.len()
        );
    }
    assert!(!s.wants_control());
    // The transfer ends: the held lines and those behind them are answered, in order.
    let mut buf = vec![0u8; 65536];
    while !s.read_data(&mut buf).end {}
    s.handle_data_event(DataEvent::Finished, t0());
    let all = drain(&mut s);
    assert!(all.starts_with("226 "), "{}", &all[..40.min(all.len())]);
    assert_eq!(all.matches("200 NOOP ok.\r\n").count(), 10_000);
}

#[test]
fn one_byte_a_second_without_a_line_end_is_idle() {
    let (dir, mut cfg) = setup("limits-slowloris");
    cfg.idle_timeout = Some(secs(5));
    let mut s = session(&dir, &Arc::new(cfg), [10, 0, 0, 2]);
    s.handle_timeout(at(secs(100)));
    cmd(&mut s, b"USER alice\r\nPASS wonder\r\n");
    s.handle_timeout(at(secs(100)));
    let mut told = None;
    for t in 1..=12 {
        s.handle_control(b"N", t0());
        s.handle_timeout(at(secs(100 + t)));
        if take(&mut s) == "421 Timeout.\r\n" {
            told = Some(t);
            break;
        }
    }
    assert_eq!(told, Some(5), "421 five seconds after the last line");
    assert!(s.wants_close());
}

#[test]
fn a_long_partial_line_is_refused_and_does_not_count_as_activity() {
    let (dir, mut cfg) = setup("limits-partial");
    cfg.idle_timeout = Some(secs(5));
    let mut s = session(&dir, &Arc::new(cfg), [10, 0, 0, 2]);
    s.handle_timeout(at(secs(0)));
    assert_eq!(
        cmd(&mut s, &[b'x'; 100_000]),
        "500 Command line too long.\r\n"
    );
    s.handle_timeout(at(secs(1)));
    assert_eq!(cmd(&mut s, &[b'x'; 100_000]), "", "one 500 per line");
    s.handle_timeout(at(secs(6)));
    assert_eq!(take(&mut s), "421 Timeout.\r\n");
}

#[test]
fn without_anonymous_only_accounts_log_in() {
    let (dir, mut cfg) = setup("limits-noanon");
    cfg.anonymous = false;
    let cfg = Arc::new(cfg);
    for user in ["anonymous", "ftp", "FTP"] {
        let mut s = session(&dir, &cfg, [10, 0, 0, 2]);
        let line = format!("USER {user}\r\nPASS guest@\r\n");
        assert_eq!(
            cmd(&mut s, line.as_bytes()),
            "331 Please specify the password.\r\n530 Login incorrect.\r\n"
        );
    }
    let mut s = session(&dir, &cfg, [10, 0, 0, 3]);
    assert!(cmd(&mut s, b"USER alice\r\nPASS wonder\r\n").ends_with("230 Login successful.\r\n"));
}

#[test]
fn anonymous_users_only_read_even_on_a_writable_server() {
    let (dir, mut cfg) = setup("limits-anon-ro");
    cfg.writable = true;
    let cfg = Arc::new(cfg);
    let mut s = session(&dir, &cfg, [10, 0, 0, 2]);
    cmd(
        &mut s,
        b"USER anonymous\r\nPASS guest@\r\nPORT 10,0,0,2,19,137\r\n",
    );
    for line in [
        "STOR new.txt",
        "APPE readme.txt",
        "STOU",
        "DELE readme.txt",
        "MKD d",
        "RNFR readme.txt",
    ] {
        let reply = cmd(&mut s, format!("{line}\r\n").as_bytes());
        assert_eq!(reply, "550 Permission denied.\r\n", "{line}");
    }
    assert!(
        s.poll_action().is_none(),
        "no data connection for a refused write"
    );
    assert!(!dir.0.join("new.txt").exists());
    // An account writes.
    let mut s = session(&dir, &cfg, [10, 0, 0, 2]);
    assert!(
        cmd(&mut s, b"USER alice\r\nPASS wonder\r\nMKD d\r\n").ends_with("257 \"/d\" created\r\n")
    );
    // And anonymous does once the server says so.
    let mut open = (*cfg).clone();
    open.anonymous_writable = true;
    let mut s = session(&dir, &Arc::new(open), [10, 0, 0, 2]);
    assert!(cmd(&mut s, b"USER ftp\r\nPASS x\r\nMKD e\r\n").ends_with("257 \"/e\" created\r\n"));
}

#[test]
fn failed_logins_are_limited_per_address_across_sessions() {
    let (dir, cfg) = setup("limits-guard");
    let cfg = Arc::new(cfg);
    // Four connections from one address, three wrong passwords each (the per-session limit).
    let mut replies = String::new();
    for i in 0..4 {
        let mut s = session(&dir, &cfg, [10, 0, 0, 2]);
        s.handle_timeout(at(secs(10 + i)));
        for _ in 0..3 {
            replies.push_str(&cmd(&mut s, b"USER alice\r\nPASS guess\r\n"));
        }
    }
    assert_eq!(replies.matches("530 Login incorrect.").count(), 2 * 3 + 1);
    assert_eq!(
        replies
            .matches("421 Too many failed logins from your address")
            .count(),
        1,
        "{replies}"
    );
    // The right password from that address is refused too, for a while; another address is not.
    let mut s = session(&dir, &cfg, [10, 0, 0, 2]);
    s.handle_timeout(at(secs(20)));
    assert_eq!(
        cmd(&mut s, b"USER alice\r\nPASS wonder\r\n"),
        "331 Please specify the password.\r\n421 Too many failed logins from your address, try later.\r\n"
    );
    assert!(s.wants_close());
    let mut s = session(&dir, &cfg, [10, 0, 0, 3]);
    s.handle_timeout(at(secs(20)));
    assert!(cmd(&mut s, b"USER alice\r\nPASS wonder\r\n").ends_with("230 Login successful.\r\n"));
    // A minute after the last failure the address may log in again.
    let mut s = session(&dir, &cfg, [10, 0, 0, 2]);
    s.handle_timeout(at(secs(81)));
    assert!(cmd(&mut s, b"USER alice\r\nPASS wonder\r\n").ends_with("230 Login successful.\r\n"));
}

#[test]
fn abor_behind_a_full_queue_of_held_lines_is_answered() {
    let (dir, cfg) = setup("limits-abor");
    let mut s = session(&dir, &Arc::new(cfg), [10, 0, 0, 2]);
    cmd(
        &mut s,
        b"USER alice\r\nPASS wonder\r\nPORT 10,0,0,2,19,137\r\n",
    );
    cmd(&mut s, b"RETR readme.txt\r\n");
    assert!(matches!(s.poll_action(), Some(DataAction::Connect { .. })));
    s.handle_data_event(DataEvent::Connected, t0());
    take(&mut s);
    s.poll_action();
    // Ten NOOPs (two more than are held) and an ABOR, in one segment.
    let mut burst = b"NOOP\r\n".repeat(MAX_QUEUED_LINES + 2);
    burst.extend_from_slice(b"ABOR\r\n");
    let replies = cmd(&mut s, &burst);
    assert!(
        replies.starts_with("426 Connection closed; transfer aborted.\r\n226 ABOR successful.\r\n"),
        "{replies}"
    );
    assert_eq!(s.poll_action(), Some(DataAction::Abort));
    assert_eq!(
        replies.matches("200 NOOP ok.").count(),
        MAX_QUEUED_LINES + 2
    );
}
