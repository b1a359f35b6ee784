//! Hostile-input and new-command tests for the server session: table-driven scripts (lines in,
//! replies and actions out) and data round trips through [`crate::ftp::testpump::raw_transfer`].

use super::super::transfer::disk_error;
use super::super::*;
use super::{Script, readme, temporaries};
use crate::ftp::reply::Reply;
use crate::ftp::testpump::raw_transfer;
use crate::ftp::testpump::{at, t0};
use crate::ftp::{DataAction, DataEvent};
use crate::ftp::{DataError, Endpoint, Read};
use std::io;

const PORT: &str = "PORT 10,0,0,2,19,137";

fn session(writable: bool) -> Script {
    let mut t = Script::new(writable);
    t.login();
    t
}

/// Runs `(input, expected replies)` pairs; no data action may result.
fn table(t: &mut Script, cases: &[(&str, &str)]) {
    for (input, want) in cases {
        assert_eq!(t.cmd(input.as_bytes()), *want, "{input:?}");
        assert!(t.actions().is_empty(), "{input:?}");
    }
}

fn xfer(t: &mut Script, line: &str, upload: &[u8], chunk: usize) -> (String, Vec<u8>) {
    t.cmd(format!("{PORT}\r\n").as_bytes());
    raw_transfer(&mut t.s, line, upload, chunk, None)
}

/// `PORT`, `REST offset`, then `line`.
fn xfer_rest(t: &mut Script, offset: u64, line: &str, upload: &[u8]) -> (String, Vec<u8>) {
    t.cmd(format!("{PORT}\r\nREST {offset}\r\n").as_bytes());
    raw_transfer(&mut t.s, line, upload, 7, None)
}

#[test]
fn new_commands_success_and_errors() {
    let mut t = session(true);
    std::fs::write(t.root.join("old.txt"), b"old").unwrap();
    table(
        &mut t,
        &[
            ("ACCT x\r\n", "502 ACCT not implemented.\r\n"),
            ("SMNT /\r\n", "502 SMNT not implemented.\r\n"),
            ("ALLO 1000\r\n", "202 ALLO command ignored.\r\n"),
            ("ABOR\r\n", "225 No transfer to ABOR.\r\n"),
            ("REST 10\r\n", "350 Restart position accepted (10).\r\n"),
            ("REST x\r\n", "501 REST needs a byte offset.\r\n"),
            ("MKD new\r\n", "257 \"/new\" created\r\n"),
            ("MKD new\r\n", "550 Create directory operation failed.\r\n"),
            (
                "MKD nodir/x\r\n",
                "550 Create directory operation failed.\r\n",
            ),
            (
                "RMD new\r\n",
                "250 Remove directory operation successful.\r\n",
            ),
            ("RMD new\r\n", "550 Remove directory operation failed.\r\n"),
            ("RMD /\r\n", "550 Remove directory operation failed.\r\n"),
            (
                "RMD old.txt\r\n",
                "550 Remove directory operation failed.\r\n",
            ),
            ("RNTO x\r\n", "503 RNFR required first.\r\n"),
            ("RNFR missing\r\n", "550 RNFR command failed.\r\n"),
            (
                "RNFR old.txt\r\nNOOP\r\nRNTO x\r\n",
                "350 Ready for RNTO.\r\n200 NOOP ok.\r\n503 RNFR required first.\r\n",
            ),
            ("RNFR old.txt\r\n", "350 Ready for RNTO.\r\n"),
            ("RNTO nodir/new.txt\r\n", "550 Rename failed.\r\n"),
            (
                "RNFR old.txt\r\nRNTO new.txt\r\n",
                "350 Ready for RNTO.\r\n250 Rename successful.\r\n",
            ),
            ("DELE old.txt\r\n", "550 Delete operation failed.\r\n"),
            ("DELE pub\r\n", "550 Delete operation failed.\r\n"),
            ("DELE new.txt\r\n", "250 Delete operation successful.\r\n"),
            (
                "MDTM nope\r\n",
                "550 Could not get file modification time.\r\n",
            ),
            (
                "MDTM pub\r\n",
                "550 Could not get file modification time.\r\n",
            ),
            (
                "SITE HELP\r\n",
                "214-The following SITE commands are recognized.\r\n HELP\r\n214 Help OK.\r\n",
            ),
            ("SITE CHMOD 777 x\r\n", "504 Unknown SITE command.\r\n"),
            ("OPTS UTF8 ON\r\n", "200 Always in UTF8 mode.\r\n"),
            ("OPTS UTF8 OFF\r\n", "501 Option not understood.\r\n"),
            ("OPTS FOO\r\n", "501 Option not understood.\r\n"),
            ("MLST nope\r\n", "550 Failed to get file status.\r\n"),
            ("STAT nope\r\n", "550 Failed to open path.\r\n"),
            (
                "TYPE A\r\nSIZE readme.txt\r\n",
                "200 Switching to ASCII mode.\r\n213 4231\r\n",
            ),
            ("TYPE I\r\n", "200 Switching to Binary mode.\r\n"),
        ],
    );
    assert!(!t.root.join("old.txt").exists() && !t.root.join("new.txt").exists());
    let mdtm = t.cmd(b"MDTM readme.txt\r\n");
    assert!(
        mdtm.starts_with("213 ") && mdtm.len() == 4 + 14 + 2,
        "{mdtm}"
    );
    let help = t.cmd(b"HELP\r\n");
    assert!(help.starts_with("214-") && help.ends_with("214 Help OK.\r\n"));
    for verb in ["MLSD", "STOU", "APPE", "REST", "RNFR", "MDTM", "ABOR"] {
        assert!(help.contains(verb), "{verb} missing from {help}");
    }
    let stat = t.cmd(b"STAT\r\n");
    assert!(stat.starts_with("211-FTP server status:\r\n"), "{stat}");
    assert!(
        stat.contains(" Logged in as anonymous\r\n") && stat.ends_with("211 End of status\r\n")
    );
    let stat = t.cmd(b"STAT /\r\n");
    assert!(stat.starts_with("213-Status of /:\r\n") && stat.ends_with("213 End of status\r\n"));
    assert!(stat.contains(" readme.txt\r\n"), "{stat}");
    let mlst = t.cmd(b"MLST readme.txt\r\n");
    assert!(
        mlst.starts_with("250-Listing /readme.txt\r\n type=file;size=4231;modify="),
        "{mlst}"
    );
    assert!(
        mlst.ends_with(";perm=radfw; /readme.txt\r\n250 End\r\n"),
        "{mlst}"
    );
    assert_eq!(t.cmd(b"OPTS MLST size;\r\n"), "200 MLST OPTS size;\r\n");
    assert_eq!(
        t.cmd(b"MLST /readme.txt\r\n"),
        "250-Listing /readme.txt\r\n size=4231; /readme.txt\r\n250 End\r\n"
    );
    assert!(
        t.cmd(b"FEAT\r\n")
            .contains(" MLST type;size*;modify;perm;\r\n")
    );
    // REIN logs out.
    assert_eq!(t.cmd(b"REIN\r\n"), "220 Service ready for new user.\r\n");
    assert_eq!(
        t.cmd(b"PWD\r\n"),
        "530 Please login with USER and PASS.\r\n"
    );
}

