//! Quiet peers over TUN: a server that stops replying (the client's reply timeout), a user
//! who thinks at the `ftp>` prompt (keep-alive probes keep the session), and a client that says
//! nothing for long (the server probes it, then tells it `421` at its idle timeout).

use super::tunlab::{Netns, peer};
use super::{secs, serve_dir, smolftp, start_server};
use crate::common::Scratch;

/// Starts a Python FTP peer on the kernel's side (10.7.0.1:21 of `ns`): `body` runs once a
/// client has connected, with the connection as `c`; waits until it listens.
fn kernel_peer(
    ns: &Netns,
    dir: &Scratch,
    python: &std::path::Path,
    body: &str,
    tag: &str,
) -> super::tunlab::Proc {
    let script = format!(
        "import socket, time\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('10.7.0.1', 21))\n\
         s.listen(1)\n\
         c, _ = s.accept()\n{body}"
    );
    let mut cmd = ns.command(python);
    cmd.args(["-c", &script]);
    let peer = ns.spawn(cmd, &dir.0, tag);
    assert!(ns.wait_listen(21, secs(10)), "the {tag} peer did not start");
    peer
}

/// A server that greets, logs anyone in and then says nothing more, while its kernel still
/// acknowledges every byte: TCP alone never gives up on it, the client's reply timeout does.
#[test]
fn a_server_that_stops_replying_fails_the_client_within_its_timeout() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-silent");
    ns.tun("tun0", "10.7.0.1/24");
    let script = r#"
c.sendall(b'220 hello\r\n')
f = c.makefile('rb')
f.readline(); c.sendall(b'331 password\r\n')
f.readline(); c.sendall(b'230 in\r\n')
time.sleep(60)
"#;
    let _server = kernel_peer(&ns, &dir, &python, script, "silent");
    let flags = "client --tun tun0 --ip 10.7.0.2/24 --timeout 2 10.7.0.1 pwd";
    let done = ns.run(smolftp(&ns, &dir, flags, &[]), &dir.0, "client", secs(20));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("timed out: no reply to `PWD` within 2 s"),
        "{}",
        done.stderr
    );
    // 2 s for the reply, then up to 2 s in FIN-WAIT-2 for the FIN the server never sends.
    assert!(done.elapsed < secs(2 + 2 + 2), "took {:?}", done.elapsed);
    assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
}

/// A user who thinks at the `ftp>` prompt for longer than `--timeout` keeps the session: the
/// shell goes on polling while it waits for a line, and the quiet control connection sends TCP
/// keep-alive probes (every timeout / 6) that the server's kernel answers.
#[test]
fn a_quiet_shell_session_stays_up_with_keep_alive_probes() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(tshark) = peer("tshark") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-keepalive");
    ns.tun("tun0", "10.7.0.1/24");
    let script = r#"
c.settimeout(30)
c.sendall(b'220 hello\r\n')
for line in c.makefile('rb'):
    verb = line.split()[0].upper()
    reply = {b'USER': b'331 pw', b'PASS': b'230 in', b'PWD': b'257 "/"', b'QUIT': b'221 bye'}
    c.sendall(reply.get(verb, b'502 no') + b'\r\n')
    if verb == b'QUIT':
        break
"#;
    let _server = kernel_peer(&ns, &dir, &python, script, "server");
    // The shell reads its lines from a pipe: pwd, 5 s of thought (the timeout is 2 s), pwd.
    let client = format!(
        "(echo pwd; sleep 5; echo pwd; echo bye) | {} client --tun tun0 --ip 10.7.0.2/24 \
         --timeout 2 --capture client.pcapng 10.7.0.1",
        env!("CARGO_BIN_EXE_smolftp")
    );
    let mut cmd = ns.command("sh");
    cmd.args(["-c", &client]).current_dir(&dir.0);
    let done = ns.run(cmd, &dir.0, "client", secs(30)).success("the shell");
    assert_eq!(
        done.stdout.matches("257 \"/\"").count(),
        2,
        "both PWDs answered: {}{}",
        done.stdout,
        done.stderr
    );
    // tshark, as a student would, finds the probes and the kernel's answers.
    let mut cmd = ns.command(&tshark);
    cmd.arg("-r")
        .arg(dir.path("client.pcapng"))
        .args(["-Y", "tcp.analysis.keep_alive"])
        .args(["-T", "fields", "-e", "frame.comment"]);
    let probes = ns.run(cmd, &dir.0, "tshark", secs(30)).success("tshark");
    let comments: Vec<&str> = probes.stdout.lines().collect();
    assert!(
        comments.len() >= 2,
        "expected a probe every second of the 5 s: {comments:?}"
    );
    assert!(
        comments.iter().all(|c| c.contains("keep-alive probe")),
        "{comments:?}"
    );
}

/// A kernel client (ftplib) quiet for twice the server's `--timeout` keeps its session: the
/// server probes it and the kernel answers. Quiet past `--idle-timeout`, it is told `421`.
#[test]
fn the_server_keeps_a_quiet_client_and_says_421_at_its_idle_timeout() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(tshark) = peer("tshark") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-idle");
    serve_dir(&dir, false);
    ns.tun("tun0", "10.7.0.1/24");
    let server = start_server(
        &ns,
        &dir,
        "--tun tun0 --ip 10.7.0.2/24 --root root --timeout 2 --idle-timeout 5 \
         --capture server.pcapng",
    );
    let script = r#"
import ftplib, time
f = ftplib.FTP(timeout=20)
f.connect('10.7.0.2', 21)
f.login()
time.sleep(4)
print('after 4 s:', f.pwd(), flush=True)
time.sleep(7)
try:
    f.pwd()
except ftplib.error_temp as e:
    print('after 11 s:', e)
"#;
    let mut cmd = ns.command(&python);
    cmd.args(["-c", script]);
    let done = ns.run(cmd, &dir.0, "ftplib", secs(40)).success("ftplib");
    assert!(
        done.stdout.contains("after 4 s: /"),
        "the quiet session was lost: {}{}",
        done.stdout,
        done.stderr
    );
    assert!(
        done.stdout.contains("after 11 s: 421 Timeout."),
        "no 421 at the idle timeout: {}{}",
        done.stdout,
        done.stderr
    );
    server
        .interrupt(secs(15))
        .success("smolftp server after SIGINT");
    let mut cmd = ns.command(&tshark);
    cmd.arg("-r")
        .arg(dir.path("server.pcapng"))
        .args(["-Y", "tcp.analysis.keep_alive && tcp.srcport == 21"])
        .args(["-T", "fields", "-e", "frame.comment"]);
    let probes = ns.run(cmd, &dir.0, "tshark", secs(30)).success("tshark");
    assert!(
        probes.stdout.lines().count() >= 2,
        "the server should probe the quiet client: {}",
        probes.stdout
    );
}
