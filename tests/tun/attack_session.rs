//! Attacks on the FTP session over TUN, each by a kernel client (Python) in the test's network
//! namespace against `smolftp server`: a flood of commands whose replies are never read (the
//! server's memory stays small, from /proc), one byte a second without a line end (closed at
//! the idle timeout), anonymous logins refused with `--no-anonymous`, and anonymous users who
//! cannot write to a `--writable` server.

use super::tunlab::{self, Netns, Proc, peer};
use super::{secs, serve_dir, start_server};
use crate::common::Scratch;

/// A kilobyte figure of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read {line:?}"));
    kib * 1024
}

/// `smolftp server` on tun0 (10.7.0.2; the kernel is 10.7.0.1) with more `flags`.
fn server(ns: &Netns, dir: &Scratch, flags: &str) -> Proc {
    serve_dir(dir, false);
    ns.tun("tun0", "10.7.0.1/24");
    start_server(
        ns,
        dir,
        &format!("--tun tun0 --ip 10.7.0.2/24 --root root {flags}"),
    )
}

/// Runs a Python `script` in the namespace (at most 60 s) and returns its stdout.
fn python(ns: &Netns, dir: &Scratch, python: &std::path::Path, script: &str, tag: &str) -> String {
    let mut cmd = ns.command(python);
    cmd.args(["-c", script]);
    ns.run(cmd, &dir.0, tag, secs(60)).success(tag).stdout
}

/// Runs `prelude` (Python: it leaves the control connection in `c`), then sends 10 MB of
/// `line` on it without ever reading a reply, until the server stops taking them for 3 s;
/// checks that the server's memory grew by less than 32 MiB (peak, from /proc) and that it
/// still serves another client meanwhile.
fn flood(tag: &str, prelude: &str, line: &str) {
    let Some(python3) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new(tag);
    let srv = server(&ns, &dir, "");
    // A file far larger than every buffer on its way: its transfer stalls.
    tunlab::pattern_file(&dir.path("root/big.bin"), 32 << 20, 7);
    let pid = srv.pid();
    let before = status_kib(pid, "VmRSS");
    // The attacker then holds the connection open while the test reads the server's memory.
    let script = format!(
        "import ftplib, socket, sys, time\n{prelude}\n\
         c.settimeout(3)\n\
         chunk = b'{line}\\r\\n' * (65536 // {len})\n\
         sent = 0\n\
         start = time.time()\n\
         while sent < 10_000_000 and time.time() - start < 40:\n\
         \x20   try:\n\
         \x20       sent += c.send(chunk)\n\
         \x20   except socket.timeout:\n\
         \x20       break\n\
         print('flood sent', sent, 'bytes in %.1f s' % (time.time() - start), file=sys.stderr, \
         flush=True)\n\
         time.sleep(30)\n",
        len = line.len() + 2
    );
    let mut cmd = ns.command(&python3);
    cmd.args(["-c", &script]);
    let mut attacker = ns.spawn(cmd, &dir.0, "flood");
    attacker.wait_for_stderr("flood sent", secs(50));
    // Let the server work on what it took.
    std::thread::sleep(secs(1));
    let other = python(
        &ns,
        &dir,
        &python3,
        "import ftplib\nf = ftplib.FTP('10.7.0.2', timeout=10)\nf.login()\nprint(f.pwd())\nf.quit()",
        "other",
    );
    assert_eq!(other.trim(), "/", "another client was not served");
    let peak = status_kib(pid, "VmHWM");
    let growth = peak.saturating_sub(before);
    let said = attacker.stderr_text();
    eprintln!(
        "{tag}: server RSS before {} KiB, peak {} KiB (+{} KiB); {}",
        before / 1024,
        peak / 1024,
        growth / 1024,
        said.trim()
    );
    assert!(
        growth < 32 << 20,
        "the server grew by {} MiB under the flood ({})",
        growth >> 20,
        said.trim()
    );
    drop(attacker);
    srv.interrupt(secs(15))
        .success("smolftp server after SIGINT");
}

