//! Attacks on the served files over TUN (issue 15): a `--writable` server driven by Python's
//! ftplib from the kernel's side must never write outside its root (through a symlink planted
//! at a temporary name, or a dangling one), must not mix two uploads to one name, must say
//! nothing about a symlink's target outside the root, must take names of 250 bytes, and must
//! remove the temporaries a killed server left behind when it starts.

use std::path::Path;

use super::tunlab::{Netns, Proc, assert_same_file, pattern_file, peer};
use super::{kernel_facing_server_with, secs, serve_dir, stop_server};
use crate::common::Scratch;

/// Runs a Python `script` in the namespace with `args` (the server's address is `sys.argv[1]`)
/// and returns its stdout; panics unless it exits 0.
fn ftplib(
    ns: &Netns,
    python: &Path,
    dir: &Scratch,
    tag: &str,
    script: &str,
    args: &[&str],
) -> String {
    let mut cmd = ns.command(python);
    cmd.args(["-c", script, "10.7.0.2"]).args(args);
    ns.run(cmd, &dir.0, tag, secs(90)).success(tag).stdout
}

/// A `--writable` server on tun0 (10.7.0.2) serving `<dir>/root`, where the anonymous user
/// that ftplib logs in as may write (`--anonymous-writable`).
fn writable_server(ns: &Netns, dir: &Scratch) -> Proc {
    kernel_facing_server_with(ns, dir, "--writable --anonymous-writable")
}

/// The sorted names in `dir`.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The attack of issue 15: a symlink renamed to the temporary name of an upload (the name
/// used to be `.NAME.smolftp-part`), then `STOR NAME`; and the same with a dangling link. Also
/// every write verb aimed at the links themselves. The file outside keeps its bytes, and
/// nothing is created outside.
#[test]
fn a_symlinked_temporary_name_or_dangling_link_writes_nothing_outside() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-attack-link");
    let root = serve_dir(&dir, false);
    let outside = dir.path("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    let victim = outside.join("victim.txt");
    std::fs::write(&victim, b"the file outside the root\n").expect("victim");
    std::os::unix::fs::symlink(&victim, root.join("outfile")).expect("link out");
    std::os::unix::fs::symlink(outside.join("created.txt"), root.join("dangle"))
        .expect("dangling link");
    let server = writable_server(&ns, &dir);
    let script = r#"
import ftplib, io, sys
f = ftplib.FTP(timeout=20)
f.connect(sys.argv[1], 21)
f.login()
def attempt(what, fn):
    try:
        print(what, fn())
    except ftplib.all_errors as e:
        print(what, 'refused', e)
# Plant the links under the names the temporaries of STOR victim / STOR made had.
attempt('rnfr', lambda: f.rename('outfile', '.victim.smolftp-part'))
attempt('stor-victim', lambda: f.storbinary('STOR victim', io.BytesIO(b'EVIL ' * 100)))
attempt('rnfr2', lambda: f.rename('dangle', '.made.smolftp-part'))
attempt('stor-made', lambda: f.storbinary('STOR made', io.BytesIO(b'EVIL ' * 100)))
attempt('rename-back', lambda: f.rename('.victim.smolftp-part', 'outfile'))
attempt('rename-back2', lambda: f.rename('.made.smolftp-part', 'dangle'))
# Straight at the links.
attempt('stor-out', lambda: f.storbinary('STOR outfile', io.BytesIO(b'EVIL')))
attempt('appe-out', lambda: f.storbinary('APPE outfile', io.BytesIO(b'EVIL')))
attempt('rest-out', lambda: f.storbinary('STOR outfile', io.BytesIO(b'EVIL'), rest=3))
attempt('stor-dangle', lambda: f.storbinary('STOR dangle', io.BytesIO(b'EVIL')))
attempt('appe-dangle', lambda: f.storbinary('APPE dangle', io.BytesIO(b'EVIL')))
attempt('rest-dangle', lambda: f.storbinary('STOR dangle', io.BytesIO(b'EVIL'), rest=0))
attempt('stou-dangle', lambda: f.storbinary('STOU dangle', io.BytesIO(b'EVIL')))
f.quit()
"#;
    let out = ftplib(&ns, &python, &dir, "attack-link", script, &[]);
    stop_server(server);
    assert_eq!(
        std::fs::read(&victim).expect("victim"),
        b"the file outside the root\n",
        "the file outside the root was written:\n{out}"
    );
    assert_eq!(
        names_in(&outside),
        ["victim.txt"],
        "something was created outside the root:\n{out}"
    );
    // The uploads themselves landed inside, whole.
    for name in ["victim", "made"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("stor-{name} ")));
        assert_eq!(
            line,
            Some(format!("stor-{name} 226 Transfer complete.").as_str()),
            "{out}"
        );
        assert_eq!(
            std::fs::read(root.join(name)).expect("upload"),
            b"EVIL ".repeat(100),
            "{name}"
        );
    }
    for verb in [
        "stor-out",
        "appe-out",
        "rest-out",
        "stor-dangle",
        "appe-dangle",
    ] {
        let line = out.lines().find(|l| l.starts_with(&format!("{verb} ")));
        assert!(
            line.is_some_and(|l| l.contains("refused 553")),
            "{verb}: {line:?}\n{out}"
        );
    }
    assert!(
        out.contains("rest-dangle refused 553"),
        "REST 0 + STOR through a dangling link:\n{out}"
    );
    // STOU never takes a name that exists, even as a dangling link.
    assert!(
        !out.contains("stou-dangle refused"),
        "STOU picks a free name:\n{out}"
    );
}