#[test]
fn read_only_refuses_every_write() {
    let mut t = session(false);
    let deny = "550 Permission denied.\r\n";
    let lines = [
        "STOR x",
        "STOU",
        "STOU x",
        "APPE readme.txt",
        "DELE readme.txt",
        "RMD pub",
        "MKD d",
        "RNFR readme.txt",
        "RNTO y",
    ];
    for line in lines {
        t.cmd(format!("{PORT}\r\n").as_bytes());
        assert_eq!(t.cmd(format!("{line}\r\n").as_bytes()), deny, "{line}");
        assert!(t.actions().is_empty());
    }
    assert!(t.root.join("readme.txt").exists() && t.root.join("pub").exists());
}

#[test]
fn port_bounce_is_refused() {
    let bad = "501 PORT must name your own address and a port >= 1024.\r\n";
    let mut t = session(false);
    table(
        &mut t,
        &[
            ("PORT 10,0,0,3,19,137\r\n", bad),
            ("PORT 192,168,1,1,0,80\r\n", bad),
            ("PORT 10,0,0,2,0,21\r\n", bad),
            ("PORT 10,0,0,2,3,255\r\n", bad),
            // A refused PORT also forgets the previous one.
            ("RETR readme.txt\r\n", "425 Use PORT or PASV first.\r\n"),
            ("PORT 10,0,0,2,4,0\r\n", "200 PORT command successful.\r\n"),
        ],
    );
    // The lab option allows them.
    let mut cfg = tests::config(&t.root, false);
    cfg.allow_foreign_port = true;
    let jail = Arc::new(Jail::new(&t.root).unwrap());
    let mut s = Session::new(
        Arc::new(cfg),
        jail,
        std::net::Ipv4Addr::new(10, 0, 0, 2).into(),
        t0(),
    );
    s.handle_control(b"USER ftp\r\nPASS x\r\nPORT 10,0,0,3,0,21\r\n", t0());
    assert!(String::from_utf8_lossy(s.control_out()).ends_with("200 PORT command successful.\r\n"));
}

