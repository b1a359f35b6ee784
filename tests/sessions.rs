//! Whole FTP sessions between the smolftp client and server on the in-process cable, on the
//! virtual clock: listings, downloads and uploads of awkward sizes, refusals (550, 530), the
//! simple commands, and byte-identical captures.

use std::fs;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use smolftp::ftp::FinPolicy;
use smolftp::ftp::client::{Outcome, Step};
use smolftp::ftp::command::TransferType;
use smolftp::lab::{self, CLIENT_IP, LabConfig, LabRun, SERVER_IP};
use smolftp::link::{Format, Recorder};
use smolftp::trace::{self, Segment};

/// The files of `tests/sessions/`.
mod sessions {
    use super::*;
    pub mod cable;
    pub mod commands;
    pub mod ipv6;
    pub mod passive_range;
    pub mod pool;
}

/// Sizes around the 1460-byte MSS, the 64 KiB window, and a few MiB.
const SIZES: [usize; 9] = [
    0,
    1,
    1459,
    1460,
    1461,
    65_535,
    65_536,
    100_000,
    5 * 1024 * 1024,
];

/// Pseudo-random bytes from a xorshift64 generator (never all zeros).
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A scratch directory holding `root/` (served) and `local/` (the client's files).
struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
    local: PathBuf,
}

fn scratch(tag: &str) -> Scratch {
    let dir = tempfile::Builder::new()
        .prefix(&format!("smolftp-sessions-{tag}-"))
        .tempdir()
        .expect("cannot make a temp dir");
    let root = dir.path().join("root");
    let local = dir.path().join("local");
    fs::create_dir_all(&root).expect("cannot make root/");
    fs::create_dir_all(&local).expect("cannot make local/");
    Scratch {
        _dir: dir,
        root,
        local,
    }
}

fn run(cfg: &LabConfig, root: &Path, steps: Vec<Step>) -> LabRun {
    cfg.run(root, steps, None, lab::virtual_start())
        .unwrap_or_else(|e| panic!("the lab failed to run: {e}"))
}

fn run_recorded(cfg: &LabConfig, root: &Path, steps: Vec<Step>, capture: &Path) -> LabRun {
    let recorder = Recorder::create(capture, Format::Pcapng).expect("cannot create the capture");
    cfg.run(root, steps, Some(&recorder), lab::virtual_start())
        .unwrap_or_else(|e| panic!("the lab failed to run: {e}"))
}

/// The TCP segments of a capture file, in order.
fn segments(capture: &Path) -> Vec<Segment> {
    trace::read_capture(capture)
        .expect("cannot read the capture back")
        .iter()
        .map(|f| {
            Segment::from_frame(f.link, &f.data)
                .unwrap_or_else(|| panic!("frame {} is not IPv4/TCP", f.number))
        })
        .collect()
}

/// The client ports the server's data connections went to (its SYNs from port 20), in order.
fn data_connections(segs: &[Segment]) -> Vec<u16> {
    segs.iter()
        .filter(|s| {
            s.flags.syn && !s.flags.ack && s.src == SocketAddr::V4(SocketAddrV4::new(SERVER_IP, 20))
        })
        .map(|s| {
            assert_eq!(
                s.dst.ip(),
                std::net::IpAddr::V4(CLIENT_IP),
                "data connection to the wrong host: {s:?}"
            );
            s.dst.port()
        })
        .collect()
}

fn describe(o: &Outcome) -> String {
    format!(
        "{} -> {} (ok={}, bytes={}, local_error={:?})",
        o.step, o.reply, o.ok, o.bytes, o.local_error
    )
}

/// Asserts a clean session with one outcome per step.
fn assert_session(run: &LabRun, steps: usize) {
    assert_eq!(run.error, None, "the session failed");
    assert_eq!(
        run.outcomes.len(),
        steps,
        "one outcome per step expected, got: {:#?}",
        run.outcomes.iter().map(describe).collect::<Vec<_>>()
    );
}

fn assert_ok(o: &Outcome, code: u16) {
    assert!(o.ok, "expected success: {}", describe(o));
    assert_eq!(o.reply.code, code, "wrong reply code: {}", describe(o));
}

fn assert_refused(o: &Outcome, code: u16) {
    assert!(!o.ok, "expected a refusal: {}", describe(o));
    assert_eq!(o.reply.code, code, "wrong reply code: {}", describe(o));
    assert_eq!(o.bytes, 0, "no data expected: {}", describe(o));
}

