//! Every command on the wire: one whole session per combination of {active, passive} ×
//! {IPv4, IPv6}, each running the full command set the client has (SYST, FEAT, NOOP, LIST,
//! NLST, MLSD, MLST, SIZE, MDTM, RETR (and a refused one), reget's REST+RETR, STOR, APPE,
//! STOU, RNFR/RNTO, DELE, MKD, RMD, CWD/CDUP/PWD, TYPE A and I) plus, through `quote`, STAT,
//! HELP, SITE HELP and OPTS UTF8 ON. Every reply is compared whole, every file byte for byte,
//! and every data connection's bytes are read back from the capture: what crossed the cable is
//! what each side meant to send.

use std::fs::{self, File, Permissions};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use smolftp::ftp::client::{Outcome, Step};
use smolftp::ftp::command::TransferType;
use smolftp::ftp::reply::Reply;
use smolftp::lab::LabConfig;

use super::cable::{control_port, data_conns, stream};
use super::{content, describe, run_recorded, scratch, segments};

/// The modification time of every served file: 2023-12-25 10:30:00 UTC, a week before the
/// virtual clock's start, so LIST shows `Dec 25 10:30`.
const MTIME: u64 = 1_703_500_200;
/// [`MTIME`] as MDTM and the `modify` fact give it.
const MODIFY: &str = "20231225103000";
/// A Unix text file: four lines ending in LF.
const NOTES: &[u8] = b"first line\nsecond line\n\nlast line\n";
/// [`NOTES`] as `TYPE A` sends it.
const NOTES_CRLF: &[u8] = b"first line\r\nsecond line\r\n\r\nlast line\r\n";
/// The part of `data.bin` the client already has before `reget`.
const PART: usize = 40_000;

/// Gives `path` the fixed mode and modification time, so listings are known byte for byte.
fn settle(path: &Path, mode: u32) {
    fs::set_permissions(path, Permissions::from_mode(mode)).unwrap();
    let t = UNIX_EPOCH + Duration::from_secs(MTIME);
    File::open(path).unwrap().set_modified(t).unwrap();
}

/// Writes a served file with mode 0644 and [`MTIME`].
fn serve(root: &Path, name: &str, data: &[u8]) {
    let path = root.join(name);
    fs::write(&path, data).unwrap();
    settle(&path, 0o644);
}

/// The steps of a session, each with the reply and data byte count it must get.
#[derive(Default)]
struct Plan {
    steps: Vec<Step>,
    want: Vec<(Reply, u64)>,
    /// Per transfer step, in order: the bytes its data connection must carry (`None`: the
    /// server refuses the command, so no data connection in active mode and an empty one in
    /// passive mode).
    wire: Vec<Option<Vec<u8>>>,
}

impl Plan {
    /// Adds a step that moves no data.
    fn cmd(&mut self, step: Step, reply: Reply) -> usize {
        assert!(!step.is_transfer());
        self.steps.push(step);
        self.want.push((reply, 0));
        self.steps.len() - 1
    }

    /// Adds a transfer that must carry exactly `wire` on its data connection.
    fn transfer(&mut self, step: Step, reply: Reply, wire: Option<Vec<u8>>) -> usize {
        assert!(step.is_transfer());
        self.steps.push(step);
        let bytes = wire.as_ref().map_or(0, |w| w.len() as u64);
        self.want.push((reply, bytes));
        self.wire.push(wire);
        self.steps.len() - 1
    }
}

fn r(code: u16, text: &str) -> Reply {
    Reply::new(code, text)
}

fn multi(code: u16, lines: &[&str]) -> Reply {
    Reply::multi(code, lines.iter().map(|l| l.to_string()).collect())
}