#[test]
fn login_failures_and_user_probe() {
    let mut t = Script::new(false);
    table(
        &mut t,
        &[
            (
                "USER nosuchuser\r\n",
                "331 Please specify the password.\r\n",
            ),
            ("PASS a\r\n", "530 Login incorrect.\r\n"),
            ("USER alice\r\n", "331 Please specify the password.\r\n"),
            ("PASS b\r\n", "530 Login incorrect.\r\n"),
            ("REIN\r\n", "530 Please login with USER and PASS.\r\n"),
            ("USER alice\r\n", "331 Please specify the password.\r\n"),
            (
                "PASS c\r\nNOOP\r\n",
                "421 Login incorrect; too many failures, closing.\r\n",
            ),
        ],
    );
    assert!(t.s.wants_close());
    assert_eq!(t.cmd(b"USER alice\r\nPASS wonder\r\n"), "");
}

#[test]
fn hostile_lines() {
    let mut t = session(true);
    let nul = "501 NUL byte in command line.\r\n";
    let mut cases: Vec<(String, &str)> = [
        "RETR", "STOR", "APPE", "DELE", "RMD", "MKD", "RNFR", "RNTO", "MDTM", "SIZE", "MLST",
        "MLSD", "STAT", "CWD", "STOU",
    ]
    .iter()
    .map(|v| (format!("{v} a\0b\r\n"), nul))
    .collect();
    let mut long = "NOOP ".to_string() + &"x".repeat(5000);
    long.push_str("\r\nNOOP\r\n");
    cases.push((long, "500 Command line too long.\r\n200 NOOP ok.\r\n"));
    for (line, want) in &cases {
        assert_eq!(t.cmd(line.as_bytes()), *want, "{line:?}");
        assert!(t.actions().is_empty());
    }
    // Telnet IP/DM bytes before ABOR are dropped.
    assert_eq!(
        t.cmd(b"\xff\xf4\xff\xf2ABOR\r\n"),
        "225 No transfer to ABOR.\r\n"
    );
    assert_eq!(std::fs::read_dir(&t.root).unwrap().count(), 2);
}

#[test]
fn disk_errors_map_to_451_and_452() {
    let full = io::Error::from_raw_os_error(28);
    assert_eq!(disk_error(&full, "writing to").code, 452);
    let full = io::Error::from(io::ErrorKind::StorageFull);
    assert_eq!(disk_error(&full, "writing to").code, 452);
    let other = io::Error::from(io::ErrorKind::PermissionDenied);
    assert_eq!(
        disk_error(&other, "writing to"),
        Reply::new(451, "Failure writing to local file.")
    );
}

#[test]
fn abor_and_stat_during_transfer() {
    let mut t = session(true);
    t.cmd(format!("{PORT}\r\nRETR readme.txt\r\n").as_bytes());
    t.actions();
    t.s.handle_data_event(DataEvent::Connected, t0());
    t.out();
    t.actions();
    let mut buf = [0u8; 100];
    assert_eq!(t.s.read_data(&mut buf), Read::more(100));
    let stat = t.cmd(b"NOOP\r\nSTAT\r\n");
    assert!(stat.starts_with("211-FTP server status:\r\n"), "{stat}");
    assert!(stat.contains(" Transfer in progress: RETR readme.txt: 100 of 4231 bytes sent\r\n"));
    assert_eq!(
        t.cmd(b"ABOR\r\n"),
        "426 Connection closed; transfer aborted.\r\n226 ABOR successful.\r\n200 NOOP ok.\r\n"
    );
    assert_eq!(t.actions(), vec![DataAction::Abort]);
    assert_eq!(t.s.read_data(&mut buf), Read::last(0));
    // An upload aborted mid-way leaves neither the file nor its temporary.
    t.cmd(format!("{PORT}\r\nSTOR up.bin\r\n").as_bytes());
    t.s.handle_data_event(DataEvent::Connected, t0());
    t.s.write_data(b"partial");
    t.out();
    assert_eq!(temporaries(&t.root).len(), 1);
    assert!(t.cmd(b"ABOR\r\n").starts_with("426 "));
    assert!(temporaries(&t.root).is_empty() && !t.root.join("up.bin").exists());
}