// ---------------------------------------------------------------------------------------------
// 1. LIST and NLST
// ---------------------------------------------------------------------------------------------

#[test]
fn list_and_nlst_use_data_ports_5001_then_5002() {
    let s = scratch("list");
    fs::write(s.root.join("alpha.txt"), b"alpha\n").unwrap();
    fs::write(s.root.join("beta.bin"), content(1234, 7)).unwrap();
    fs::write(s.root.join("gamma"), b"").unwrap();
    fs::create_dir(s.root.join("sub")).unwrap();
    fs::write(s.root.join("sub").join("inner.txt"), b"inner").unwrap();
    let names = ["alpha.txt", "beta.bin", "gamma", "sub"];
    let capture = s.local.join("list.pcapng");

    let run = run_recorded(
        &LabConfig::default(),
        &s.root,
        vec![Step::List(None), Step::Nlst(None)],
        &capture,
    );
    assert_session(&run, 2);
    assert!(run.frames > 0, "the capture recorded no frame");

    let list = &run.outcomes[0];
    assert_eq!(list.step, Step::List(None));
    assert_ok(list, 226);
    let bytes = list.listing.as_deref().expect("LIST kept no listing");
    assert_eq!(list.bytes, bytes.len() as u64, "LIST byte count");
    let text = std::str::from_utf8(bytes).expect("the listing is not UTF-8");
    assert!(
        text.ends_with("\r\n"),
        "listing must end with CRLF: {text:?}"
    );
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), names.len(), "one line per entry: {text:?}");
    assert!(
        !text.replace("\r\n", "").contains('\n') && !text.replace("\r\n", "").contains('\r'),
        "every line must end with CRLF and nothing else: {text:?}"
    );
    for (line, name) in lines.iter().zip(names) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields.len() >= 9, "not an ls -l line: {line:?}");
        assert_eq!(fields.last(), Some(&name), "name of line {line:?}");
        let expected_kind = if name == "sub" { 'd' } else { '-' };
        assert_eq!(
            fields[0].chars().next(),
            Some(expected_kind),
            "type column of {line:?}"
        );
        assert_eq!(fields[0].len(), 10, "mode column of {line:?}");
        assert_eq!((fields[2], fields[3]), ("ftp", "ftp"), "owner of {line:?}");
    }
    let beta = lines.iter().find(|l| l.ends_with(" beta.bin")).unwrap();
    assert_eq!(
        beta.split_whitespace().nth(4),
        Some("1234"),
        "size column of {beta:?}"
    );

    let nlst = &run.outcomes[1];
    assert_eq!(nlst.step, Step::Nlst(None));
    assert_ok(nlst, 226);
    let nlst_bytes = nlst.listing.as_deref().expect("NLST kept no listing");
    let expected: String = names.iter().map(|n| format!("{n}\r\n")).collect();
    assert_eq!(
        String::from_utf8_lossy(nlst_bytes),
        expected,
        "NLST must give the names, one per CRLF line"
    );

    let segs = segments(&capture);
    assert_eq!(
        data_connections(&segs),
        vec![5001, 5002],
        "LIST then NLST must use data ports 5001 then 5002, from port 20"
    );
    // The control connection is client -> server:21.
    assert!(
        segs.iter().any(|s| s.flags.syn
            && !s.flags.ack
            && s.dst == SocketAddr::V4(SocketAddrV4::new(SERVER_IP, 21))),
        "no control connection SYN to port 21"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. RETR round trips
// ---------------------------------------------------------------------------------------------

fn retr_round_trips(tag: &str, cfg: LabConfig) {
    let s = scratch(tag);
    let mut steps = Vec::new();
    let mut expected = Vec::new();
    for (i, &size) in SIZES.iter().enumerate() {
        let name = format!("file-{size}.bin");
        let data = content(size, i as u64 + 1);
        fs::write(s.root.join(&name), &data).unwrap();
        let local = s.local.join(&name);
        steps.push(Step::Retr {
            remote: name,
            local: local.clone(),
        });
        expected.push((local, data));
    }
    let run = run(&cfg, &s.root, steps);
    assert_session(&run, SIZES.len());
    for (o, (local, data)) in run.outcomes.iter().zip(&expected) {
        assert_ok(o, 226);
        assert_eq!(o.bytes, data.len() as u64, "byte count of {}", o.step);
        let got = fs::read(local).unwrap_or_else(|e| panic!("{}: no local file: {e}", o.step));
        assert_eq!(got.len(), data.len(), "{}: downloaded length", o.step);
        assert!(
            got == *data,
            "{}: the download differs from the served file (first difference at byte {:?})",
            o.step,
            got.iter().zip(data).position(|(a, b)| a != b)
        );
    }
}

#[test]
fn retr_round_trips_default() {
    retr_round_trips("retr-seed", LabConfig::default());
}

#[test]
fn retr_round_trips_fin_separate() {
    retr_round_trips("retr-separate", {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.set_fin(FinPolicy::Separate);
        lab_cfg
    });
}

#[test]
fn retr_round_trips_fin_piggyback() {
    retr_round_trips("retr-piggyback", {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.set_fin(FinPolicy::Piggyback);
        lab_cfg
    });
}

#[test]
fn retr_round_trips_mtu_576() {
    retr_round_trips("retr-mtu576", {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.cable.mtu = 576;
        lab_cfg
    });
}

// ---------------------------------------------------------------------------------------------
// 3. STOR round trips
// ---------------------------------------------------------------------------------------------

fn stor_round_trips(tag: &str, cfg: LabConfig) {
    let s = scratch(tag);
    let mut steps = Vec::new();
    let mut expected = Vec::new();
    for (i, &size) in SIZES.iter().enumerate() {
        let name = format!("up-{size}.bin");
        let data = content(size, 100 + i as u64);
        let local = s.local.join(&name);
        fs::write(&local, &data).unwrap();
        steps.push(Step::Stor {
            local,
            remote: name.clone(),
        });
        expected.push((s.root.join(&name), data));
    }
    let run = run(
        &{
            let mut lab_cfg = cfg;
            lab_cfg.server.set_writable(true);
            lab_cfg
        },
        &s.root,
        steps,
    );
    assert_session(&run, SIZES.len());
    for (o, (served, data)) in run.outcomes.iter().zip(&expected) {
        assert_ok(o, 226);
        assert_eq!(o.bytes, data.len() as u64, "byte count of {}", o.step);
        let got = fs::read(served).unwrap_or_else(|e| panic!("{}: no server file: {e}", o.step));
        assert_eq!(got.len(), data.len(), "{}: uploaded length", o.step);
        assert!(
            got == *data,
            "{}: the server's file differs from the upload (first difference at byte {:?})",
            o.step,
            got.iter().zip(data).position(|(a, b)| a != b)
        );
    }
}

#[test]
fn stor_round_trips_default() {
    stor_round_trips("stor-seed", LabConfig::default());
}

#[test]
fn stor_round_trips_fin_separate() {
    stor_round_trips("stor-separate", {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.set_fin(FinPolicy::Separate);
        lab_cfg
    });
}

#[test]
fn stor_round_trips_fin_piggyback() {
    stor_round_trips("stor-piggyback", {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.set_fin(FinPolicy::Piggyback);
        lab_cfg
    });
}

#[test]
fn stor_round_trips_mtu_576() {
    stor_round_trips("stor-mtu576", {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.cable.mtu = 576;
        lab_cfg
    });
}

#[test]
fn stor_refused_when_read_only_and_session_goes_on() {
    let s = scratch("stor-ro");
    let local = s.local.join("up.bin");
    fs::write(&local, content(5000, 3)).unwrap();
    let run = run(
        &{
            let mut lab_cfg = LabConfig::default();
            lab_cfg.server.set_writable(false);
            lab_cfg
        },
        &s.root,
        vec![
            Step::Stor {
                local,
                remote: "up.bin".into(),
            },
            Step::Nlst(None),
        ],
    );
    assert_session(&run, 2);
    assert_refused(&run.outcomes[0], 550);
    assert!(
        !s.root.join("up.bin").exists(),
        "a read-only server created the file"
    );
    assert_ok(&run.outcomes[1], 226);
    assert_eq!(
        run.outcomes[1].listing.as_deref(),
        Some(&b""[..]),
        "the served directory must still be empty"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. 550 for files that are missing or outside the root
// ---------------------------------------------------------------------------------------------

#[test]
fn retr_550_for_missing_escaping_and_symlinked_paths() {
    let s = scratch("retr-550");
    let secret = s.local.join("secret.txt");
    fs::write(&secret, b"outside the root").unwrap();
    std::os::unix::fs::symlink(&secret, s.root.join("escape")).unwrap();
    fs::write(s.root.join("ok.txt"), b"fine\n").unwrap();

    let retr = |remote: &str| Step::Retr {
        remote: remote.into(),
        local: s.local.join(format!("got-{}", remote.replace('/', "_"))),
    };
    let steps = vec![
        retr("missing.txt"),
        Step::Noop,
        retr("../../etc/passwd"),
        Step::Noop,
        retr("escape"),
        Step::Noop,
        retr("ok.txt"),
    ];
    let run = run(&LabConfig::default(), &s.root, steps);
    assert_session(&run, 7);
    for i in [0, 2, 4] {
        assert_refused(&run.outcomes[i], 550);
        assert_ok(&run.outcomes[i + 1], 200);
    }
    assert!(
        !s.local.join("got-escape").exists(),
        "the symlinked file outside the root was downloaded"
    );
    assert!(
        !s.local.join("got-.._.._etc_passwd").exists(),
        "a file was written for ../../etc/passwd"
    );
    assert_ok(&run.outcomes[6], 226);
    assert_eq!(
        fs::read(s.local.join("got-ok.txt")).unwrap(),
        b"fine\n",
        "the session must go on after the refusals"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. 530
// ---------------------------------------------------------------------------------------------

fn alice(password: &str) -> LabConfig {
    let mut lab_cfg = LabConfig::default();
    lab_cfg.server.ftp.accounts = vec![("alice".into(), "secret".into())];
    (lab_cfg.client.user, lab_cfg.client.pass) = ("alice".into(), password.into());
    lab_cfg
}

#[test]
fn wrong_password_gets_530_and_no_transfer() {
    let s = scratch("login-bad");
    fs::write(s.root.join("f.txt"), b"data").unwrap();
    let capture = s.local.join("bad.pcapng");
    let local = s.local.join("f.txt");
    let run = run_recorded(
        &alice("wrong"),
        &s.root,
        vec![
            Step::List(None),
            Step::Retr {
                remote: "f.txt".into(),
                local: local.clone(),
            },
        ],
        &capture,
    );
    let error = run
        .error
        .as_deref()
        .expect("a refused login must be an error");
    assert!(error.contains("530"), "the error must mention 530: {error}");
    assert!(
        run.outcomes.is_empty(),
        "no step may run after a refused login: {:?}",
        run.outcomes.iter().map(describe).collect::<Vec<_>>()
    );
    assert!(!local.exists(), "a file was downloaded without logging in");
    assert_eq!(
        data_connections(&segments(&capture)),
        Vec::<u16>::new(),
        "no data connection may be opened"
    );
}

/// The server holds a wrong password's 530 back for 1 s: a client that waits only 0.5 s gives
/// up first, with a message that names what it waited for, and closes the control connection.
#[test]
fn a_client_timeout_shorter_than_the_login_delay_ends_the_session() {
    let s = scratch("login-timeout");
    let capture = s.local.join("timeout.pcapng");
    let cfg = {
        let mut lab_cfg = alice("wrong");
        lab_cfg.client.timeout = Some(Duration::from_millis(500));
        lab_cfg
    };
    let hasty = run_recorded(&cfg, &s.root, vec![Step::List(None)], &capture);
    assert_eq!(
        hasty.error.as_deref(),
        Some("timed out: no reply to `PASS` within 0.5 s")
    );
    assert!(hasty.outcomes.is_empty());
    // The client's FIN on port 21 leaves before the server's delayed 530 would have.
    let segs = segments(&capture);
    let client_fin = segs
        .iter()
        .position(|s| s.dst.port() == 21 && s.flags.fin)
        .expect("the client closes the control connection");
    assert!(
        segs[..client_fin]
            .iter()
            .all(|s| !String::from_utf8_lossy(&s.payload).starts_with("530")),
        "the 530 came before the timeout"
    );
    // With the default (60 s) the same session waits for the 530.
    let patient = run(&alice("wrong"), &s.root, vec![Step::List(None)]);
    assert!(patient.error.unwrap().contains("530"));
}

#[test]
fn right_password_lists() {
    let s = scratch("login-good");
    fs::write(s.root.join("f.txt"), b"data").unwrap();
    let run = run(&alice("secret"), &s.root, vec![Step::List(None)]);
    assert_session(&run, 1);
    assert_ok(&run.outcomes[0], 226);
    let listing =
        String::from_utf8_lossy(run.outcomes[0].listing.as_deref().unwrap_or(b"")).into_owned();
    assert!(listing.ends_with(" f.txt\r\n"), "listing: {listing:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. Simple commands
// ---------------------------------------------------------------------------------------------

#[test]
fn simple_commands_reply_as_expected() {
    let s = scratch("simple");
    fs::write(s.root.join("f.bin"), content(1461, 9)).unwrap();
    fs::create_dir(s.root.join("sub")).unwrap();
    fs::write(s.root.join("sub").join("g.txt"), b"g").unwrap();
    let steps = vec![
        Step::Syst,
        Step::Feat,
        Step::Type(TransferType::Image),
        Step::Type(TransferType::Ascii),
        Step::Noop,
        Step::Size("f.bin".into()),
        Step::Size("missing.bin".into()),
        Step::Size("sub".into()),
        Step::Pwd,
        Step::Cwd("sub".into()),
        Step::Pwd,
        Step::Size("g.txt".into()),
        Step::Cwd("nowhere".into()),
        Step::Pwd,
        Step::Cdup,
        Step::Pwd,
        Step::Cwd("../../..".into()),
        Step::Pwd,
    ];
    let n = steps.len();
    let run = run(&LabConfig::default(), &s.root, steps);
    assert_session(&run, n);
    let o = &run.outcomes;
    let text = |i: usize| o[i].reply.lines.join("\n");

    assert_ok(&o[0], 215);
    assert!(text(0).contains("UNIX"), "SYST: {}", describe(&o[0]));
    assert_ok(&o[1], 211);
    assert!(
        o[1].reply.lines.iter().any(|l| l.trim() == "SIZE"),
        "FEAT must announce SIZE: {:?}",
        o[1].reply.lines
    );
    assert_ok(&o[2], 200);
    assert_ok(&o[3], 200);
    assert_ok(&o[4], 200);
    assert_ok(&o[5], 213);
    assert_eq!(text(5), "1461", "SIZE f.bin");
    assert_eq!(
        o[6].reply.code,
        550,
        "SIZE of a missing file: {}",
        describe(&o[6])
    );
    assert!(!o[6].ok);
    assert_eq!(
        o[7].reply.code,
        550,
        "SIZE of a directory: {}",
        describe(&o[7])
    );
    assert_ok(&o[8], 257);
    assert!(text(8).starts_with("\"/\""), "PWD at the root: {}", text(8));
    assert_ok(&o[9], 250);
    assert_ok(&o[10], 257);
    assert!(
        text(10).starts_with("\"/sub\""),
        "PWD after CWD: {}",
        text(10)
    );
    assert_ok(&o[11], 213);
    assert_eq!(text(11), "1", "SIZE relative to the new cwd");
    assert_eq!(o[12].reply.code, 550, "CWD missing: {}", describe(&o[12]));
    assert!(!o[12].ok);
    assert!(
        text(13).starts_with("\"/sub\""),
        "a failed CWD must not move: {}",
        text(13)
    );
    assert_ok(&o[14], 250);
    assert!(
        text(15).starts_with("\"/\""),
        "PWD after CDUP: {}",
        text(15)
    );
    // `..` past the root stays at the root (the jail clamps it).
    assert_ok(&o[16], 250);
    assert!(
        text(17).starts_with("\"/\""),
        "PWD after CWD ../../..: {}",
        text(17)
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Determinism
// ---------------------------------------------------------------------------------------------

fn recorded_bytes(s: &Scratch, cfg: &LabConfig, name: &str) -> Vec<u8> {
    let capture = s.local.join(name);
    let steps = vec![
        Step::List(None),
        Step::Retr {
            remote: "data.bin".into(),
            local: s.local.join(format!("{name}.download")),
        },
        Step::Size("data.bin".into()),
    ];
    let run = run_recorded(cfg, &s.root, steps, &capture);
    assert_session(&run, 3);
    for o in &run.outcomes {
        assert!(o.ok, "step failed: {}", describe(o));
    }
    fs::read(&capture).expect("cannot read the capture file")
}

#[test]
fn same_config_gives_byte_identical_captures() {
    let s = scratch("determinism");
    fs::write(s.root.join("data.bin"), content(20_000, 11)).unwrap();
    let cfg = LabConfig::default();
    let a = recorded_bytes(&s, &cfg, "a.pcapng");
    let b = recorded_bytes(&s, &cfg, "b.pcapng");
    assert!(!a.is_empty(), "empty capture");
    assert!(
        a == b,
        "two runs of the same lab gave different captures ({} vs {} bytes, first difference at {:?})",
        a.len(),
        b.len(),
        a.iter().zip(&b).position(|(x, y)| x != y)
    );
    let c = recorded_bytes(
        &s,
        &{
            let mut lab_cfg = cfg.clone();
            lab_cfg.stacks.seed = 2;
            lab_cfg
        },
        "c.pcapng",
    );
    assert!(a != c, "a different seed must give a different capture");
    // The seed changes the initial sequence numbers.
    let isn = |bytes_path: &str| {
        segments(&s.local.join(bytes_path))
            .iter()
            .find(|seg| seg.flags.syn && !seg.flags.ack)
            .map(|seg| seg.seq)
            .expect("no SYN in the capture")
    };
    assert_ne!(
        isn("a.pcapng"),
        isn("c.pcapng"),
        "the seed must change the ISN"
    );
}

// ---------------------------------------------------------------------------------------------
// Data port numbering
// ---------------------------------------------------------------------------------------------

#[test]
fn data_ports_never_wrap_to_zero() {
    let s = scratch("port-wrap");
    fs::write(s.root.join("f.txt"), b"f").unwrap();
    let cfg = {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.client.data_port_base = 65535;
        lab_cfg
    };
    let run = run(&cfg, &s.root, vec![Step::Nlst(None), Step::Nlst(None)]);
    assert_session(&run, 2);
    assert_ok(&run.outcomes[0], 226);
    assert_ok(&run.outcomes[1], 226);
}

#[test]
fn unknown_and_unimplemented_commands_get_502_and_the_session_goes_on() {
    let s = scratch("quote-502");
    fs::write(s.root.join("f.txt"), b"f").unwrap();
    let steps = vec![
        Step::Quote("LPSV".into()),
        Step::Quote("LPRT 4,4,10,0,0,2,2,19,137".into()),
        Step::Quote("XYZZY plugh".into()),
        Step::Nlst(None),
    ];
    let run = run(&LabConfig::default(), &s.root, steps);
    assert_session(&run, 4);
    for outcome in &run.outcomes[..3] {
        assert_eq!(
            outcome.reply.code, 502,
            "{}: {:?}",
            outcome.step, outcome.reply
        );
        assert!(!outcome.ok);
    }
    assert_ok(&run.outcomes[3], 226);
}

// ---------------------------------------------------------------------------------------------
// Passive mode
// ---------------------------------------------------------------------------------------------

#[test]
fn retr_round_trips_passive() {
    retr_round_trips("retr-passive", {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.client.passive = true;
        lab_cfg
    });
}

#[test]
fn stor_round_trips_passive() {
    stor_round_trips("stor-passive", {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.client.passive = true;
        lab_cfg
    });
}

#[test]
fn passive_data_connections_go_from_the_client_to_the_passive_port() {
    let s = scratch("passive-capture");
    fs::write(s.root.join("f.txt"), b"passive").unwrap();
    let cfg = {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.client.passive = true;
        lab_cfg
    };
    let capture = s.local.join("passive.pcapng");
    let steps = vec![
        Step::List(None),
        Step::Retr {
            remote: "f.txt".into(),
            local: s.local.join("f.txt"),
        },
    ];
    let run = run_recorded(&cfg, &s.root, steps, &capture);
    assert_session(&run, 2);
    assert_ok(&run.outcomes[0], 226);
    assert_ok(&run.outcomes[1], 226);
    let syns: Vec<(u16, u16)> = segments(&capture)
        .iter()
        .filter(|s| s.flags.syn && !s.flags.ack && s.dst.port() != 21)
        .map(|s| (s.src.port(), s.dst.port()))
        .collect();
    assert_eq!(syns.len(), 2, "two data connections: {syns:?}");
    for (from, to) in &syns {
        assert!(
            *from >= 49152,
            "the client opens from an ephemeral port: {syns:?}"
        );
        assert!(
            (50000..=50999).contains(to),
            "to the server's passive range: {syns:?}"
        );
    }
    assert_eq!(fs::read(s.local.join("f.txt")).unwrap(), b"passive");
}

// ---------------------------------------------------------------------------------------------
// Many sessions at once
// ---------------------------------------------------------------------------------------------

fn many_sessions(tag: &str, sessions: usize, passive: bool) {
    let s = scratch(tag);
    let file = content(1 << 20, 42);
    fs::write(s.root.join("one.bin"), &file).unwrap();
    let cfg = {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.server.max_sessions = 256;
        lab_cfg.client.passive = passive;
        lab_cfg
    };
    let plans: Vec<Vec<Step>> = (0..sessions)
        .map(|i| {
            vec![
                Step::List(None),
                Step::Retr {
                    remote: "one.bin".into(),
                    local: s.local.join(format!("{i}.bin")),
                },
            ]
        })
        .collect();
    let runs = cfg
        .run_many(&s.root, plans, None, smolftp::lab::virtual_start())
        .expect("the run");
    assert_eq!(runs.sessions.len(), sessions);
    for (i, (outcomes, error)) in runs.sessions.iter().enumerate() {
        assert_eq!(error, &None, "session {i}");
        assert_eq!(outcomes.len(), 2, "session {i}");
        assert_ok(&outcomes[0], 226);
        assert_ok(&outcomes[1], 226);
        let got = fs::read(s.local.join(format!("{i}.bin"))).unwrap();
        assert!(got == file, "session {i}: the download differs");
    }
}

#[test]
fn two_hundred_sessions_at_once_active() {
    many_sessions("many-active", 200, false);
}

#[test]
fn fifty_sessions_at_once_passive() {
    many_sessions("many-passive", 50, true);
}

/// Issue 12's concurrency test at a size CI runs: 1000 sessions at once on one server host
/// (each its own file, of its own size around the MSS and the window, LIST then RETR), every
/// byte checked. Each session's data buffers are mapped when its data connection opens and
/// given back when it closes (net::pages): a mix-up of pages between sockets shows here.
#[test]
fn a_thousand_sessions_at_once_each_with_its_own_file() {
    let s = scratch("thousand");
    let sessions = 1000;
    let files: Vec<Vec<u8>> = (0..sessions)
        .map(|i| content(1 + (i * 7919) % 70_000, i as u64))
        .collect();
    for (i, file) in files.iter().enumerate() {
        fs::write(s.root.join(format!("f{i}.bin")), file).unwrap();
    }
    let mut cfg = LabConfig::default();
    cfg.server.max_sessions = sessions;
    let plans: Vec<Vec<Step>> = (0..sessions)
        .map(|i| {
            vec![
                Step::List(Some(format!("f{i}.bin"))),
                Step::Retr {
                    remote: format!("f{i}.bin"),
                    local: s.local.join(format!("{i}.bin")),
                },
            ]
        })
        .collect();
    let runs = cfg
        .run_many(&s.root, plans, None, smolftp::lab::virtual_start())
        .expect("the run");
    assert_eq!(runs.sessions.len(), sessions);
    for (i, (outcomes, error)) in runs.sessions.iter().enumerate() {
        assert_eq!(error, &None, "session {i}");
        assert_eq!(outcomes.len(), 2, "session {i}");
        assert_ok(&outcomes[0], 226);
        assert_ok(&outcomes[1], 226);
        assert_eq!(outcomes[1].bytes, files[i].len() as u64, "session {i}");
        let got = fs::read(s.local.join(format!("{i}.bin"))).unwrap();
        assert!(got == files[i], "session {i}: the download differs");
    }
}

#[test]
fn client_file_commands_mkdir_rename_delete_rmdir() {
    let s = scratch("file-verbs");
    fs::write(s.root.join("old.txt"), b"x").unwrap();
    let cfg = {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.server.set_writable(true);
        lab_cfg
    };
    let steps = vec![
        Step::Mkd("new".into()),
        Step::Rename {
            from: "old.txt".into(),
            to: "new/moved.txt".into(),
        },
        Step::Rename {
            from: "missing".into(),
            to: "x".into(),
        },
        Step::Dele("new/moved.txt".into()),
        Step::Rmd("new".into()),
    ];
    let run = run(&cfg, &s.root, steps);
    assert_session(&run, 5);
    assert_ok(&run.outcomes[0], 257);
    assert_ok(&run.outcomes[1], 250);
    assert_refused(&run.outcomes[2], 550);
    assert_ok(&run.outcomes[3], 250);
    assert_ok(&run.outcomes[4], 250);
    assert!(!s.root.join("old.txt").exists() && !s.root.join("new").exists());
}