/// Two sessions upload to one name at once, their data interleaved: the file that stays is one
/// of the two uploads, whole (the later rename wins), and no temporary is left.
#[test]
fn two_uploads_to_one_name_leave_one_of_them_whole() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-attack-race");
    let root = serve_dir(&dir, false);
    pattern_file(&dir.path("a.bin"), 1 << 20, 0xa11ce);
    pattern_file(&dir.path("b.bin"), (1 << 20) + 4321, 0xb0b);
    let server = writable_server(&ns, &dir);
    let script = r#"
import ftplib, sys, time
def session():
    f = ftplib.FTP(timeout=30)
    f.connect(sys.argv[1], 21)
    f.login()
    return f
a, b = session(), session()
da = open(sys.argv[2], 'rb').read()
db = open(sys.argv[3], 'rb').read()
ca = a.transfercmd('STOR same.bin')
cb = b.transfercmd('STOR same.bin')
step = 64 * 1024
for i in range(0, max(len(da), len(db)), step):
    ca.sendall(da[i:i + step])
    cb.sendall(db[i:i + step])
    time.sleep(0.01)
ca.close()
print('a', a.voidresp(), flush=True)
cb.close()
print('b', b.voidresp(), flush=True)
a.quit()
b.quit()
"#;
    let (a, b) = (dir.path("a.bin"), dir.path("b.bin"));
    let args = [a.to_str().expect("utf-8"), b.to_str().expect("utf-8")];
    let out = ftplib(&ns, &python, &dir, "attack-race", script, &args);
    stop_server(server);
    assert!(out.contains("a 226") && out.contains("b 226"), "{out}");
    // B finished last: its rename is the one that stays.
    assert_same_file(&root.join("same.bin"), &b);
    let left: Vec<String> = names_in(&root)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "temporaries left: {left:?}");
}

/// A symlink to a file or directory outside the root is not reported by any verb (not listed
/// by `MLSD`, `LIST`, `NLST` or `STAT`; `MLST`, `SIZE`, `MDTM`, `RETR`, `CWD` answer as for a
/// missing name); a symlink inside the root is listed with its target's facts.
#[test]
fn a_link_to_a_file_outside_is_listed_by_no_verb() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-attack-mlsd");
    let root = serve_dir(&dir, false);
    let outside = dir.path("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    std::fs::write(outside.join("secret"), [b's'; 4099]).expect("secret");
    std::os::unix::fs::symlink(outside.join("secret"), root.join("leak")).expect("link");
    std::os::unix::fs::symlink(&outside, root.join("leakdir")).expect("dir link");
    std::os::unix::fs::symlink("readme.txt", root.join("inlink")).expect("inside link");
    let server = writable_server(&ns, &dir);
    let script = r#"
import ftplib, sys
f = ftplib.FTP(timeout=20)
f.connect(sys.argv[1], 21)
f.login()
def attempt(what, fn):
    try:
        print(what, repr(fn()))
    except ftplib.all_errors as e:
        print(what, 'refused', e)
for name, facts in f.mlsd():
    print('entry-mlsd', name, ';'.join('%s=%s' % kv for kv in sorted(facts.items())))
lines = []
f.retrlines('LIST', lines.append)
for l in lines:
    print('entry-list', l)
print('nlst', ' '.join(f.nlst()))
print('stat', f.sendcmd('STAT .').replace('\r\n', ' | '))
for name in ('leak', 'leakdir', 'leakdir/secret'):
    attempt('mlst ' + name, lambda: f.sendcmd('MLST ' + name))
    attempt('size ' + name, lambda: f.size(name))
    attempt('mdtm ' + name, lambda: f.sendcmd('MDTM ' + name))
    attempt('stat ' + name, lambda: f.sendcmd('STAT ' + name))
    attempt('retr ' + name, lambda: f.retrbinary('RETR ' + name, lambda b: None))
    attempt('mlsd ' + name, lambda: list(f.mlsd(name)))
    attempt('list ' + name, lambda: f.retrlines('LIST ' + name, lambda l: print('leaked', l)))
    attempt('nlst ' + name, lambda: f.nlst(name))
attempt('cwd leakdir', lambda: f.cwd('leakdir'))
f.quit()
"#;
    let out = ftplib(&ns, &python, &dir, "attack-mlsd", script, &[]);
    stop_server(server);
    for line in out.lines() {
        let listed = line.starts_with("entry-");
        let whole_words = |w: &str| line.split([' ', ';']).any(|x| x == w);
        assert!(
            !(listed && (whole_words("leak") || whole_words("leakdir"))),
            "a link outside the root is listed: {line}\n{out}"
        );
        assert!(
            !line.contains("size=4099") && !line.contains(" 4099 ") && !line.contains("leaked"),
            "the target's facts leaked: {line}\n{out}"
        );
    }
    let nlst = out.lines().find(|l| l.starts_with("nlst ")).expect("nlst");
    assert!(!nlst.contains("leak"), "{nlst}");
    let stat = out
        .lines()
        .find(|l| l.starts_with("stat 213"))
        .expect("stat");
    assert!(!stat.contains("leak"), "{stat}");
    let readme_len = std::fs::metadata(root.join("readme.txt"))
        .expect("readme")
        .len();
    assert!(
        out.contains("entry-mlsd inlink modify=")
            && out.contains(&format!("size={readme_len};type=file")),
        "the link inside the root is listed with its target's facts:\n{out}"
    );
    for verb in [
        "mlst", "size", "mdtm", "stat", "retr", "mlsd", "list", "nlst",
    ] {
        for name in ["leak", "leakdir", "leakdir/secret"] {
            let want = format!("{verb} {name} refused 5");
            // MLSD/LIST/NLST of a file inside are fine; of these names they must fail.
            assert!(out.contains(&want), "{want:?} missing:\n{out}");
        }
    }
    assert!(out.contains("cwd leakdir refused 550"), "{out}");
}