#[test]
fn round_trips() {
    let mut t = session(true);
    // MLSD: one facts line per entry; 501 on a file.
    let (r, data) = xfer(&mut t, "MLSD", b"", 7);
    assert_eq!(
        r,
        "150 Here comes the directory listing.\r\n226 Directory send OK.\r\n"
    );
    let text = String::from_utf8(data).unwrap();
    assert!(text.starts_with("type=dir;size="), "{text}");
    assert!(text.contains(";perm=radfw; readme.txt\r\n"), "{text}");
    t.cmd(format!("{PORT}\r\n").as_bytes());
    assert_eq!(
        t.cmd(b"MLSD readme.txt\r\n"),
        "501 MLSD needs a directory.\r\n"
    );
    // STOU twice: two names.
    let (r, _) = xfer(&mut t, "STOU up", b"one", 2);
    assert_eq!(r, "150 FILE: up\r\n226 Transfer complete.\r\n");
    let (r, _) = xfer(&mut t, "STOU up", b"two", 2);
    assert_eq!(r, "150 FILE: up.1\r\n226 Transfer complete.\r\n");
    assert_eq!(std::fs::read(t.root.join("up.1")).unwrap(), b"two");
    // APPE appends in place.
    let (r, _) = xfer(&mut t, "APPE up", b"+more", 3);
    assert_eq!(r, "150 Ok to send data.\r\n226 Transfer complete.\r\n");
    assert_eq!(std::fs::read(t.root.join("up")).unwrap(), b"one+more");
    // REST + RETR.
    let (r, data) = xfer_rest(&mut t, 4000, "RETR readme.txt", b"");
    assert!(r.ends_with("226 Transfer complete.\r\n"), "{r}");
    assert_eq!(data, readme()[4000..]);
    let (r, _) = xfer_rest(&mut t, 4232, "RETR readme.txt", b"");
    assert_eq!(r, "554 Restart offset past the end of the file.\r\n");
    // REST is cancelled by any other command.
    t.cmd(b"REST 4000\r\nNOOP\r\n");
    let (_, data) = xfer(&mut t, "RETR readme.txt", b"", 1000);
    assert_eq!(data, readme());
    // REST + STOR resumes in place.
    let (r, _) = xfer_rest(&mut t, 3, "STOR up", b"XY");
    assert!(r.ends_with("226 Transfer complete.\r\n"), "{r}");
    assert_eq!(std::fs::read(t.root.join("up")).unwrap(), b"oneXY");
    let (r, _) = xfer_rest(&mut t, 99, "STOR up", b"XY");
    assert!(
        r.ends_with("554 Restart offset past the end of the file.\r\n"),
        "{r}"
    );
    // Resuming a file that is not there is refused without creating it (found while fuzzing);
    // REST 0 is a plain upload.
    let (r, _) = xfer_rest(&mut t, 5, "STOR absent", b"XY");
    assert!(
        r.ends_with("554 Restart offset past the end of the file.\r\n"),
        "{r}"
    );
    assert!(
        !t.root.join("absent").exists(),
        "an empty file was left behind"
    );
    let (r, _) = xfer_rest(&mut t, 0, "STOR fresh", b"XY");
    assert!(r.ends_with("226 Transfer complete.\r\n"), "{r}");
    assert_eq!(std::fs::read(t.root.join("fresh")).unwrap(), b"XY");
}

#[test]
fn ascii_conversion_both_ways() {
    let mut t = session(true);
    std::fs::write(t.root.join("text.txt"), b"a\nbb\r\nc\n\n").unwrap();
    t.cmd(b"TYPE A\r\n");
    for chunk in [1, 2, 3, 100] {
        let (r, data) = xfer(&mut t, "RETR text.txt", b"", chunk);
        assert!(r.contains("150 Opening ASCII mode"), "{r}");
        assert_eq!(data, b"a\r\nbb\r\nc\r\n\r\n", "chunk {chunk}");
    }
    // Upload: chunk 2 puts the CR of "ab\r\n" at the end of a chunk; a lone CR stays.
    for chunk in [1, 2, 3, 100] {
        let (r, _) = xfer(&mut t, "STOR in.txt", b"ab\r\ncd\rx\r\n\r", chunk);
        assert!(r.ends_with("226 Transfer complete.\r\n"), "{r}");
        assert_eq!(
            std::fs::read(t.root.join("in.txt")).unwrap(),
            b"ab\ncd\rx\n\r",
            "chunk {chunk}"
        );
    }
    t.cmd(b"TYPE I\r\n");
    let (_, _) = xfer(&mut t, "STOR in.txt", b"ab\r\n", 1);
    assert_eq!(std::fs::read(t.root.join("in.txt")).unwrap(), b"ab\r\n");
}