/// Runs the whole command set in one session and checks everything.
fn every_command(tag: &str, passive: bool, ipv6: bool) {
    let s = scratch(tag);
    let cfg = {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.client.passive = passive;
        lab_cfg.stacks.ipv6 = ipv6;
        lab_cfg.server.set_writable(true);
        lab_cfg
    };
    let data = content(100_000, 1);
    let up = content(70_001, 2);
    serve(&s.root, "data.bin", &data);
    serve(&s.root, "notes.txt", NOTES);
    serve(&s.root, "log.txt", b"day 1\n");
    serve(&s.root, "old.txt", b"rename me\n");
    fs::create_dir(s.root.join("pub")).unwrap();
    serve(&s.root, "pub/inner.txt", b"inner\n");
    settle(&s.root.join("pub"), 0o755);
    let pub_size = fs::metadata(s.root.join("pub")).unwrap().len();
    fs::write(s.local.join("part.bin"), &data[..PART]).unwrap();
    fs::write(s.local.join("up.bin"), &up).unwrap();
    fs::write(s.local.join("more.txt"), b"day 2\n").unwrap();
    fs::write(s.local.join("keep.txt"), b"mine").unwrap();
    fs::write(s.local.join("text.txt"), NOTES).unwrap();
    let local = |name: &str| s.local.join(name);
    let client_ip = cfg.client_ip().to_string();

    let list = [
        "-rw-r--r--    1 ftp      ftp        100000 Dec 25 10:30 data.bin\r\n".to_string(),
        "-rw-r--r--    1 ftp      ftp             6 Dec 25 10:30 log.txt\r\n".to_string(),
        "-rw-r--r--    1 ftp      ftp            34 Dec 25 10:30 notes.txt\r\n".to_string(),
        "-rw-r--r--    1 ftp      ftp            10 Dec 25 10:30 old.txt\r\n".to_string(),
        format!("drwxr-xr-x    1 ftp      ftp      {pub_size:>8} Dec 25 10:30 pub\r\n"),
    ]
    .concat();
    let mlsd = [
        format!("type=file;size=100000;modify={MODIFY};perm=radfw; data.bin\r\n"),
        format!("type=file;size=6;modify={MODIFY};perm=radfw; log.txt\r\n"),
        format!("type=file;size=34;modify={MODIFY};perm=radfw; notes.txt\r\n"),
        format!("type=file;size=10;modify={MODIFY};perm=radfw; old.txt\r\n"),
        format!("type=dir;size={pub_size};modify={MODIFY};perm=elcmp; pub\r\n"),
    ]
    .concat();
    let done = || r(226, "Transfer complete.");
    let listed = || r(226, "Directory send OK.");
    let cwd_ok = || r(250, "Directory successfully changed.");
    let stat = |kind: &str| {
        let connected = format!(" Connected to {client_ip}");
        let kind = format!(" TYPE: {kind}");
        multi(
            211,
            &[
                "FTP server status:",
                &connected,
                " Logged in as anonymous",
                &kind,
                " No data connection",
                "End of status",
            ],
        )
    };

    let mut p = Plan::default();
    // Informational commands.
    p.cmd(
        Step::Quote("OPTS UTF8 ON".into()),
        r(200, "Always in UTF8 mode."),
    );
    p.cmd(Step::Syst, r(215, "UNIX Type: L8"));
    p.cmd(
        Step::Feat,
        multi(
            211,
            &[
                "Features:",
                " MDTM",
                " MLST type*;size*;modify*;perm*;",
                " REST STREAM",
                " SIZE",
                " TVFS",
                " UTF8",
                "End",
            ],
        ),
    );
    p.cmd(
        Step::Quote("HELP".into()),
        multi(
            214,
            &[
                "The following commands are recognized.",
                " ABOR ACCT ALLO APPE CDUP CWD DELE EPRT",
                " EPSV FEAT HELP LIST MDTM MKD MLSD MLST",
                " MODE NLST NOOP OPTS PASS PASV PORT PWD",
                " QUIT REIN REST RETR RMD RNFR RNTO SITE",
                " SIZE SMNT STAT STOR STOU STRU SYST TYPE",
                " USER XCUP XCWD XPWD",
                "Help OK.",
            ],
        ),
    );
    p.cmd(
        Step::Quote("SITE HELP".into()),
        multi(
            214,
            &[
                "The following SITE commands are recognized.",
                " HELP",
                "Help OK.",
            ],
        ),
    );
    p.cmd(Step::Noop, r(200, "NOOP ok."));
    p.cmd(Step::Pwd, r(257, "\"/\" is the current directory"));
    p.cmd(Step::Quote("STAT".into()), stat("BINARY"));
    // Listings, before anything changes the directory.
    let i_list = p.transfer(Step::List(None), listed(), Some(list.clone().into_bytes()));
    let names = "data.bin\r\nlog.txt\r\nnotes.txt\r\nold.txt\r\npub\r\n";
    p.transfer(Step::Nlst(None), listed(), Some(names.into()));
    p.transfer(Step::Mlsd(None), listed(), Some(mlsd.clone().into_bytes()));
    let facts = format!(" type=file;size=100000;modify={MODIFY};perm=radfw; /data.bin");
    p.cmd(
        Step::Mlst(Some("data.bin".into())),
        multi(250, &["Listing /data.bin", &facts, "End"]),
    );
    p.cmd(Step::Size("data.bin".into()), r(213, "100000"));
    p.cmd(Step::Mdtm("data.bin".into()), r(213, MODIFY));
    // Downloads: whole, refused (the local file stays), resumed.
    let get = |remote: &str, to: &str| Step::Retr {
        remote: remote.into(),
        local: local(to),
    };
    p.transfer(get("data.bin", "data.bin"), done(), Some(data.clone()));
    p.transfer(
        get("missing.txt", "keep.txt"),
        r(550, "Failed to open file."),
        None,
    );
    let reget = Step::Reget {
        remote: "data.bin".into(),
        local: local("part.bin"),
    };
    p.transfer(reget, done(), Some(data[PART..].to_vec()));
    // TYPE A: CRLF on the wire, LF again in the file at the other end; TYPE I: as stored.
    p.cmd(
        Step::Type(TransferType::Ascii),
        r(200, "Switching to ASCII mode."),
    );
    p.transfer(
        get("notes.txt", "notes-a.txt"),
        done(),
        Some(NOTES_CRLF.into()),
    );
    let text_up = Step::Stor {
        local: local("text.txt"),
        remote: "text.txt".into(),
    };
    p.transfer(text_up, done(), Some(NOTES_CRLF.into()));
    p.cmd(Step::Quote("STAT".into()), stat("ASCII"));
    p.cmd(
        Step::Type(TransferType::Image),
        r(200, "Switching to Binary mode."),
    );
    p.transfer(get("notes.txt", "notes-i.txt"), done(), Some(NOTES.into()));
    // Uploads: STOR, APPE onto an existing file, STOU beside the STOR.
    let stor = Step::Stor {
        local: local("up.bin"),
        remote: "up.bin".into(),
    };
    p.transfer(stor, done(), Some(up.clone()));
    let appe = Step::Appe {
        local: local("more.txt"),
        remote: "log.txt".into(),
    };
    p.transfer(appe, done(), Some(b"day 2\n".to_vec()));
    let stou = Step::Stou {
        local: local("up.bin"),
        remote: Some("up.bin".into()),
    };
    let i_stou = p.transfer(stou, done(), Some(up.clone()));
    // Names and directories.
    let rename = Step::Rename {
        from: "old.txt".into(),
        to: "new.txt".into(),
    };
    p.cmd(rename, r(250, "Rename successful."));
    p.cmd(
        Step::Dele("new.txt".into()),
        r(250, "Delete operation successful."),
    );
    p.cmd(
        Step::Mkd("incoming".into()),
        r(257, "\"/incoming\" created"),
    );
    p.cmd(Step::Cwd("incoming".into()), cwd_ok());
    p.cmd(Step::Pwd, r(257, "\"/incoming\" is the current directory"));
    p.cmd(Step::Cdup, cwd_ok());
    p.cmd(Step::Cwd("pub".into()), cwd_ok());
    let inner = "-rw-r--r--    1 ftp      ftp             6 Dec 25 10:30 inner.txt\r\n";
    p.transfer(Step::List(None), listed(), Some(inner.into()));
    p.cmd(Step::Cdup, cwd_ok());
    p.cmd(Step::Pwd, r(257, "\"/\" is the current directory"));
    p.cmd(
        Step::Rmd("incoming".into()),
        r(250, "Remove directory operation successful."),
    );
    let names = "data.bin\r\nlog.txt\r\nnotes.txt\r\npub\r\ntext.txt\r\nup.bin\r\nup.bin.1\r\n";
    p.transfer(Step::Nlst(None), listed(), Some(names.into()));

    let capture = s.local.join("commands.pcapng");
    let run = run_recorded(&cfg, &s.root, p.steps.clone(), &capture);
    assert_eq!(run.error, None, "the session failed");

    // Every step: its reply, whole, and the bytes it moved.
    let got: Vec<(String, Reply, u64)> = run
        .outcomes
        .iter()
        .map(|o| (o.step.to_string(), o.reply.clone(), o.bytes))
        .collect();
    let want: Vec<(String, Reply, u64)> = p
        .steps
        .iter()
        .zip(&p.want)
        .map(|(s, (r, b))| (s.to_string(), r.clone(), *b))
        .collect();
    assert_eq!(got, want, "{tag}");
    for o in &run.outcomes {
        let ok = o.reply.is_positive_completion();
        assert_eq!(o.ok, ok, "{tag}: {}", describe(o));
        assert_eq!(o.local_error, None, "{tag}: {}", describe(o));
        assert_eq!(o.listing.is_some(), is_listing(o), "{tag}: {}", describe(o));
    }
    let listing = |i: usize| run.outcomes[i].listing.clone().unwrap();
    assert_eq!(String::from_utf8(listing(i_list)).unwrap(), list, "{tag}");
    assert_eq!(
        run.outcomes[i_stou].unique_name.as_deref(),
        Some("up.bin.1")
    );

    // The files, both sides.
    let read = |p: &Path| fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(read(&local("data.bin")) == data, "{tag}: RETR data.bin");
    assert!(read(&local("part.bin")) == data, "{tag}: reget data.bin");
    assert_eq!(read(&local("keep.txt")), b"mine", "{tag}: refused RETR");
    assert_eq!(read(&local("notes-a.txt")), NOTES, "{tag}: TYPE A RETR");
    assert_eq!(read(&local("notes-i.txt")), NOTES, "{tag}: TYPE I RETR");
    assert_eq!(read(&s.root.join("text.txt")), NOTES, "{tag}: TYPE A STOR");
    assert!(read(&s.root.join("up.bin")) == up, "{tag}: STOR");
    assert!(read(&s.root.join("up.bin.1")) == up, "{tag}: STOU");
    assert_eq!(
        read(&s.root.join("log.txt")),
        b"day 1\nday 2\n",
        "{tag}: APPE"
    );
    let mut served: Vec<String> = fs::read_dir(&s.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    served.sort();
    assert_eq!(
        served,
        [
            "data.bin",
            "log.txt",
            "notes.txt",
            "pub",
            "text.txt",
            "up.bin",
            "up.bin.1"
        ],
        "{tag}: no temporary file, no renamed, deleted or removed name left"
    );
    assert!(read(&s.root.join("data.bin")) == data && read(&s.root.join("notes.txt")) == NOTES);

    // The cable: every frame of the chosen family; one data connection per transfer, opened
    // by the server from port 20 (active) or by the client to a passive port; its bytes are
    // exactly the file or listing.
    let segs = segments(&capture);
    assert!(
        segs.iter().all(|s| s.src.is_ipv6() == ipv6),
        "{tag}: wrong family"
    );
    let conns = data_conns(&segs);
    let (server_ip, client_ip) = (cfg.server_ip(), cfg.client_ip());
    let transfers: Vec<(&Step, &Option<Vec<u8>>)> = p
        .steps
        .iter()
        .filter(|s| s.is_transfer())
        .zip(&p.wire)
        .collect();
    // Active mode: the client listens on 5001, 5002, ... one per transfer; the server
    // connects only for the commands it accepts. Passive: the client connects every time,
    // before the server has seen the command.
    let expected: Vec<(usize, &Step, &Option<Vec<u8>>)> = transfers
        .iter()
        .enumerate()
        .filter(|(_, (_, wire))| passive || wire.is_some())
        .map(|(k, (step, wire))| (k, *step, *wire))
        .collect();
    assert_eq!(conns.len(), expected.len(), "{tag}: data connections");
    for (c, (k, step, wire)) in conns.iter().zip(expected) {
        let (server, client) = if passive {
            assert_eq!(c.from.ip(), client_ip, "{tag}: {step}");
            assert!((50000..=50999).contains(&c.to.port()), "{tag}: {step}");
            (c.to, c.from)
        } else {
            assert_eq!(c.from, SocketAddr::new(server_ip, 20), "{tag}: {step}");
            assert_eq!(c.to.ip(), client_ip, "{tag}: {step}");
            assert_eq!(c.to.port(), 5001 + k as u16, "{tag}: {step}");
            (c.from, c.to)
        };
        assert_eq!(server.ip(), server_ip);
        let down = stream(&segs, c.syn, server, client);
        let up = stream(&segs, c.syn, client, server);
        let uploads = matches!(
            step,
            Step::Stor { .. } | Step::Appe { .. } | Step::Stou { .. }
        );
        let (sent, silent) = if uploads { (up, down) } else { (down, up) };
        let want = wire.clone().unwrap_or_default();
        assert!(
            sent == want,
            "{tag}: {step}: {} bytes on the wire",
            sent.len()
        );
        assert!(silent.is_empty(), "{tag}: {step}: data the wrong way");
    }
    // The control connection carried REST right before the resumed RETR.
    let control = stream(
        &segs,
        0,
        SocketAddr::new(client_ip, control_port(&segs, client_ip)),
        SocketAddr::new(server_ip, 21),
    );
    let control = String::from_utf8(control).unwrap();
    let rest = format!("REST {PART}\r\nRETR data.bin\r\n");
    assert!(control.contains(&rest), "{tag}: {control}");
}

fn is_listing(o: &Outcome) -> bool {
    matches!(o.step, Step::List(_) | Step::Nlst(_) | Step::Mlsd(_))
}

#[test]
fn every_command_active_ipv4() {
    every_command("cmd-active-4", false, false);
}

#[test]
fn every_command_passive_ipv4() {
    every_command("cmd-passive-4", true, false);
}

#[test]
fn every_command_active_ipv6() {
    every_command("cmd-active-6", false, true);
}

#[test]
fn every_command_passive_ipv6() {
    every_command("cmd-passive-6", true, true);
}