/// 10 MB of `HELP` before login, as an attacker would, from a client that never reads a reply:
/// the server stops reading once 64 KiB of replies pile up, so its memory grows by little
/// (without back-pressure: by about 450 MiB).
#[test]
fn a_command_flood_that_reads_no_reply_leaves_the_server_small() {
    flood(
        "tun-flood",
        "c = socket.create_connection(('10.7.0.2', 21), timeout=10)",
        "HELP",
    );
}

/// 10 MB of `NOOP` during a `RETR` whose data the client never reads: the server holds at most
/// 8 lines for after the transfer and stops reading (without the bound: hundreds of MiB).
#[test]
fn noops_during_a_stalled_download_leave_the_server_small() {
    flood(
        "tun-flood-retr",
        "f = ftplib.FTP('10.7.0.2', timeout=10)\n\
         f.login()\n\
         f.voidcmd('TYPE I')\n\
         d = socket.create_connection(ftplib.parse227(f.sendcmd('PASV')), timeout=10)\n\
         c = f.sock\n\
         c.sendall(b'RETR big.bin\\r\\n')",
        "NOOP",
    );
}

/// A client that floods and never reads holds its session only until the idle timeout plus
/// the close linger: its last reply and FIN cannot be delivered into its zero window, so the
/// server resets the connection, and with `--max-sessions 1` the next client gets in.
#[test]
fn a_client_that_never_reads_gives_its_session_back() {
    let Some(python3) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-noread");
    let srv = server(&ns, &dir, "--max-sessions 1 --idle-timeout 2");
    let flood = r#"
import socket, sys, time
c = socket.create_connection(('10.7.0.2', 21), timeout=10)
c.settimeout(3)
sent = 0
while sent < 10_000_000:
    try:
        sent += c.send(b'HELP\r\n' * 10923)
    except socket.timeout:
        break
print('flood sent', sent, file=sys.stderr, flush=True)
time.sleep(120)
"#;
    let mut cmd = ns.command(&python3);
    cmd.args(["-c", flood]);
    let mut attacker = ns.spawn(cmd, &dir.0, "noread");
    attacker.wait_for_stderr("flood sent", secs(50));
    // The next client: refused (421) while the flood holds the only session, then served.
    let script = r#"
import ftplib, time
start = time.time()
while time.time() - start < 45:
    try:
        f = ftplib.FTP('10.7.0.2', timeout=5)
        f.login()
        print('served after %.1f s' % (time.time() - start))
        f.quit()
        break
    except (ftplib.error_temp, OSError, EOFError) as e:
        time.sleep(1)
"#;
    let out = python(&ns, &dir, &python3, script, "next");
    assert!(
        out.contains("served after"),
        "the flood kept the only session: {out}"
    );
    eprintln!("{}", out.trim());
    drop(attacker);
    srv.interrupt(secs(15))
        .success("smolftp server after SIGINT");
}

