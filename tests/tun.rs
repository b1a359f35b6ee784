//! `smolftp server` and `smolftp client` on real TUN devices, against real peers: curl, lftp and
//! Python's ftplib as clients of our server, vsftpd as the server of our client, both ends on
//! smoltcp with the kernel routing between them (checked against a live tshark capture), and
//! the bad conditions (no device, no permission, no server, a client killed mid-transfer).
//!
//! Every test builds its own network namespace (`smolftp-t-<pid>-<n>`, see `tunlab`) with its
//! TUN devices inside, starts every process in it with `ip netns exec`, and deletes it when
//! done, even on failure; the machine's own interfaces and routes are never touched. They need
//! root and the peers: where the peers are required (`SMOLFTP_REQUIRE_PEERS=1`, set by
//! scripts/test.sh as root and in CI) anything missing fails the test, elsewhere the test skips
//! and says why.

/// The files of `tests/tun/`.
mod tun {
    use super::*;
    pub mod attack_files;
    pub mod attack_net;
    pub mod attack_session;
    pub mod coalesce;
    pub mod impaired;
    pub mod ipv6;
    pub mod quiet;
    pub mod relay;
    pub mod speed;
    pub mod stack;
}
mod common;
mod tunlab;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Scratch;
use tunlab::capture::{
    Directions, assert_seed_sequences, tcp_by_direction, tcp_payloads_by_direction,
};
use tunlab::{Netns, Proc, assert_same_file, pattern_file, peer};

/// The big file every transfer test moves.
const BIG: &str = "big.bin";
const BIG_SIZE: usize = 64 << 20;
/// Names the server's root holds, all of which a listing must show.
const NAMES: [&str; 4] = [BIG, "readme.txt", "notes.txt", "pub"];

/// The client's side of the lab (scripts/lab-netns.sh).
const LAB_CLIENT: &str = "client --tun smolftp-c --ip 10.2.0.2/24 --gateway 10.2.0.1";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Fills `<dir>/root` with the test files (`big` adds the 64 MiB file); returns its path.
fn serve_dir(dir: &Scratch, big: bool) -> PathBuf {
    let root = dir.path("root");
    std::fs::create_dir_all(root.join("pub")).expect("root dir");
    if big {
        pattern_file(&root.join(BIG), BIG_SIZE, 0x5eed);
    }
    let readme = tunlab::repo().join("src/demo/readme.txt");
    std::fs::copy(&readme, root.join("readme.txt")).expect("copy readme.txt");
    std::fs::write(root.join("notes.txt"), "notes for the TUN tests\n").expect("notes.txt");
    root
}

/// Panics unless `listing` names every entry of [`NAMES`] (all but big.bin when `big` is off).
fn assert_listing(listing: &str, big: bool, who: &str) {
    for name in NAMES.iter().filter(|n| big || **n != BIG) {
        assert!(
            listing
                .lines()
                .any(|l| l.split_whitespace().any(|w| w == *name)),
            "{who}: the listing lacks {name}:\n{listing}"
        );
    }
}

/// `smolftp SUBCOMMAND_AND_FLAGS COMMANDS...` in the namespace, run in `dir` (so the root, the
/// captures and the client's files are relative names). `flags` is split on whitespace; each
/// of `commands` is one argument.
fn smolftp(ns: &Netns, dir: &Scratch, flags: &str, commands: &[&str]) -> std::process::Command {
    let words: Vec<&str> = flags.split_whitespace().collect();
    let mut cmd = ns.smolftp(&words);
    cmd.args(commands).current_dir(&dir.0);
    cmd
}

/// Starts `smolftp server FLAGS` in `dir` and waits for its "listening" line.
fn start_server(ns: &Netns, dir: &Scratch, flags: &str) -> Proc {
    let cmd = smolftp(ns, dir, &format!("server {flags}"), &[]);
    let mut server = ns.spawn(cmd, &dir.0, "server");
    server.wait_for_stderr("listening on", secs(15));
    server
}

/// The server that the kernel's clients use: 10.7.0.2 on TUN device tun0 (kernel 10.7.0.1).
fn kernel_facing_server(ns: &Netns, dir: &Scratch) -> Proc {
    kernel_facing_server_with(ns, dir, "")
}

