//! Script tests for the server session: feed control bytes and data events, check replies and
//! actions.

mod hostile;
mod limits;

use super::*;
use crate::ftp::jail::tests::TempDir;
use crate::ftp::testpump::t0;
use crate::ftp::{DataError, Endpoint, Read};
use crate::ftp::{DataEvent, FinPlacement};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

pub(crate) fn config(root: &std::path::Path, writable: bool) -> ServerConfig {
    ServerConfig {
        root: root.to_path_buf(),
        accounts: vec![("alice".into(), "wonder".into())],
        anonymous: true,
        writable,
        fin: FinPolicy::Seed,
        greeting: "smolftp ready".into(),
        allow_foreign_port: false,
        max_login_failures: 3,
        atomic_uploads: true,
        idle_timeout: None,
        login_failure_delay: Duration::ZERO,
        data_timeout: Duration::from_secs(30),
        // The scripts write as anonymous; `anonymous_may_only_read` tests the default.
        anonymous_writable: true,
        login_guard: Default::default(),
    }
}

pub(crate) struct Script {
    pub _dir: TempDir,
    pub root: PathBuf,
    pub s: Session,
}

impl Script {
    pub(crate) fn new(writable: bool) -> Script {
        let dir = TempDir::new("server");
        let root = dir.0.join("root");
        std::fs::create_dir_all(root.join("pub")).unwrap();
        std::fs::write(root.join("readme.txt"), readme()).unwrap();
        std::fs::write(root.join("pub/a\"b.txt"), b"q").unwrap();
        let cfg = Arc::new(config(&root, writable));
        let jail = Arc::new(Jail::new(&root).unwrap());
        let s = Session::new(cfg, jail, Ipv4Addr::new(10, 0, 0, 2).into(), t0());
        let mut sc = Script { _dir: dir, root, s };
        assert_eq!(sc.out(), "220 smolftp ready\r\n");
        sc
    }

    pub(crate) fn out(&mut self) -> String {
        let text = String::from_utf8_lossy(self.s.control_out()).into_owned();
        let n = self.s.control_out().len();
        self.s.control_sent(n);
        text
    }

    /// Sends bytes and returns the replies they produced.
    pub(crate) fn cmd(&mut self, bytes: &[u8]) -> String {
        self.s.handle_control(bytes, t0());
        self.out()
    }

    /// Sends `line` (a `PASV` or `EPSV`, maybe with commands behind it): nothing may be said
    /// and one passive listen must be asked for until the network layer reports the port, which
    /// it then does (10.0.0.1:`port`). Returns the replies that follow.
    pub(crate) fn offer(&mut self, line: &[u8], port: u16) -> String {
        assert_eq!(self.cmd(line), "", "a reply before the port is known");
        assert!(matches!(
            self.actions()[..],
            [DataAction::ListenPassive { .. }]
        ));
        let at = std::net::SocketAddr::from(([10, 0, 0, 1], port));
        self.s.handle_data_event(DataEvent::Listening(at), t0());
        self.out()
    }

    pub(crate) fn actions(&mut self) -> Vec<DataAction> {
        std::iter::from_fn(|| self.s.poll_action()).collect()
    }

    pub(crate) fn login(&mut self) {
        assert_eq!(
            self.cmd(b"USER anonymous\r\n"),
            "331 Please specify the password.\r\n"
        );
        assert_eq!(self.cmd(b"PASS x@y\r\n"), "230 Login successful.\r\n");
    }

    pub(crate) fn read_all(&mut self, chunk: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0; chunk];
        loop {
            let read = self.s.read_data(&mut buf);
            got.extend_from_slice(&buf[..read.len]);
            if read.end {
                // The end was told with the last bytes: nothing follows.
                assert_eq!(self.s.read_data(&mut buf), Read::last(0));
                return got;
            }
            assert!(read.len > 0, "0 bytes and not the end");
        }
    }
}

/// The names of the upload temporaries in `dir`.
pub(crate) fn temporaries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(crate::ftp::upload::PART_PREFIX))
        .collect()
}

