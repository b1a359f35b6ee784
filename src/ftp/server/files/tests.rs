//! The jail and upload rules in server sessions (issue 15): no write through a symlink planted
//! at a temporary name or left dangling, two uploads to one name end whole, long names upload,
//! `STOU` names are unique, and no verb reports a symlink whose target is outside the root.

use crate::ftp::jail::Jail;
use crate::ftp::jail::tests::TempDir;
use crate::ftp::server::Session;
use crate::ftp::server::tests::{config, readme, temporaries};
use crate::ftp::testpump::raw_transfer;
use crate::ftp::testpump::t0;
use crate::ftp::upload::PartNames;
use crate::ftp::{DataAction, DataEvent};
use crate::ftp::{DataError, Endpoint};
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::Arc;

const PORT: &str = "PORT 10,0,0,2,19,137";
const SEED: u64 = 15;

/// A served root (readme.txt, pub/) next to a directory `outside` holding `victim.txt`.
struct Place {
    _dir: TempDir,
    root: PathBuf,
    outside: PathBuf,
    jail: Arc<Jail>,
}

const VICTIM: &[u8] = b"outside the root\n";

impl Place {
    fn new() -> Place {
        let dir = TempDir::new("files");
        let root = dir.0.join("root");
        let outside = dir.0.join("outside");
        std::fs::create_dir_all(root.join("pub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("readme.txt"), readme()).unwrap();
        std::fs::write(outside.join("victim.txt"), VICTIM).unwrap();
        let jail = Jail::new(&root)
            .unwrap()
            .with_part_names(PartNames::seeded(SEED));
        Place {
            _dir: dir,
            root,
            outside,
            jail: Arc::new(jail),
        }
    }

    /// A logged-in session of a writable server on this root.
    fn session(&self) -> Session {
        let cfg = Arc::new(config(&self.root, true));
        let mut s = Session::new(cfg, self.jail.clone(), [10, 0, 0, 2].into(), t0());
        s.handle_control(b"USER anonymous\r\nPASS x\r\n", t0());
        take_out(&mut s);
        s
    }

    /// The outside directory holds only the untouched victim.
    fn assert_outside_untouched(&self) {
        assert_eq!(
            std::fs::read(self.outside.join("victim.txt")).unwrap(),
            VICTIM
        );
        let names: Vec<_> = std::fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim.txt"]);
    }
}

fn take_out(s: &mut Session) -> String {
    let text = String::from_utf8_lossy(s.control_out()).into_owned();
    let n = s.control_out().len();
    s.control_sent(n);
    text
}

fn cmd(s: &mut Session, line: &str) -> String {
    s.handle_control(format!("{line}\r\n").as_bytes(), t0());
    take_out(s)
}

/// `PORT` then a whole upload of `data` with `line`; the replies.
fn upload(s: &mut Session, line: &str, data: &[u8]) -> String {
    cmd(s, PORT);
    raw_transfer(s, line, data, 1000, None).0
}

/// Starts an upload with `line` and connects its data connection; the 150 reply.
fn begin_upload(s: &mut Session, line: &str) -> String {
    cmd(s, PORT);
    s.handle_control(format!("{line}\r\n").as_bytes(), t0());
    assert!(matches!(s.poll_action(), Some(DataAction::Connect { .. })));
    s.handle_data_event(DataEvent::Connected, t0());
    assert_eq!(s.poll_action(), Some(DataAction::Receive));
    take_out(s)
}

#[test]
fn a_symlink_at_the_next_temporary_name_is_never_written_through() {
    let p = Place::new();
    // Whoever knows the seed knows the names: plant a link to the victim at the first and a
    // dangling link at the second.
    let names = PartNames::seeded(SEED);
    let first = names.next_name().unwrap();
    let second = names.next_name().unwrap();
    symlink(p.outside.join("victim.txt"), p.root.join(&first)).unwrap();
    symlink(p.outside.join("created.txt"), p.root.join(&second)).unwrap();
    let mut s = p.session();
    let r = upload(&mut s, "STOR victim", b"EVIL");
    assert!(r.ends_with("226 Transfer complete.\r\n"), "{r}");
    assert_eq!(std::fs::read(p.root.join("victim")).unwrap(), b"EVIL");
    p.assert_outside_untouched();
    // The planted links are still links (never opened, never replaced).
    for name in [&first, &second] {
        assert!(p.root.join(name).symlink_metadata().unwrap().is_symlink());
    }
    // A client cannot give a file a temporary's name, with RNTO or STOR.
    assert_eq!(cmd(&mut s, "RNFR readme.txt"), "350 Ready for RNTO.\r\n");
    let third = format!("RNTO {}", names.next_name().unwrap());
    assert_eq!(cmd(&mut s, &third), "553 File name not allowed.\r\n");
    let r = upload(&mut s, "STOR .smolftp-part-00000000000000ff", b"x");
    assert_eq!(r, "553 File name not allowed.\r\n");
}

#[test]
fn writes_in_place_never_follow_a_link_out_of_the_root() {
    let p = Place::new();
    symlink(p.outside.join("victim.txt"), p.root.join("out")).unwrap();
    symlink(p.outside.join("created.txt"), p.root.join("dangle")).unwrap();
    symlink("readme.txt", p.root.join("inlink")).unwrap();
    let mut s = p.session();
    for line in [
        "STOR out",
        "APPE out",
        "STOR dangle",
        "APPE dangle",
        "STOR pub/../out",
    ] {
        assert_eq!(
            upload(&mut s, line, b"EVIL"),
            "553 Could not create file.\r\n",
            "{line}"
        );
    }
    for offset in [0, 3] {
        cmd(&mut s, &format!("REST {offset}"));
        let r = upload(&mut s, "STOR out", b"EVIL");
        assert_eq!(r, "553 Could not create file.\r\n", "REST {offset}");
        cmd(&mut s, &format!("REST {offset}"));
        let r = upload(&mut s, "STOR dangle", b"EVIL");
        assert_eq!(r, "553 Could not create file.\r\n", "REST {offset}");
    }
    p.assert_outside_untouched();
    // A link inside the root is written through, in place and by replacement; it stays a link.
    let r = upload(&mut s, "APPE inlink", b"+");
    assert!(r.ends_with("226 Transfer complete.\r\n"), "{r}");
    let mut want = readme();
    want.push(b'+');
    assert_eq!(std::fs::read(p.root.join("readme.txt")).unwrap(), want);
    let r = upload(&mut s, "STOR inlink", b"new");
    assert!(r.ends_with("226 Transfer complete.\r\n"), "{r}");
    assert_eq!(std::fs::read(p.root.join("readme.txt")).unwrap(), b"new");
    assert!(
        p.root
            .join("inlink")
            .symlink_metadata()
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn two_uploads_to_one_name_each_write_their_own_and_the_later_wins_whole() {
    let p = Place::new();
    let (mut a, mut b) = (p.session(), p.session());
    assert_eq!(
        begin_upload(&mut a, "STOR same.bin"),
        "150 Ok to send data.\r\n"
    );
    assert_eq!(
        begin_upload(&mut b, "STOR same.bin"),
        "150 Ok to send data.\r\n"
    );
    assert_eq!(temporaries(&p.root).len(), 2, "one temporary each");
    let (da, db) = (vec![b'a'; 5000], vec![b'b'; 3000]);
    for i in 0..5 {
        a.write_data(&da[i * 1000..(i + 1) * 1000]);
        if i < 3 {
            b.write_data(&db[i * 1000..(i + 1) * 1000]);
        }
    }
    b.handle_data_event(DataEvent::Finished, t0());
    assert_eq!(take_out(&mut b), "226 Transfer complete.\r\n");
    assert_eq!(std::fs::read(p.root.join("same.bin")).unwrap(), db);
    a.handle_data_event(DataEvent::Finished, t0());
    assert_eq!(take_out(&mut a), "226 Transfer complete.\r\n");
    assert_eq!(std::fs::read(p.root.join("same.bin")).unwrap(), da);
    assert!(temporaries(&p.root).is_empty());
}

#[test]
fn names_up_to_255_bytes_upload() {
    let p = Place::new();
    let mut s = p.session();
    for n in [242, 250, 255] {
        let name = "y".repeat(n);
        let r = upload(&mut s, &format!("STOR {name}"), b"long");
        assert!(r.ends_with("226 Transfer complete.\r\n"), "{n}: {r}");
        assert_eq!(std::fs::read(p.root.join(&name)).unwrap(), b"long");
    }
    // 256 bytes is over the file system's limit: refused, nothing left.
    let r = upload(&mut s, &format!("STOR {}", "z".repeat(256)), b"long");
    assert_eq!(r, "553 Could not create file.\r\n");
    assert!(temporaries(&p.root).is_empty());
}

#[test]
fn stou_names_are_unique_and_a_failed_one_leaves_nothing() {
    let p = Place::new();
    symlink(p.outside.join("created.txt"), p.root.join("u")).unwrap();
    let (mut a, mut b) = (p.session(), p.session());
    // Both at once: the first name is a dangling link, so u.1 and u.2.
    assert_eq!(begin_upload(&mut a, "STOU u"), "150 FILE: u.1\r\n");
    assert_eq!(begin_upload(&mut b, "STOU u"), "150 FILE: u.2\r\n");
    a.write_data(b"first");
    b.write_data(b"second");
    b.handle_data_event(DataEvent::Failed(DataError::Reset), t0());
    assert!(take_out(&mut b).starts_with("426 "));
    a.handle_data_event(DataEvent::Finished, t0());
    assert_eq!(take_out(&mut a), "226 Transfer complete.\r\n");
    assert_eq!(std::fs::read(p.root.join("u.1")).unwrap(), b"first");
    assert!(!p.root.join("u.2").exists(), "the failed STOU's name stays");
    assert!(temporaries(&p.root).is_empty());
    p.assert_outside_untouched();
}

#[test]
fn no_verb_reports_a_link_whose_target_is_outside() {
    let p = Place::new();
    std::fs::write(p.outside.join("secret"), b"24 bytes of secret data\n").unwrap();
    symlink(p.outside.join("secret"), p.root.join("leak")).unwrap();
    symlink(&p.outside, p.root.join("leakdir")).unwrap();
    symlink(p.outside.join("nothing"), p.root.join("dangle")).unwrap();
    symlink("readme.txt", p.root.join("inlink")).unwrap();
    let mut s = p.session();
    let listing = |s: &mut Session, line: &str| {
        cmd(s, PORT);
        let (r, data) = raw_transfer(s, line, b"", 1000, None);
        assert!(r.ends_with("226 Directory send OK.\r\n"), "{line}: {r}");
        String::from_utf8(data).unwrap()
    };
    let mlsd = listing(&mut s, "MLSD");
    let list = listing(&mut s, "LIST");
    let nlst = listing(&mut s, "NLST");
    let stat = cmd(&mut s, "STAT /");
    for (what, text) in [
        ("MLSD", &mlsd),
        ("LIST", &list),
        ("NLST", &nlst),
        ("STAT", &stat),
    ] {
        assert!(
            !text.contains("leak") && !text.contains("dangle"),
            "{what}: {text}"
        );
        assert!(text.contains("inlink"), "{what}: {text}");
    }
    let size = readme().len();
    assert!(
        mlsd.contains(&format!("type=file;size={size};")),
        "a link inside is listed with its target's facts: {mlsd}"
    );
    let line = list.lines().find(|l| l.ends_with(" inlink")).unwrap();
    assert!(
        line.starts_with("-rw") && line.contains(&format!(" {size} ")),
        "LIST shows a link inside with its target's facts: {line}"
    );
    for name in ["leak", "leakdir", "dangle", "leakdir/secret"] {
        for (line, want) in [
            (format!("SIZE {name}"), "550 Could not get file size.\r\n"),
            (
                format!("MDTM {name}"),
                "550 Could not get file modification time.\r\n",
            ),
            (format!("MLST {name}"), "550 Failed to get file status.\r\n"),
            (format!("STAT {name}"), "550 Failed to open path.\r\n"),
            (format!("CWD {name}"), "550 Failed to change directory.\r\n"),
        ] {
            assert_eq!(cmd(&mut s, &line), want, "{line}");
        }
        for (verb, want) in [
            ("RETR", "550 Failed to open file.\r\n"),
            ("MLSD", "550 Failed to open directory.\r\n"),
            ("LIST", "550 Failed to open directory.\r\n"),
            ("NLST", "550 Failed to open directory.\r\n"),
        ] {
            cmd(&mut s, PORT);
            assert_eq!(
                cmd(&mut s, &format!("{verb} {name}")),
                want,
                "{verb} {name}"
            );
        }
    }
}

#[test]
fn retr_of_a_fifo_is_refused_without_blocking() {
    let p = Place::new();
    let fifo =
        std::ffi::CString::new(p.root.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let mut s = p.session();
    cmd(&mut s, PORT);
    assert_eq!(cmd(&mut s, "RETR fifo"), "550 Failed to open file.\r\n");
}