/// [`kernel_facing_server`] with more server `flags`.
fn kernel_facing_server_with(ns: &Netns, dir: &Scratch, flags: &str) -> Proc {
    ns.tun("tun0", "10.7.0.1/24");
    let flags = format!("--tun tun0 --ip 10.7.0.2/24 --root root {flags}");
    let server = start_server(ns, dir, &flags);
    let said = server.stderr_text();
    assert!(
        said.contains("smolftp server: listening on 10.7.0.2:21 on tun0"),
        "the ready line differs from the spec: {said}"
    );
    server
}

/// Runs `curl -sS --connect-timeout 5 --max-time MAX ARGS...` in the namespace (curl's default
/// mode is passive; add `-P -` for active) and panics unless it succeeds; returns its output.
fn run_curl(
    ns: &Netns,
    curl: &Path,
    dir: &Scratch,
    tag: &str,
    max_secs: u64,
    args: &[&dyn AsRef<std::ffi::OsStr>],
) -> tunlab::Finished {
    let mut cmd = ns.command(curl);
    cmd.args(["-sS", "--connect-timeout", "5", "--max-time"])
        .arg(max_secs.to_string())
        .args(args.iter().map(|a| a.as_ref()));
    ns.run(cmd, &dir.0, tag, secs(max_secs + 10)).success(tag)
}

/// SIGINT to the server; it must exit 0 within 15 s.
fn stop_server(server: Proc) {
    server
        .interrupt(secs(15))
        .success("smolftp server after SIGINT");
}

#[test]
fn curl_lists_and_downloads_in_active_mode() {
    let Some(curl) = peer("curl") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-curl");
    let root = serve_dir(&dir, true);
    let server = kernel_facing_server(&ns, &dir);

    let list = run_curl(
        &ns,
        &curl,
        &dir,
        "curl-list",
        30,
        &[&"-P", &"-", &"ftp://10.7.0.2/"],
    );
    assert_listing(&list.stdout, true, "curl");

    let (got, url) = (dir.path("got.bin"), format!("ftp://10.7.0.2/{BIG}"));
    run_curl(
        &ns,
        &curl,
        &dir,
        "curl-retr",
        120,
        &[&"-P", &"-", &"-o", &got, &url],
    );
    assert_same_file(&dir.path("got.bin"), &root.join(BIG));
    stop_server(server);
}

#[test]
fn with_offload_curl_downloads_and_the_client_uploads_byte_identical() {
    let Some(curl) = peer("curl") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-offload");
    let root = serve_dir(&dir, true);
    ns.tun("tun0", "10.7.0.1/24");
    let server = start_server(
        &ns,
        &dir,
        "--tun tun0 --ip 10.7.0.2/24 --root root --writable --anonymous-writable --offload \
         --capture offload.pcapng",
    );

    let (got, url) = (dir.path("got.bin"), format!("ftp://10.7.0.2/{BIG}"));
    run_curl(
        &ns,
        &curl,
        &dir,
        "curl-retr-offload",
        120,
        &[&"-P", &"-", &"-o", &got, &url],
    );
    assert_same_file(&dir.path("got.bin"), &root.join(BIG));

    // The other direction: the kernel hands large (GSO) segments to smoltcp on a second device.
    ns.tun("tun1", "10.6.0.1/24");
    ns.ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    let put = smolftp(
        &ns,
        &dir,
        "client --tun tun1 --ip 10.6.0.2/24 --gateway 10.6.0.1 --offload 10.7.0.2",
        &["put got.bin back.bin", "get back.bin again.bin"],
    );
    ns.run(put, &dir.0, "client-offload", secs(130))
        .success("smolftp client --offload put/get");
    assert_same_file(&root.join("back.bin"), &root.join(BIG));
    assert_same_file(&dir.path("again.bin"), &root.join(BIG));
    stop_server(server);

    // The capture shows segments larger than the MSS: the kernel cut them.
    let frames = smolftp::trace::read_capture(&dir.path("offload.pcapng")).expect("capture");
    let biggest = frames
        .iter()
        .filter_map(|f| smolftp::trace::Segment::from_frame(f.link, &f.data))
        .map(|s| s.len())
        .max()
        .unwrap_or(0);
    assert!(
        biggest > 1460,
        "no segment above the MSS with --offload: {biggest}"
    );

    // The device keeps its offloads after that server; a plain one must turn them off again.
    let server = start_server(&ns, &dir, "--tun tun0 --ip 10.7.0.2/24 --root root");
    let args: [&dyn AsRef<std::ffi::OsStr>; 3] = [&"-P", &"-", &"ftp://10.7.0.2/"];
    let list = run_curl(&ns, &curl, &dir, "curl-list-after-offload", 30, &args);
    assert_listing(&list.stdout, true, "curl");
    stop_server(server);
}