pub(crate) fn readme() -> Vec<u8> {
    (0..4231u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn port_5001() -> SocketAddr {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 5001).into()
}

#[test]
fn retr_full_script() {
    let mut t = Script::new(false);
    t.login();
    assert_eq!(t.cmd(b"TYPE I\r\n"), "200 Switching to Binary mode.\r\n");
    assert_eq!(
        t.cmd(b"PORT 10,0,0,2,19,137\r\n"),
        "200 PORT command successful.\r\n"
    );
    assert_eq!(t.cmd(b"RETR readme.txt\r\n"), "");
    assert_eq!(
        t.actions(),
        vec![DataAction::Connect {
            peer: port_5001(),
            label: "RETR readme.txt data connection".into()
        }]
    );
    // Commands during the transfer are queued.
    assert_eq!(t.cmd(b"NOOP\r\n"), "");
    t.s.handle_data_event(DataEvent::Connected, t0());
    assert_eq!(
        t.out(),
        "150 Opening BINARY mode data connection for readme.txt (4231 bytes).\r\n"
    );
    assert_eq!(
        t.actions(),
        vec![DataAction::Send {
            fin: FinPlacement::Piggyback
        }]
    );
    assert_eq!(t.read_all(1000), readme());
    t.s.handle_data_event(DataEvent::Finished, t0());
    assert_eq!(t.out(), "226 Transfer complete.\r\n200 NOOP ok.\r\n");
    // The PORT was used up.
    assert_eq!(
        t.cmd(b"RETR readme.txt\r\n"),
        "425 Use PORT or PASV first.\r\n"
    );
    assert_eq!(t.cmd(b"QUIT\r\n"), "221 Goodbye.\r\n");
    assert!(t.s.wants_close());
    assert_eq!(t.cmd(b"NOOP\r\n"), "");
    assert!(t.actions().is_empty());
}

#[test]
fn list_and_nlst() {
    let mut t = Script::new(false);
    t.login();
    t.cmd(b"PORT 10,0,0,2,19,137\r\n");
    assert_eq!(t.cmd(b"LIST -la\r\n"), "");
    assert_eq!(
        t.actions(),
        vec![DataAction::Connect {
            peer: port_5001(),
            label: "LIST data connection".into()
        }]
    );
    t.s.handle_data_event(DataEvent::Connected, t0());
    assert_eq!(t.out(), "150 Here comes the directory listing.\r\n");
    assert_eq!(
        t.actions(),
        vec![DataAction::Send {
            fin: FinPlacement::Separate
        }]
    );
    let listing = String::from_utf8(t.read_all(7)).unwrap();
    let lines: Vec<&str> = listing.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(lines[0].starts_with("drwx") && lines[0].ends_with(" pub"));
    assert!(lines[1].contains(" 4231 ") && lines[1].ends_with(" readme.txt"));
    t.s.handle_data_event(DataEvent::Finished, t0());
    assert_eq!(t.out(), "226 Directory send OK.\r\n");

    t.cmd(b"PORT 10,0,0,2,19,138\r\n");
    t.cmd(b"NLST pub\r\n");
    assert!(
        matches!(&t.actions()[..], [DataAction::Connect { label, .. }] if label == "NLST data connection")
    );
    t.s.handle_data_event(DataEvent::Connected, t0());
    t.out();
    t.actions();
    assert_eq!(t.read_all(100), b"a\"b.txt\r\n");
    t.s.handle_data_event(DataEvent::Finished, t0());
    assert_eq!(t.out(), "226 Directory send OK.\r\n");

    t.cmd(b"PORT 10,0,0,2,19,139\r\n");
    assert_eq!(
        t.cmd(b"LIST /nothing\r\n"),
        "550 Failed to open directory.\r\n"
    );
    assert!(t.actions().is_empty());
}

#[test]
fn before_login_and_errors() {
    let mut t = Script::new(false);
    let cases: Vec<(&[u8], &str)> = vec![
        (b"PWD\r\n", "530 Please login with USER and PASS.\r\n"),
        (
            b"RETR readme.txt\r\n",
            "530 Please login with USER and PASS.\r\n",
        ),
        (
            b"PORT 10,0,0,2,19,137\r\n",
            "530 Please login with USER and PASS.\r\n",
        ),
        (
            b"PORT 300,0,0,2,19,137\r\n",
            "530 Please login with USER and PASS.\r\n",
        ),
        (b"EPSV\r\n", "530 Please login with USER and PASS.\r\n"),
        (b"SYST\r\n", "215 UNIX Type: L8\r\n"),
        (b"NOOP\r\n", "200 NOOP ok.\r\n"),
        (
            b"FEAT\r\n",
            "211-Features:\r\n MDTM\r\n MLST type*;size*;modify*;perm*;\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n",
        ),
        (b"\r\n", "500 Syntax error, command unrecognized.\r\n"),
        (b"USER\r\n", "501 Missing argument.\r\n"),
        (b"PASS x\r\n", "503 Login with USER first.\r\n"),
        (b"USER alice\r\n", "331 Please specify the password.\r\n"),
        (b"PASS wrong\r\n", "530 Login incorrect.\r\n"),
        (b"USER nobody\r\n", "331 Please specify the password.\r\n"),
        (b"PASS wonder\r\n", "530 Login incorrect.\r\n"),
        (
            b"user alice\r\npass wonder\r\n",
            "331 Please specify the password.\r\n230 Login successful.\r\n",
        ),
        (
            b"EPRT |1|10.0.0.3|5001|\r\n",
            "501 EPRT must name your own address and a port >= 1024.\r\n",
        ),
        (
            b"EPRT |1|10.0.0.2|5001\r\n",
            "501 Illegal EPRT command.\r\n",
        ),
        (b"LPSV\r\n", "502 Command not implemented.\r\n"),
        (b"PORT 256,0,0,1,0,1\r\n", "501 Illegal PORT command.\r\n"),
        (b"TYPE X\r\n", "504 Unrecognised TYPE command.\r\n"),
        (b"MODE S\r\n", "200 Mode set to S.\r\n"),
        (b"STRU F\r\n", "200 Structure set to F.\r\n"),
        (b"MODE B\r\n", "504 Bad MODE command.\r\n"),
        (b"RETR readme.txt\r\n", "425 Use PORT or PASV first.\r\n"),
        (
            b"PORT 10,0,0,2,19,137\r\nRETR missing.txt\r\n",
            "200 PORT command successful.\r\n550 Failed to open file.\r\n",
        ),
        (
            b"PORT 10,0,0,2,19,137\r\nRETR pub\r\n",
            "200 PORT command successful.\r\n550 Failed to open file.\r\n",
        ),
        (
            b"PORT 10,0,0,2,19,137\r\nRETR ../../../etc/passwd\r\n",
            "200 PORT command successful.\r\n550 Failed to open file.\r\n",
        ),
        (b"STOR up.bin\r\n", "550 Permission denied.\r\n"),
        (b"SIZE readme.txt\r\n", "213 4231\r\n"),
        (b"SIZE pub\r\n", "550 Could not get file size.\r\n"),
        (b"SIZE nope\r\n", "550 Could not get file size.\r\n"),
        (b"PWD\r\n", "257 \"/\" is the current directory\r\n"),
        (b"CWD pub\r\n", "250 Directory successfully changed.\r\n"),
        (b"SIZE a\"b.txt\r\n", "213 1\r\n"),
        (b"CWD /nope\r\n", "550 Failed to change directory.\r\n"),
        (b"CWD readme.txt\r\n", "550 Failed to change directory.\r\n"),
        (b"CDUP\r\n", "250 Directory successfully changed.\r\n"),
        (b"CDUP\r\n", "250 Directory successfully changed.\r\n"),
        (b"PWD\r\n", "257 \"/\" is the current directory\r\n"),
        (b"RETR a\0b\r\n", "501 NUL byte in command line.\r\n"),
        (b"RETR \xff\r\n", "501 Command line is not valid UTF-8.\r\n"),
    ];
    for (input, want) in cases {
        assert_eq!(t.cmd(input), want, "{:?}", String::from_utf8_lossy(input));
        assert!(t.actions().is_empty());
    }
    let mut long = vec![b'A'; 5000];
    long.extend_from_slice(b"\r\nNOOP\r\n");
    assert_eq!(
        t.cmd(&long),
        "500 Command line too long.\r\n200 NOOP ok.\r\n"
    );
}

#[test]
fn pwd_doubles_quotes() {
    let mut t = Script::new(false);
    std::fs::create_dir(t.root.join("we\"ird")).unwrap();
    t.login();
    t.cmd(b"CWD we\"ird\r\n");
    assert_eq!(
        t.cmd(b"PWD\r\n"),
        "257 \"/we\"\"ird\" is the current directory\r\n"
    );
}

#[test]
fn stor_writes_file() {
    let mut t = Script::new(true);
    t.login();
    t.cmd(b"PORT 10,0,0,2,19,137\r\n");
    assert_eq!(t.cmd(b"STOR up.bin\r\n"), "");
    assert_eq!(
        t.actions(),
        vec![DataAction::Connect {
            peer: port_5001(),
            label: "STOR up.bin data connection".into()
        }]
    );
    t.s.handle_data_event(DataEvent::Connected, t0());
    assert_eq!(t.out(), "150 Ok to send data.\r\n");
    assert_eq!(t.actions(), vec![DataAction::Receive]);
    t.s.write_data(b"hello ");
    t.s.write_data(b"world");
    t.s.handle_data_event(DataEvent::Finished, t0());
    assert_eq!(t.out(), "226 Transfer complete.\r\n");
    assert_eq!(
        std::fs::read(t.root.join("up.bin")).unwrap(),
        b"hello world"
    );
    // Storing over a directory or outside fails before any data action.
    t.cmd(b"PORT 10,0,0,2,19,137\r\n");
    assert_eq!(t.cmd(b"STOR pub\r\n"), "553 Could not create file.\r\n");
    t.cmd(b"PORT 10,0,0,2,19,137\r\n");
    assert_eq!(t.cmd(b"STOR nodir/x\r\n"), "553 Could not create file.\r\n");
    assert!(t.actions().is_empty());
}

#[test]
fn data_failures() {
    let mut t = Script::new(false);
    t.login();
    t.cmd(b"PORT 10,0,0,2,19,137\r\nRETR readme.txt\r\nNOOP\r\n");
    assert_eq!(t.actions().len(), 1);
    t.s.handle_data_event(DataEvent::Failed(DataError::Reset), t0());
    assert_eq!(
        t.out(),
        "425 Can't open data connection.\r\n200 NOOP ok.\r\n"
    );
    t.cmd(b"PORT 10,0,0,2,19,137\r\nRETR readme.txt\r\n");
    t.s.handle_data_event(DataEvent::Connected, t0());
    t.out();
    let mut buf = [0u8; 100];
    assert_eq!(t.s.read_data(&mut buf), Read::more(100));
    t.s.handle_data_event(DataEvent::Failed(DataError::Reset), t0());
    assert_eq!(t.out(), "426 Connection closed; transfer aborted.\r\n");
    assert_eq!(t.s.read_data(&mut buf), Read::last(0));
    // Stray events are ignored.
    t.s.handle_data_event(DataEvent::Finished, t0());
    t.s.handle_data_event(DataEvent::Connected, t0());
    assert_eq!(t.out(), "");
}

#[test]
fn garbage_never_panics() {
    let mut t = Script::new(true);
    let mut seed = 12345u32;
    for _ in 0..2000 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let len = (seed >> 16) % 64;
        let bytes: Vec<u8> = (0..len)
            .map(|i| (seed.rotate_left(i) & 0xff) as u8)
            .collect();
        t.s.handle_control(&bytes, t0());
        t.s.handle_data_event(DataEvent::Connected, t0());
        let mut buf = [0u8; 16];
        t.s.read_data(&mut buf);
        t.s.write_data(&bytes);
        t.s.handle_data_event(DataEvent::Finished, t0());
        t.out();
        t.actions();
    }
}

