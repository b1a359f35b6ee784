//! Client tests towards an IPv6 server: `EPRT |2|...|` in active mode, `EPSV` alone (no `PASV`
//! fallback) in passive mode.

use super::super::*;
use crate::ftp::Endpoint;
use crate::ftp::testpump::t0;

fn config(passive: bool) -> ClientConfig {
    ClientConfig {
        user: "anonymous".into(),
        pass: "guest@".into(),
        local_ip: "fd00::2".parse().unwrap(),
        data_port_base: 5001,
        fin: FinPolicy::Seed,
        passive,
        server_ip: "fd00::1".parse().unwrap(),
        timeout: None,
    }
}

fn feed(c: &mut Client, text: &str) -> String {
    c.handle_control(text.as_bytes(), t0());
    let out = String::from_utf8_lossy(c.control_out()).into_owned();
    let n = c.control_out().len();
    c.control_sent(n);
    out
}

fn logged_in(passive: bool) -> Client {
    let mut c = Client::new(config(passive), vec![Step::Nlst(None), Step::Nlst(None)]);
    feed(&mut c, "220 hi\r\n");
    feed(&mut c, "331 pw\r\n");
    c
}

#[test]
fn active_mode_uses_eprt_2() {
    let mut c = logged_in(false);
    assert_eq!(feed(&mut c, "230 ok\r\n"), "EPRT |2|fd00::2|5001|\r\n");
    assert!(matches!(
        c.poll_action(),
        Some(DataAction::Listen { port: 5001, .. })
    ));
    assert_eq!(feed(&mut c, "200 EPRT command successful.\r\n"), "NLST\r\n");
}

#[test]
fn passive_mode_connects_to_the_ipv6_server() {
    let mut c = logged_in(true);
    assert_eq!(feed(&mut c, "230 ok\r\n"), "EPSV\r\n");
    assert_eq!(
        feed(
            &mut c,
            "229 Entering Extended Passive Mode (|||50000|).\r\n"
        ),
        "NLST\r\n"
    );
    assert_eq!(
        c.poll_action(),
        Some(DataAction::Connect {
            peer: "[fd00::1]:50000".parse().unwrap(),
            label: "NLST data connection".into()
        })
    );
}

#[test]
fn a_refused_epsv_is_not_retried_with_pasv() {
    let mut c = logged_in(true);
    assert_eq!(feed(&mut c, "230 ok\r\n"), "EPSV\r\n");
    // No PASV on IPv6: the step fails and the next one tries EPSV again.
    assert_eq!(feed(&mut c, "500 What?\r\n"), "EPSV\r\n");
    assert!(!c.outcomes()[0].ok);
}