#[test]
fn lftp_lists_and_downloads_in_active_mode() {
    let Some(lftp) = peer("lftp") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-lftp");
    let root = serve_dir(&dir, true);
    let server = kernel_facing_server(&ns, &dir);

    let got = dir.path("got.bin");
    let script = format!(
        "set cmd:fail-exit yes; set ftp:passive-mode off; set net:max-retries 2; \
         set net:timeout 20; set net:reconnect-interval-base 1; set xfer:clobber on; \
         open ftp://10.7.0.2; ls; get {BIG} -o '{}'",
        got.display()
    );
    let mut cmd = ns.command(&lftp);
    cmd.arg("-c").arg(script);
    let done = ns.run(cmd, &dir.0, "lftp", secs(150)).success("lftp");
    assert_listing(&done.stdout, true, "lftp");
    assert_same_file(&got, &root.join(BIG));
    stop_server(server);
}

#[test]
fn lftp_in_passive_mode_lists_downloads_uploads_and_renames() {
    let Some(lftp) = peer("lftp") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-lftp-pasv");
    let root = serve_dir(&dir, true);
    ns.tun("tun0", "10.7.0.1/24");
    let server = start_server(
        &ns,
        &dir,
        "--tun tun0 --ip 10.7.0.2/24 --root root --writable --anonymous-writable",
    );
    let got = dir.path("got.bin");
    // lftp's defaults: passive mode, EPSV first, MLSD/MDTM/SIZE when FEAT lists them.
    let script = format!(
        "set cmd:fail-exit yes; set net:max-retries 2; set net:timeout 20; \
         set net:reconnect-interval-base 1; set xfer:clobber on; \
         open ftp://10.7.0.2; ls; get {BIG} -o '{}'; put '{}' -o up.bin; \
         mkdir made; mv up.bin made/up.bin; cls made",
        got.display(),
        got.display()
    );
    let mut cmd = ns.command(&lftp);
    cmd.arg("-c").arg(script);
    let done = ns
        .run(cmd, &dir.0, "lftp-pasv", secs(150))
        .success("lftp (passive)");
    assert_listing(&done.stdout, true, "lftp passive");
    assert_same_file(&got, &root.join(BIG));
    assert_same_file(&root.join("made/up.bin"), &root.join(BIG));
    assert!(done.stdout.contains("up.bin"), "{}", done.stdout);
    stop_server(server);
}

#[test]
fn python_ftplib_lists_and_downloads_in_active_mode() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-ftplib");
    let root = serve_dir(&dir, true);
    let server = kernel_facing_server(&ns, &dir);

    let script = r#"
import ftplib, sys
f = ftplib.FTP(timeout=30)
f.connect(sys.argv[1], 21)
f.login()
f.set_pasv(False)
lines = []
f.retrlines('LIST', lines.append)
print('\n'.join(lines))
with open(sys.argv[2], 'wb') as out:
    f.retrbinary('RETR ' + sys.argv[3], out.write, blocksize=1 << 20)
f.quit()
"#;
    let got = dir.path("got.bin");
    let mut cmd = ns.command(&python);
    cmd.args(["-c", script, "10.7.0.2"]).arg(&got).arg(BIG);
    let done = ns.run(cmd, &dir.0, "ftplib", secs(150)).success("ftplib");
    assert_listing(&done.stdout, true, "ftplib");
    assert_same_file(&got, &root.join(BIG));
    stop_server(server);
}

#[test]
fn the_session_over_max_sessions_gets_421_and_the_others_go_on() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-421");
    serve_dir(&dir, false);
    ns.tun("tun0", "10.7.0.1/24");
    let server = start_server(
        &ns,
        &dir,
        "--tun tun0 --ip 10.7.0.2/24 --root root --max-sessions 2",
    );
    // Two sessions stay logged in; a third is told 421 and closed; once one of the two has
    // quit (and its connection has closed: retried for up to 5 s), a new session is served.
    let script = r#"
import ftplib, sys
def login():
    f = ftplib.FTP(timeout=20)
    f.connect(sys.argv[1], 21)
    f.login()
    return f