#[test]
fn a_command_behind_pasv_is_answered_after_the_227() {
    let mut sc = Script::new(false);
    sc.cmd(b"USER anonymous\r\nPASS x\r\n");
    // PASV and NOOP in one segment: nothing is said until the port is known.
    assert_eq!(
        sc.offer(b"PASV\r\nNOOP\r\n", 50000),
        "227 Entering Passive Mode (10,0,0,1,195,80).\r\n200 NOOP ok.\r\n"
    );
    // No port free: 425, then the next command.
    assert_eq!(sc.cmd(b"EPSV\r\nPWD\r\n"), "");
    // The PASV offer before is given up for the new one.
    assert!(matches!(
        sc.actions()[..],
        [DataAction::Abort, DataAction::ListenPassive { .. }]
    ));
    sc.s.handle_data_event(
        DataEvent::Failed(DataError::NoPassivePort("50000-50000".into())),
        t0(),
    );
    let out = sc.out();
    assert!(
        out.starts_with("425 Can't open passive data connection.\r\n257 "),
        "{out}"
    );
    // An offer that breaks after it was announced is not answered out of turn: the next
    // transfer finds no data connection set up.
    assert!(sc.offer(b"EPSV\r\n", 50001).starts_with("229 "));
    sc.s.handle_data_event(DataEvent::Failed(DataError::Reset), t0());
    assert_eq!(sc.out(), "");
    assert!(sc.cmd(b"LIST\r\n").starts_with("425 "));
}

