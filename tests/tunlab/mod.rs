//! The TUN tests' lab bench: a network namespace per test, processes started in it and ended by
//! PID, bounded waits, the peers a test needs (skip, or fail where they are required), and the
//! files the tests move.
//!
//! Every namespace is made here with a unique name (`smolftp-t-<pid>-<n>`) and deleted when its
//! [`Netns`] is dropped, panic or not, after ending the processes still in it (all of them
//! started by the test). Nothing is added to the machine's own namespace.

#![allow(dead_code)]

pub mod capture;

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// True when a missing peer or missing privilege must fail the test instead of skipping it.
pub fn required() -> bool {
    std::env::var_os("SMOLFTP_REQUIRE_PEERS").is_some()
}

/// Returns `ok`; when it is false, panics if the peers are required, else says why the test
/// skips.
pub fn require(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(
            !required(),
            "{what} (SMOLFTP_REQUIRE_PEERS is set, so this is a failure, not a skip)"
        );
        eprintln!("skipping: {what}");
    }
    ok
}

/// Where `program` is: on PATH, else in the sbin directories (vsftpd lives in /usr/sbin).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The peer program `name` (curl, lftp, python3, vsftpd, tshark), or a skip/failure saying how
/// to install it.
pub fn peer(name: &str) -> Option<PathBuf> {
    let found = find_program(name).filter(|p| match name {
        "python3" => Command::new(p)
            .args(["-c", "import ftplib"])
            .output()
            .is_ok_and(|o| o.status.success()),
        _ => true,
    });
    let package = if name == "python3" { "python3" } else { name };
    if require(
        found.is_some(),
        &format!("{name} is not installed (sudo apt-get install {package})"),
    ) {
        found
    } else {
        None
    }
}

/// Root, the `ip` command and /dev/net/tun: what every namespace test needs.
pub fn can_make_namespaces() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    require(
        root,
        "the TUN tests need root (network namespaces, TUN devices)",
    ) && require(
        find_program("ip").is_some(),
        "the ip command is missing (sudo apt-get install iproute2)",
    ) && require(
        Path::new("/dev/net/tun").exists(),
        "/dev/net/tun is missing (modprobe tun)",
    )
}

/// The repository's root, for scripts/.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A network namespace made for one test, deleted on drop.
pub struct Netns {
    /// Its name, `smolftp-t-<pid>-<n>`.
    pub name: String,
}