a, b = login(), login()
try:
    login()
    print("third: served")
except ftplib.error_temp as e:
    print("third:", e)
a.quit()
# quit() returns on the 221; the server counts the session until its connection has closed.
import time
for attempt in range(50):
    try:
        c = login()
        break
    except ftplib.error_temp:
        time.sleep(0.1)
else:
    c = login()
c.set_pasv(False)
print("fourth:", " ".join(c.nlst()))
c.quit()
b.quit()
"#;
    let mut cmd = ns.command(&python);
    cmd.args(["-c", script, "10.7.0.2"]);
    let done = ns
        .run(cmd, &dir.0, "ftplib-421", secs(60))
        .success("ftplib 421");
    assert!(
        done.stdout.contains("third: 421 Too many sessions"),
        "the third session was not refused with 421:\n{}",
        done.stdout
    );
    assert!(
        done.stdout.contains("fourth: ") && done.stdout.contains(NAMES[1]),
        "no session served after one ended:\n{}",
        done.stdout
    );
    stop_server(server);
}

/// With a passive range of one port (`--passive-ports 40000`), every passive transfer of the
/// kernel's clients uses it, one after another: after curl's download the server's end of it
/// is in TIME-WAIT on 40000, and ftplib's unused `PASV`/`EPSV` offers are given up by the next.
#[test]
fn kernel_clients_in_their_default_passive_mode() {
    let Some(curl) = peer("curl") else { return };
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-passive");
    let root = serve_dir(&dir, true);
    let server = kernel_facing_server_with(&ns, &dir, "--passive-ports 40000");

    // curl: EPSV first, as it does by default; -v shows the server's replies.
    let list = run_curl(
        &ns,
        &curl,
        &dir,
        "curl-epsv-list",
        30,
        &[&"-v", &"ftp://10.7.0.2/"],
    );
    assert_listing(&list.stdout, true, "curl passive");
    assert!(
        list.stderr
            .contains("229 Entering Extended Passive Mode (|||40000|)"),
        "curl was not offered port 40000:\n{}",
        list.stderr
    );
    let (got, url) = (dir.path("curl.bin"), format!("ftp://10.7.0.2/{BIG}"));
    run_curl(
        &ns,
        &curl,
        &dir,
        "curl-epsv-retr",
        120,
        &[&"-o", &got, &url],
    );
    assert_same_file(&dir.path("curl.bin"), &root.join(BIG));

    // ftplib: PASV, its default; two offers not used first.
    let script = r#"
import ftplib, sys
f = ftplib.FTP(timeout=30)
f.connect(sys.argv[1], 21)
f.login()
print(f.sendcmd('PASV'))
print(f.sendcmd('EPSV'))
print(' '.join(f.nlst()))
with open(sys.argv[2], 'wb') as out:
    f.retrbinary('RETR ' + sys.argv[3], out.write, blocksize=1 << 20)
f.quit()
"#;
    let mut cmd = ns.command(&python);
    cmd.args(["-c", script, "10.7.0.2"])
        .arg(dir.path("ftplib.bin"))
        .arg(BIG);
    let done = ns
        .run(cmd, &dir.0, "ftplib-pasv", secs(150))
        .success("ftplib (passive)");
    assert_listing(&done.stdout, true, "ftplib passive");
    for offer in [
        "227 Entering Passive Mode (10,7,0,2,156,64).",
        "229 Entering Extended Passive Mode (|||40000|).",
    ] {
        assert!(
            done.stdout.contains(offer),
            "ftplib was not offered port 40000:\n{}",
            done.stdout
        );
    }
    assert_same_file(&dir.path("ftplib.bin"), &root.join(BIG));
    stop_server(server);
}

#[test]
fn a_passive_data_connection_from_another_host_is_refused() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-passive-thief");
    serve_dir(&dir, false);
    let server = kernel_facing_server(&ns, &dir);
    // A second kernel address on the same network plays the third party.
    ns.ok(&["ip", "addr", "add", "10.7.0.3/24", "dev", "tun0"]);
    let script = r#"
import re, socket, sys
srv = sys.argv[1]
c = socket.create_connection((srv, 21), timeout=10, source_address=('10.7.0.1', 0))
f = c.makefile('rb')
def reply():
    line = f.readline().decode()
    code = line[:3]
    while line[3:4] == '-':
        line = f.readline().decode()
        while not line.startswith(code + ' '):
            line = f.readline().decode()
    return line.strip()