#[test]
fn after_epsv_all_only_epsv_sets_up_data_connections() {
    let mut sc = Script::new(false);
    sc.cmd(b"USER anonymous\r\nPASS x\r\n");
    assert_eq!(sc.cmd(b"EPSV ALL\r\n"), "200 EPSV ALL ok.\r\n");
    assert_eq!(
        sc.cmd(b"PORT 10,0,0,2,19,137\r\n"),
        "501 PORT not allowed after EPSV ALL.\r\n"
    );
    assert_eq!(
        sc.cmd(b"EPRT |1|10.0.0.2|5001|\r\n"),
        "501 EPRT not allowed after EPSV ALL.\r\n"
    );
    assert_eq!(
        sc.cmd(b"PASV\r\n"),
        "501 PASV not allowed after EPSV ALL.\r\n"
    );
    assert_eq!(sc.s.poll_action(), None);
    assert_eq!(
        sc.offer(b"EPSV\r\n", 50000),
        "229 Entering Extended Passive Mode (|||50000|).\r\n"
    );
    // REIN starts over: PORT is allowed again.
    sc.cmd(b"REIN\r\nUSER anonymous\r\nPASS x\r\n");
    assert_eq!(
        sc.cmd(b"PORT 10,0,0,2,19,137\r\n"),
        "200 PORT command successful.\r\n"
    );
}