#[test]
fn interrupted_stor_leaves_no_file() {
    let mut t = session(true);
    t.cmd(format!("{PORT}\r\n").as_bytes());
    let (r, _) = raw_transfer(&mut t.s, "STOR big.bin", &[7u8; 5000], 1000, Some(2000));
    assert_eq!(
        r,
        "150 Ok to send data.\r\n426 Connection closed; transfer aborted.\r\n"
    );
    let names: Vec<_> = std::fs::read_dir(&t.root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // Over an existing file: the old content survives an interrupted upload.
    t.cmd(format!("{PORT}\r\n").as_bytes());
    raw_transfer(&mut t.s, "STOR readme.txt", &[7u8; 5000], 1000, Some(1000));
    assert_eq!(std::fs::read(t.root.join("readme.txt")).unwrap(), readme());
    // A complete upload replaces it and leaves no temporary.
    let (r, _) = xfer(&mut t, "STOR readme.txt", b"new", 1000);
    assert!(r.ends_with("226 Transfer complete.\r\n"));
    assert_eq!(std::fs::read(t.root.join("readme.txt")).unwrap(), b"new");
    assert!(temporaries(&t.root).is_empty());
}

/// Found by the `server_session` fuzz target: a transfer command refused after `PASV` used the
/// passive connection up without telling the network layer, which kept the listener (maybe
/// already connected to) open for nothing; the next `PASV` asked for a second one.
#[test]
fn a_refused_transfer_gives_up_the_passive_connection() {
    let mut t = session(true);
    let cases = [
        ("RETR missing.txt", "550 Failed to open file."),
        (
            "REST 99999\r\nRETR readme.txt",
            "554 Restart offset past the end of the file.",
        ),
        ("LIST missing", "550 Failed to open directory."),
        ("MLSD readme.txt", "501 MLSD needs a directory."),
        ("STOR nodir/x", "553 Could not create file."),
        ("APPE pub", "553 Could not create file."),
    ];
    for connected in [false, true] {
        for (line, want) in cases {
            t.offer(b"PASV\r\n", 50000);
            if connected {
                t.s.handle_data_event(DataEvent::Connected, t0());
            }
            let got = t.cmd(format!("{line}\r\n").as_bytes());
            assert!(got.ends_with(&format!("{want}\r\n")), "{line}: {got}");
            assert_eq!(t.actions(), [DataAction::Abort], "{line}");
            assert_eq!(
                t.cmd(b"RETR readme.txt\r\n"),
                "425 Use PORT or PASV first.\r\n"
            );
        }
    }
    // Active mode holds nothing open: a refused command asks for nothing.
    t.cmd(format!("{PORT}\r\n").as_bytes());
    assert_eq!(
        t.cmd(b"RETR missing.txt\r\n"),
        "550 Failed to open file.\r\n"
    );
    assert!(t.actions().is_empty());
}

/// Found by the `server_session` fuzz target: a session that said goodbye (`221`, or `421` when
/// idle) kept its passive connection on offer, and answered a late event about it after the
/// goodbye. Closing gives it up, and nothing is said after the last reply.
#[test]
fn closing_gives_up_the_passive_connection() {
    let passive = |t: &mut Script| {
        t.offer(b"PASV\r\n", 50000);
    };
    let late_events = |t: &mut Script| {
        t.s.handle_data_event(DataEvent::Connected, t0());
        t.s.handle_data_event(DataEvent::Failed(DataError::Reset), t0());
        t.s.handle_data_event(DataEvent::Finished, t0());
        assert_eq!(t.out(), "", "a reply after the goodbye");
        assert!(t.actions().is_empty());
    };
    let mut t = session(false);
    passive(&mut t);
    assert_eq!(t.cmd(b"QUIT\r\n"), "221 Goodbye.\r\n");
    assert_eq!(t.actions(), [DataAction::Abort]);
    late_events(&mut t);

    // The idle timeout.
    let mut t = session(false);
    let mut cfg = tests::config(&t.root, false);
    cfg.idle_timeout = Some(std::time::Duration::from_secs(5));
    let jail = Arc::new(Jail::new(&t.root).unwrap());
    t.s = Session::new(Arc::new(cfg), jail, t.s.peer(), t0());
    t.out();
    t.cmd(b"USER anonymous\r\nPASS x\r\n");
    passive(&mut t);
    t.s.handle_timeout(at(std::time::Duration::ZERO));
    t.s.handle_timeout(at(std::time::Duration::from_secs(5)));
    assert_eq!(t.out(), "421 Timeout.\r\n");
    assert_eq!(t.actions(), [DataAction::Abort]);
    late_events(&mut t);
}