reply()
for cmd in (b'USER anonymous', b'PASS x'):
    c.sendall(cmd + b'\r\n'); reply()
c.sendall(b'EPSV\r\n')
port = int(re.search(r'\|\|\|(\d+)\|', reply()).group(1))
try:
    # The reset may come during the handshake or just after it.
    thief = socket.create_connection((srv, port), timeout=10, source_address=('10.7.0.3', 0))
    got = thief.recv(100)
    print('thief got %r' % got)
except (ConnectionResetError, ConnectionRefusedError):
    print('thief reset')
good = socket.create_connection((srv, port), timeout=10, source_address=('10.7.0.1', 0))
c.sendall(b'NLST\r\n')
print('nlst:', reply())
data = b''
while True:
    chunk = good.recv(65536)
    if not chunk:
        break
    data += chunk
print('names:', ' '.join(data.decode().split()))
print('end:', reply())
"#;
    let mut cmd = ns.command(&python);
    cmd.args(["-c", script, "10.7.0.2"]);
    let done = ns
        .run(cmd, &dir.0, "passive-thief", secs(60))
        .success("passive thief script");
    let out = &done.stdout;
    assert!(
        out.contains("thief reset") || out.contains("thief got b''"),
        "the third party was not refused:\n{out}"
    );
    assert!(
        out.contains("names:") && out.contains(NAMES[1]),
        "no listing:\n{out}"
    );
    assert!(out.contains("end: 226"), "no 226:\n{out}");
    stop_server(server);
}