/// Names of 242-255 bytes used to be refused (553): the temporary name added 14 bytes past the
/// file system's 255. A 250-byte and a 255-byte name upload, and download again.
#[test]
fn a_250_byte_name_uploads() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-attack-long");
    let root = serve_dir(&dir, false);
    let server = writable_server(&ns, &dir);
    let script = r#"
import ftplib, io, sys
f = ftplib.FTP(timeout=20)
f.connect(sys.argv[1], 21)
f.login()
for n in (250, 255):
    name = ('n%d-' % n) + 'x' * (n - 5)
    assert len(name) == n
    print(n, f.storbinary('STOR ' + name, io.BytesIO(b'long name %d\n' % n)))
    got = io.BytesIO()
    f.retrbinary('RETR ' + name, got.write)
    print(n, 'back', got.getvalue() == b'long name %d\n' % n)
f.quit()
"#;
    let out = ftplib(&ns, &python, &dir, "attack-long", script, &[]);
    stop_server(server);
    for n in [250usize, 255] {
        assert!(out.contains(&format!("{n} 226 ")), "{out}");
        assert!(out.contains(&format!("{n} back True")), "{out}");
        let name = format!("n{n}-{}", "x".repeat(n - 5));
        assert_eq!(
            std::fs::read(root.join(&name)).expect("long name"),
            format!("long name {n}\n").as_bytes()
        );
    }
}

/// Temporaries a killed server left (`.smolftp-part-` and 16 hex digits), in the root and below,
/// are removed when a writable server starts, each removal logged with its path and size.
/// Nothing else is touched: other dotfiles, a symlink with such a name, a directory reached
/// through a symlink.
#[test]
fn stale_temporaries_are_removed_at_start() {
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-attack-stale");
    let root = serve_dir(&dir, false);
    let outside = dir.path("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    let stale = [
        root.join(".smolftp-part-0123456789abcdef"),
        root.join("pub/.smolftp-part-fedcba9876543210"),
    ];
    std::fs::write(&stale[0], vec![7u8; 12345]).expect("stale");
    std::fs::write(&stale[1], b"x").expect("stale");
    let keep = [
        root.join(".smolftp-part-notours"),
        root.join(".smolftp-part-0123456789abcdeg"),
        root.join(".smolftp-part-0123456789abcdef0"),
        root.join(".x.bin.smolftp-part"),
        outside.join(".smolftp-part-bbbbbbbbbbbbbbbb"),
        outside.join("target"),
    ];
    for k in &keep {
        std::fs::write(k, b"keep").expect("keep");
    }
    std::os::unix::fs::symlink(&outside, root.join("linkdir")).expect("dir link");
    let link = root.join(".smolftp-part-aaaaaaaaaaaaaaaa");
    std::os::unix::fs::symlink(outside.join("target"), &link).expect("link");

    let server = writable_server(&ns, &dir);
    let said = server.stderr_text();
    stop_server(server);
    for s in &stale {
        assert!(!s.exists(), "{} was not removed:\n{said}", s.display());
        assert!(
            said.contains(&s.display().to_string()),
            "the removal of {} was not logged:\n{said}",
            s.display()
        );
    }
    assert!(said.contains("12345 bytes"), "no size in the log:\n{said}");
    for k in &keep {
        assert_eq!(
            std::fs::read(k).ok().as_deref(),
            Some(&b"keep"[..]),
            "{}",
            k.display()
        );
    }
    assert!(
        link.symlink_metadata().is_ok(),
        "a symlink with a temporary's name was removed"
    );
}