impl Netns {
    /// An empty namespace with `lo` up; `None` (skip) when this machine cannot make one.
    pub fn new() -> Option<Netns> {
        if !can_make_namespaces() {
            return None;
        }
        let name = format!(
            "smolftp-t-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let made = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .expect("run ip netns add");
        if !require(
            made.status.success(),
            &format!(
                "cannot create a network namespace: ip netns add {name}: {}",
                String::from_utf8_lossy(&made.stderr).trim()
            ),
        ) {
            return None;
        }
        let ns = Netns { name };
        ns.ok(&["ip", "link", "set", "dev", "lo", "up"]);
        Some(ns)
    }

    /// The lab of scripts/lab-netns.sh in a fresh namespace: TUN devices smolftp-s (kernel
    /// side 10.1.0.1/24) and smolftp-c (kernel side 10.2.0.1/24), IP forwarding on.
    pub fn lab() -> Option<Netns> {
        let ns = Netns::new()?;
        let out = Command::new("bash")
            .arg(repo().join("scripts/lab-netns.sh"))
            .args(["up", &ns.name])
            .output()
            .expect("run scripts/lab-netns.sh");
        assert!(
            out.status.success(),
            "scripts/lab-netns.sh up {} failed: {}",
            ns.name,
            String::from_utf8_lossy(&out.stderr)
        );
        Some(ns)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec` execs it, so the
    /// child's PID is the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c.stdin(Stdio::null()).env_remove("RUST_LOG");
        c
    }

    /// `smolftp ARGS` inside the namespace.
    pub fn smolftp(&self, args: &[&str]) -> Command {
        let mut c = self.command(env!("CARGO_BIN_EXE_smolftp"));
        c.args(args);
        c
    }

    /// Runs `argv` in the namespace and panics unless it succeeds.
    pub fn ok(&self, argv: &[&str]) -> String {
        let out = self
            .command(argv[0])
            .args(&argv[1..])
            .output()
            .expect("run a command in the namespace");
        assert!(
            out.status.success(),
            "in {}: {argv:?} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A TUN device made by scripts/tun-up.sh inside the namespace, kernel side `cidr`.
    pub fn tun(&self, dev: &str, cidr: &str) {
        let script = repo().join("scripts/tun-up.sh");
        let out = self
            .command("bash")
            .arg(&script)
            .args([dev, cidr, "root"])
            .output()
            .expect("run scripts/tun-up.sh");
        assert!(
            out.status.success(),
            "scripts/tun-up.sh {dev} {cidr} failed in {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits (at most `timeout`) until some socket of the namespace listens on TCP `port`.
    pub fn wait_listen(&self, port: u16, timeout: Duration) -> bool {
        let want = format!(":{port:04X}");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let tcp = self.ok(&["cat", "/proc/net/tcp"]);
            // Columns: sl local_address rem_address st ...; st 0A is LISTEN.
            if tcp.lines().skip(1).any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == "0A"
            }) {
                return true;
            }
            sleep(Duration::from_millis(50));
        }
        false
    }

    /// Starts `cmd` (made by [`Netns::command`]) with stdout and stderr in files
    /// `<dir>/<tag>.stdout` and `<dir>/<tag>.stderr`.
    pub fn spawn(&self, mut cmd: Command, dir: &Path, tag: &str) -> Proc {
        let stdout = dir.join(format!("{tag}.stdout"));
        let stderr = dir.join(format!("{tag}.stderr"));
        cmd.stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {tag}: {e}"));
        Proc {
            child,
            tag: tag.to_string(),
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    /// Runs `cmd` to completion, killing it (and failing) after `timeout`.
    pub fn run(&self, cmd: Command, dir: &Path, tag: &str, timeout: Duration) -> Finished {
        self.spawn(cmd, dir, tag).finish(timeout)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Whatever still runs in the namespace was started by this test (a daemon's session
        // processes, say): end it by PID, then delete the namespace.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<libc::pid_t>() {
                    // SAFETY: kill(2) on a PID of this test's namespace; no memory involved.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A process started in a namespace; killed by PID on drop if it still runs.
pub struct Proc {
    child: std::process::Child,
    /// Name used in messages and output files.
    pub tag: String,
    /// File holding its stdout.
    pub stdout: PathBuf,
    /// File holding its stderr.
    pub stderr: PathBuf,
    started: Instant,
}

/// How a process ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// From start to exit.
    pub elapsed: Duration,
}

impl Finished {
    /// Panics with the output unless the exit status is 0.
    pub fn success(self, what: &str) -> Finished {
        assert!(
            self.status.success(),
            "{what} failed ({}) after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.elapsed,
            tail(&self.stdout),
            tail(&self.stderr)
        );
        self
    }
}

/// The last few KB of `s`, for messages.
pub fn tail(s: &str) -> &str {
    let mut cut = s.len().saturating_sub(6000);
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    &s[cut..]
}

impl Proc {
    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr so far.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }

    /// Waits (at most `timeout`) for `needle` on its stderr; panics if it exits first or the
    /// time runs out.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.stderr_text();
            if text.contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before printing {needle:?}:\n{}",
                    self.tag,
                    tail(&text)
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not print {needle:?} within {timeout:?}:\n{}",
                self.tag,
                tail(&text)
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to it, by PID.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the PID of a child this test started and has not reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Its exit status once it has exited, waiting at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for a child") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(10));
        }
    }

    /// Waits (at most `timeout`) for it to exit and collects its output; kills it and panics
    /// when the time runs out.
    pub fn finish(mut self, timeout: Duration) -> Finished {
        let status = self.wait(timeout);
        let elapsed = self.started.elapsed();
        let stdout =
            String::from_utf8_lossy(&std::fs::read(&self.stdout).unwrap_or_default()).into_owned();
        let stderr = self.stderr_text();
        let Some(status) = status else {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
            panic!(
                "{} did not finish within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.tag,
                tail(&stdout),
                tail(&stderr)
            );
        };
        Finished {
            status,
            stdout,
            stderr,
            elapsed,
        }
    }

    /// SIGINT, then its exit within `timeout` (killed and failing otherwise).
    pub fn interrupt(self, timeout: Duration) -> Finished {
        self.signal(libc::SIGINT);
        self.finish(timeout)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Writes `size` bytes of a deterministic pseudo-random pattern (xorshift64 from `seed`).
pub fn pattern_file(path: &Path, size: usize, seed: u64) {
    let mut x = seed | 1;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, File::create(path).expect("create"));
    let mut left = size;
    let mut chunk = vec![0u8; 1 << 16];
    while left > 0 {
        for word in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes()[..word.len()]);
        }
        let n = left.min(chunk.len());
        out.write_all(&chunk[..n]).expect("write pattern");
        left -= n;
    }
    out.flush().expect("flush pattern");
}

/// Panics unless the two files hold the same bytes (so the same SHA-256), naming the first
/// difference.
pub fn assert_same_file(got: &Path, want: &Path) {
    let len = |p: &Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .len()
    };
    let (g, w) = (len(got), len(want));
    assert_eq!(
        g,
        w,
        "{} has {g} bytes, {} has {w}",
        got.display(),
        want.display()
    );
    let mut a = BufReader::with_capacity(1 << 20, File::open(got).expect("open"));
    let mut b = BufReader::with_capacity(1 << 20, File::open(want).expect("open"));
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut offset = 0u64;
    loop {
        let n = a.read(&mut ba).expect("read");
        if n == 0 {
            return;
        }
        b.read_exact(&mut bb[..n]).expect("read");
        if ba[..n] != bb[..n] {
            let i = (0..n).find(|&i| ba[i] != bb[i]).unwrap_or(0);
            panic!(
                "{} differs from {} at byte {}",
                got.display(),
                want.display(),
                offset + i as u64
            );
        }
        offset += n as u64;
    }
}

/// The size of `path`, 0 when it is not there yet.
pub fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