#[test]
fn ftplib_and_curl_use_the_rfc_3659_and_file_commands() {
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(curl) = peer("curl") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-verbs");
    let root = serve_dir(&dir, true);
    ns.tun("tun0", "10.7.0.1/24");
    let server = start_server(
        &ns,
        &dir,
        "--tun tun0 --ip 10.7.0.2/24 --root root --writable --anonymous-writable",
    );
    let script = r#"
import ftplib, io, sys
f = ftplib.FTP(timeout=30)
f.connect(sys.argv[1], 21)
f.login()
facts = dict(f.mlsd(facts=['type', 'size']))
print('mlsd', sorted(facts), facts['readme.txt']['size'], facts['pub']['type'])
print('size', f.size('readme.txt'))
print('mdtm', f.voidcmd('MDTM readme.txt'))
head = io.BytesIO()
f.retrbinary('RETR readme.txt', head.write, rest=10)
print('rest', head.getvalue() == open(sys.argv[2], 'rb').read()[10:])
f.storbinary('STOR up.txt', io.BytesIO(b'one\n'))
f.storbinary('APPE up.txt', io.BytesIO(b'two\n'))
print('appe', f.size('up.txt'))
f.rename('up.txt', 'moved.txt')
print('mkd', f.mkd('newdir'))
f.rmd('newdir')
print('after', sorted(f.nlst()))
f.delete('moved.txt')
print('deleted', 'moved.txt' not in f.nlst())
f.quit()
"#;
    let mut cmd = ns.command(&python);
    cmd.args(["-c", script, "10.7.0.2"])
        .arg(root.join("readme.txt"));
    let done = ns
        .run(cmd, &dir.0, "ftplib-verbs", secs(60))
        .success("ftplib MLSD/SIZE/MDTM/REST/STOR/APPE/RNFR/RNTO/MKD/RMD/DELE");
    let out = &done.stdout;
    let readme_len = std::fs::metadata(root.join("readme.txt"))
        .expect("readme")
        .len();
    for want in [
        format!("size {readme_len}"),
        "mdtm 213 ".to_string(),
        "rest True".to_string(),
        "appe 8".to_string(),
        "mkd /newdir".to_string(),
        "deleted True".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
    assert!(
        out.contains("'moved.txt'") && !out.contains("'newdir'"),
        "{out}"
    );
    assert!(out.contains("mlsd ") && out.contains(" dir"), "{out}");

    // curl resumes a download where a partial file ends (REST).
    let part = dir.path("resumed.bin");
    let whole = std::fs::read(root.join(BIG)).expect("big");
    std::fs::write(&part, &whole[..1 << 20]).expect("partial");
    let url = format!("ftp://10.7.0.2/{BIG}");
    run_curl(
        &ns,
        &curl,
        &dir,
        "curl-resume",
        120,
        &[&"-C", &"-", &"-o", &part, &url],
    );
    assert_same_file(&part, &root.join(BIG));
    stop_server(server);
}

/// Writes a vsftpd configuration for anonymous active-mode FTP on `address`, serving `root`
/// (with a writable `upload` directory owned by `ftp`); returns the configuration's path.
fn vsftpd_config(dir: &Scratch, root: &Path, address: &str) -> PathBuf {
    let ftp = std::process::Command::new("id")
        .args(["-u", "ftp"])
        .output()
        .expect("run id");
    assert!(
        ftp.status.success(),
        "vsftpd needs the system user ftp (its package makes it): {}",
        String::from_utf8_lossy(&ftp.stderr)
    );
    let uid: u32 = String::from_utf8_lossy(&ftp.stdout)
        .trim()
        .parse()
        .expect("uid");
    let upload = root.join("upload");
    std::fs::create_dir_all(&upload).expect("upload dir");
    std::os::unix::fs::chown(&upload, Some(uid), None).expect("chown upload to ftp");
    let empty = dir.path("empty");
    std::fs::create_dir_all(&empty).expect("secure_chroot_dir");
    let conf = dir.path("vsftpd.conf");
    let text = format!(
        "listen=YES\nlisten_ipv6=NO\nlisten_address={address}\nlisten_port=21\nbackground=NO\n\
         anonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\nanon_root={root}\n\
         write_enable=YES\nanon_upload_enable=YES\nanon_umask=022\n\
         pasv_enable=NO\nport_enable=YES\nconnect_from_port_20=YES\n\
         secure_chroot_dir={empty}\nseccomp_sandbox=NO\n\
         xferlog_enable=YES\nlog_ftp_protocol=YES\nvsftpd_log_file={log}\n",
        root = root.display(),
        empty = empty.display(),
        log = dir.path("vsftpd.log").display(),
    );
    std::fs::write(&conf, text).expect("vsftpd.conf");
    conf
}

#[test]
fn smolftp_client_against_vsftpd_lists_gets_and_puts() {
    let Some(vsftpd) = peer("vsftpd") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-vsftpd");
    let root = serve_dir(&dir, true);
    let conf = vsftpd_config(&dir, &root, "10.7.0.1");
    pattern_file(&dir.path("up.bin"), (3 << 20) + 123, 0xfeed);
    ns.tun("tun0", "10.7.0.1/24");
    let mut cmd = ns.command(&vsftpd);
    cmd.arg(&conf);
    let mut daemon = ns.spawn(cmd, &dir.0, "vsftpd");
    if !ns.wait_listen(21, secs(10)) {
        let _ = daemon.wait(Duration::ZERO);
        panic!("vsftpd is not listening: {}", daemon.stderr_text());
    }

    let client = smolftp(
        &ns,
        &dir,
        "client --tun tun0 --ip 10.7.0.2/24 --timeout 20 --capture client.pcapng 10.7.0.1",
        &[
            "dir",
            &format!("get {BIG} got.bin"),
            "put up.bin upload/up.bin",
        ],
    );
    let done = ns.run(client, &dir.0, "client", secs(150));
    let log = std::fs::read_to_string(dir.path("vsftpd.log")).unwrap_or_default();
    assert!(
        done.status.success(),
        "smolftp client against vsftpd failed ({}):\n{}\n--- vsftpd.log ---\n{}",
        done.status,
        tunlab::tail(&done.stderr),
        tunlab::tail(&log)
    );
    assert_listing(&done.stdout, true, "smolftp client dir");
    assert_same_file(&dir.path("got.bin"), &root.join(BIG));
    assert_same_file(&root.join("upload/up.bin"), &dir.path("up.bin"));
}

#[test]
fn two_smoltcp_hosts_across_the_kernel_show_the_seed_sequences() {
    let Some(tshark) = peer("tshark") else { return };
    let Some(ns) = Netns::lab() else { return };
    let dir = Scratch::new("tun-lab");
    let root = serve_dir(&dir, false);
    let server_cap = dir.path("server.pcapng");
    let server = start_server(
        &ns,
        &dir,
        "--tun smolftp-s --ip 10.1.0.2/24 --gateway 10.1.0.1 --root root --capture server.pcapng",
    );
    let live = dir.path("live.pcapng");
    let mut cmd = ns.command(&tshark);
    cmd.args(["-q", "-i", "smolftp-s", "-w"]).arg(&live);
    let mut sniffer = ns.spawn(cmd, &dir.0, "tshark");
    // tshark says "Capturing on" before dumpcap has opened the interface, and "Capture
    // started." (tshark 3.6 and later) once it has; older versions get 3 s of grace.
    sniffer.wait_for_stderr("Capturing on", secs(30));
    let deadline = Instant::now() + secs(3);
    while !sniffer.stderr_text().contains("Capture started") && Instant::now() < deadline {
        sleep(Duration::from_millis(20));
    }
    sleep(Duration::from_millis(200));

    let client = smolftp(
        &ns,
        &dir,
        &format!("{LAB_CLIENT} --timeout 10 --capture client.pcapng 10.1.0.2"),
        &["dir", "get readme.txt got.txt"],
    );
    let done = ns
        .run(client, &dir.0, "client", secs(60))
        .success("smolftp client across the kernel");
    assert_listing(&done.stdout, false, "smolftp client dir");
    assert_same_file(&dir.path("got.txt"), &root.join("readme.txt"));
    assert_seed_sequences(&dir.path("client.pcapng"), "client capture");

    stop_server(server);
    sleep(Duration::from_millis(300));
    sniffer.interrupt(secs(20)).success("tshark after SIGINT");

    // The data connections' segments left one end and reached the other unchanged. (The
    // server's capture need not show the figure's order: it may send DATA+FIN before the ACK
    // of the previous data reaches it.)
    let own = tcp_by_direction(&server_cap);
    let client = tcp_by_direction(&dir.path("client.pcapng"));
    let data = |d: &Directions| -> Directions {
        d.iter()
            .filter(|((a, b), _)| a.port() == 20 || b.port() == 20)
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    };
    assert_eq!(data(&own).len(), 4, "two data connections, two directions");
    assert_eq!(
        data(&own),
        data(&client),
        "data connections: server vs client"
    );

    // tshark on the server's TUN interface saw what the server recorded: the server's own
    // segments in runs merged into one frame each (coalescing, the default; the kernel cuts
    // them back into the very segments on its way to the client, as the comparison above
    // shows), the client's one by one (the kernel cut them so on the way here).
    let own = tcp_payloads_by_direction(&server_cap);
    let seen = tcp_payloads_by_direction(&live);
    let count = |d: &BTreeMap<_, Vec<_>>| d.values().map(Vec::len).sum::<usize>();
    assert!(count(&own) > 30, "server capture: {own:?}");
    assert_eq!(
        own.keys().collect::<Vec<_>>(),
        seen.keys().collect::<Vec<_>>(),
        "the same connections and directions in the server's capture and tshark's"
    );
    for (dirn, segs) in &own {
        let what = format!("{} -> {} (server's capture vs tshark's)", dirn.0, dirn.1);
        tun::coalesce::assert_runs_of_ours(&what, segs, &seen[dirn]);
    }
}

#[test]
fn a_missing_tun_device_is_named_with_the_fix() {
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-missing");
    let runs = [
        ("server", "server --tun nosuch0 --ip 10.7.0.2/24 --root ."),
        (
            "client",
            "client --tun nosuch0 --ip 10.7.0.2/24 10.7.0.1 pwd",
        ),
    ];
    for (tag, args) in runs {
        let done = ns.run(smolftp(&ns, &dir, args, &[]), &dir.0, tag, secs(10));
        assert_eq!(done.status.code(), Some(1), "{tag}: {}", done.stderr);
        assert!(done.elapsed < secs(5), "{tag} took {:?}", done.elapsed);
        assert!(
            done.stderr.contains("nosuch0") && done.stderr.contains("tun-up.sh"),
            "{tag}: the message should name the device and scripts/tun-up.sh: {}",
            done.stderr
        );
        assert!(!done.stderr.contains("panicked"), "{tag}: {}", done.stderr);
        let link = ns
            .command("ip")
            .args(["link", "show", "dev", "nosuch0"])
            .output()
            .expect("run ip link");
        assert!(
            !link.status.success(),
            "{tag} created the device it should have reported missing"
        );
    }
}

#[test]
fn no_permission_on_the_tun_device_says_so() {
    // setpriv comes with util-linux; where peers are required its absence fails the test.
    let Some(setpriv) = tunlab::peer("setpriv") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-perm");
    ns.tun("tun0", "10.7.0.1/24"); // owned by root: user nobody may not attach
    let mut cmd = ns.command(setpriv);
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_smolftp"))
        .args("server --tun tun0 --ip 10.7.0.2/24 --root .".split_whitespace())
        .current_dir(&dir.0);
    let done = ns.run(cmd, &dir.0, "server-nobody", secs(10));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(done.elapsed < secs(5), "took {:?}", done.elapsed);
    assert!(
        done.stderr.to_lowercase().contains("permission"),
        "the message should say permission was denied: {}",
        done.stderr
    );
    assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
}

#[test]
fn a_server_that_is_not_there_fails_the_client_within_its_timeout() {
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-absent");
    ns.tun("tun0", "10.7.0.1/24");
    // 10.7.0.3: nobody answers (the kernel does not forward); 10.7.0.1: the kernel, where
    // nothing listens on port 21, answers with a RST.
    for (server, limit) in [("10.7.0.3", secs(3 + 2)), ("10.7.0.1", secs(3))] {
        let flags = format!("client --tun tun0 --ip 10.7.0.2/24 --timeout 3 {server} pwd");
        let done = ns.run(smolftp(&ns, &dir, &flags, &[]), &dir.0, "client", secs(20));
        assert_eq!(done.status.code(), Some(1), "{server}: {}", done.stderr);
        assert!(
            done.elapsed < limit,
            "{server}: took {:?}, limit {limit:?}",
            done.elapsed
        );
        assert!(
            done.stderr.contains(server),
            "{server}: the message should name the server: {}",
            done.stderr
        );
        assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
    }
}

/// Bytes the kernel has sent into TUN device `dev` of `ns` (toward the smoltcp host on it).
fn tun_tx_bytes(ns: &Netns, dev: &str) -> u64 {
    ns.ok(&["cat", &format!("/sys/class/net/{dev}/statistics/tx_bytes")])
        .trim()
        .parse()
        .expect("tx_bytes")
}

#[test]
fn a_client_killed_mid_transfer_leaves_the_server_serving_others() {
    let Some(curl) = peer("curl") else { return };
    let Some(ns) = Netns::lab() else { return };
    let dir = Scratch::new("tun-kill");
    serve_dir(&dir, true);
    // 100 Mbit/s toward the client: the 64 MiB take over 5 s, time enough to kill mid-way.
    let shaper = "tc qdisc add dev smolftp-c root tbf rate 100mbit burst 64kb latency 200ms";
    ns.ok(&shaper.split_whitespace().collect::<Vec<_>>());
    let server = start_server(
        &ns,
        &dir,
        "--tun smolftp-s --ip 10.1.0.2/24 --gateway 10.1.0.1 --root root",
    );
    let before = tun_tx_bytes(&ns, "smolftp-c");
    let client = smolftp(
        &ns,
        &dir,
        &format!("{LAB_CLIENT} 10.1.0.2"),
        &[&format!("get {BIG} partial.bin")],
    );
    let mut victim = ns.spawn(client, &dir.0, "victim");
    let deadline = Instant::now() + secs(60);
    let moved = loop {
        let moved = tun_tx_bytes(&ns, "smolftp-c") - before;
        if moved >= 4 << 20 {
            break moved;
        }
        if let Some(status) = victim.wait(Duration::ZERO) {
            panic!(
                "the client exited ({status}) before the kill, {moved} bytes in: {}",
                victim.stderr_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the transfer did not start: {moved} bytes in 60 s: {}",
            victim.stderr_text()
        );
        sleep(Duration::from_millis(50));
    };
    victim.signal(libc::SIGKILL);
    assert!(
        victim.wait(secs(5)).is_some(),
        "the client outlived SIGKILL"
    );
    assert!(
        moved < BIG_SIZE as u64 / 2,
        "killed too late to be mid-transfer ({moved} bytes)"
    );

    // Another client, from the kernel's side of the lab, is served as if nothing happened.
    let list = run_curl(
        &ns,
        &curl,
        &dir,
        "curl-list",
        30,
        &[&"-P", &"-", &"ftp://10.1.0.2/"],
    );
    assert_listing(&list.stdout, true, "curl after the kill");
    let mut server = server;
    assert!(
        server.wait(Duration::ZERO).is_none(),
        "the server exited: {}",
        server.stderr_text()
    );
    stop_server(server);
}