/// `read_data` tells the end with the last bytes, exactly, whatever the buffer: a file (binary
/// and `TYPE A`) and a listing read with a buffer of exactly their size end in that one read,
/// so the network layer can put the FIN on them without reading ahead; with a smaller buffer
/// every read but the last says more is coming.
#[test]
fn read_data_says_the_end_with_the_last_bytes() {
    let wire_readme = {
        let mut out = Vec::new();
        crate::ftp::ascii::lf_to_crlf(&readme(), &mut false, &mut out);
        out
    };
    for (setup, line, want) in [
        ("TYPE I\r\n", "RETR readme.txt", readme()),
        ("TYPE A\r\n", "RETR readme.txt", wire_readme),
        ("TYPE I\r\n", "NLST", b"pub\r\nreadme.txt\r\n".to_vec()),
    ] {
        for chunk in [want.len(), want.len() - 1, 7] {
            let mut t = Script::new(false);
            t.login();
            t.cmd(setup.as_bytes());
            t.cmd(format!("PORT 10,0,0,2,19,137\r\n{line}\r\n").as_bytes());
            t.actions();
            t.s.handle_data_event(DataEvent::Connected, t0());
            t.out();
            let mut buf = vec![0u8; chunk];
            let mut got = Vec::new();
            loop {
                let read = t.s.read_data(&mut buf);
                got.extend_from_slice(&buf[..read.len]);
                let last = got.len() == want.len();
                assert_eq!(
                    read.end,
                    last,
                    "{line} {setup:?} in {chunk}: end at {}",
                    got.len()
                );
                if read.end {
                    break;
                }
            }
            assert_eq!(got, want, "{line} {setup:?} in {chunk}");
        }
    }
}