/// Slowloris: one byte a second and never a line end. The idle timer counts command lines, so
/// the server says `421` and closes at `--idle-timeout 5`, within twice that.
#[test]
fn one_byte_a_second_without_a_line_end_is_closed_at_the_idle_timeout() {
    let Some(python3) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-slowloris");
    let srv = server(&ns, &dir, "--idle-timeout 5");
    let script = r#"
import socket, time
c = socket.create_connection(('10.7.0.2', 21), timeout=10)
got = b''
while b'\r\n' not in got:
    got += c.recv(4096)
start = time.time()
c.settimeout(1)
closed = False
while time.time() - start < 15:
    try:
        c.send(b'N')
    except OSError:
        break
    try:
        d = c.recv(4096)
    except socket.timeout:
        continue
    except OSError:
        break
    if not d:
        closed = True
        break
    got += d
print('closed' if closed else 'open', 'after %.1f s' % (time.time() - start))
print(got.decode(errors='replace'))
"#;
    let out = python(&ns, &dir, &python3, script, "slowloris");
    assert!(out.contains("421 Timeout."), "no 421: {out}");
    let first = out.lines().next().unwrap_or_default();
    let secs_open: f64 = first
        .strip_prefix("closed after ")
        .and_then(|s| s.strip_suffix(" s"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the connection stayed open: {out}"));
    eprintln!("slowloris: {first}");
    assert!(secs_open <= 10.0, "closed only after {secs_open} s: {out}");
    srv.interrupt(secs(15))
        .success("smolftp server after SIGINT");
}

/// `--no-anonymous`: `anonymous` and `ftp` get `530`, an account logs in.
#[test]
fn no_anonymous_refuses_anonymous_logins() {
    let Some(python3) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-noanon");
    let srv = server(
        &ns,
        &dir,
        "--no-anonymous --user alice:wonder --login-delay 0",
    );
    let script = r#"
import ftplib
for user in ['anonymous', 'ftp']:
    f = ftplib.FTP('10.7.0.2', timeout=10)
    try:
        f.login(user, 'guest@')
        print(user, 'logged in')
    except ftplib.error_perm as e:
        print(user, 'refused:', e)
    f.close()
f = ftplib.FTP('10.7.0.2', timeout=10)
print('alice:', f.login('alice', 'wonder'))
f.quit()
"#;
    let out = python(&ns, &dir, &python3, script, "noanon");
    assert!(out.contains("anonymous refused: 530"), "{out}");
    assert!(out.contains("ftp refused: 530"), "{out}");
    assert!(out.contains("alice: 230"), "{out}");
    srv.interrupt(secs(15))
        .success("smolftp server after SIGINT");
}

/// `--writable` without `--anonymous-writable`: anonymous users read but cannot `STOR` (nor
/// make directories); an account can.
#[test]
fn anonymous_users_cannot_write_to_a_writable_server() {
    let Some(python3) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-anon-ro");
    let srv = server(&ns, &dir, "--writable --user alice:wonder");
    let script = r#"
import ftplib, io
f = ftplib.FTP('10.7.0.2', timeout=10)
f.login()
print('anonymous reads:', len(f.nlst()) > 0)
for what, call in [('STOR', lambda: f.storbinary('STOR anon.txt', io.BytesIO(b'x\n'))),
                   ('MKD', lambda: f.mkd('anondir'))]:
    try:
        print('anonymous', what, 'done:', call())
    except ftplib.error_perm as e:
        print('anonymous', what, 'refused:', e)
f.quit()
f = ftplib.FTP('10.7.0.2', timeout=10)
f.login('alice', 'wonder')
print('alice STOR:', f.storbinary('STOR alice.txt', io.BytesIO(b'a\n')))
f.quit()
"#;
    let out = python(&ns, &dir, &python3, script, "anon-ro");
    assert!(out.contains("anonymous reads: True"), "{out}");
    assert!(out.contains("anonymous STOR refused: 550"), "{out}");
    assert!(out.contains("anonymous MKD refused: 550"), "{out}");
    assert!(out.contains("alice STOR: 226"), "{out}");
    let root = dir.path("root");
    assert!(
        !root.join("anon.txt").exists(),
        "an anonymous upload was stored"
    );
    assert!(!root.join("anondir").exists());
    assert_eq!(std::fs::read(root.join("alice.txt")).unwrap(), b"a\n");
    srv.interrupt(secs(15))
        .success("smolftp server after SIGINT");
}

/// Password guessing over many connections: the failures of every session from one address
/// count together, and past `--max-failures-per-address` even the right password is refused
/// (`421`) from that address.
#[test]
fn password_guessing_over_many_connections_is_limited_per_address() {
    let Some(python3) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-guess");
    let srv = server(
        &ns,
        &dir,
        "--user alice:wonder --login-delay 0 --max-failures-per-address 5",
    );
    let script = r#"
import ftplib
conns = [ftplib.FTP('10.7.0.2', timeout=10) for _ in range(4)]
for round in range(2):
    for i, f in enumerate(conns):
        try:
            f.login('alice', 'guess%d%d' % (round, i))
        except ftplib.error_perm as e:
            print('guess:', e)
        except (ftplib.error_temp, EOFError, OSError) as e:
            print('refused:', e)
f = ftplib.FTP('10.7.0.2', timeout=10)
try:
    print('right password:', f.login('alice', 'wonder'))
except (ftplib.error_temp, EOFError) as e:
    print('right password refused:', e)
"#;
    let out = python(&ns, &dir, &python3, script, "guess");
    assert_eq!(out.matches("guess: 530").count(), 5, "{out}");
    assert!(
        out.contains("right password refused: 421 Too many failed logins"),
        "{out}"
    );
    srv.interrupt(secs(15))
        .success("smolftp server after SIGINT");
}
