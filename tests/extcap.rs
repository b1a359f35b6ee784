//! Wireshark-native: `smolftp extcap` checked by the rules of Wireshark's extcap documentation,
//! fed to a FIFO as Wireshark reads it, and run by the real tshark after
//! scripts/install-wireshark.sh put it into a temporary personal folder. Needs tshark; where the
//! peers are required (`SMOLFTP_REQUIRE_PEERS=1`, set by scripts/test.sh in CI and as root) a
//! missing tshark fails these tests.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Scratch, demo, smolftp};

fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("SMOLFTP_REQUIRE_PEERS").is_none(),
            "tshark is required here (SMOLFTP_REQUIRE_PEERS is set) but cannot be run: \
             apt-get install -y tshark"
        );
        eprintln!("skipping: tshark is not installed (sudo apt-get install tshark)");
    }
    ok
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

/// One sentence of the extcap protocol: `keyword {key=value}{key=value}...`.
fn sentence(line: &str) -> (String, BTreeMap<String, String>) {
    let (keyword, mut rest) = line.split_once(' ').expect("keyword then {key=value}");
    let mut map = BTreeMap::new();
    while !rest.is_empty() {
        let body = rest
            .strip_prefix('{')
            .unwrap_or_else(|| panic!("{{ expected: {line}"));
        let end = body
            .find('}')
            .unwrap_or_else(|| panic!("}} expected: {line}"));
        let (key, value) = body[..end].split_once('=').expect("key=value");
        assert!(
            map.insert(key.to_string(), value.to_string()).is_none(),
            "{key} twice: {line}"
        );
        rest = &body[end + 1..];
    }
    (keyword.to_string(), map)
}

#[test]
fn the_extcap_answers_follow_the_protocol() {
    let dir = Scratch::new("extcap-proto");
    let interfaces = ok(
        smolftp(&dir.0, &["extcap", "--extcap-interfaces"]),
        "interfaces",
    );
    let lines: Vec<_> = interfaces.lines().map(sentence).collect();
    assert_eq!(lines[0].0, "extcap");
    assert!(lines[0].1.contains_key("version"));
    let ifaces: Vec<_> = lines.iter().filter(|l| l.0 == "interface").collect();
    assert_eq!(ifaces.len(), 1);
    assert_eq!(ifaces[0].1["value"], "smolftp-demo");
    assert!(ifaces[0].1.contains_key("display"));
    let iface = ["--extcap-interface", "smolftp-demo"];
    let dlts = ok(
        smolftp(&dir.0, &[&["extcap", "--extcap-dlts"][..], &iface].concat()),
        "dlts",
    );
    let (kw, dlt) = sentence(dlts.trim());
    assert_eq!(kw, "dlt");
    assert_eq!(dlt["number"], "101", "raw IP, as the demo's capture");
    assert!(dlt.contains_key("name") && dlt.contains_key("display"));
    let config = ok(
        smolftp(
            &dir.0,
            &[&["extcap", "--extcap-config"][..], &iface].concat(),
        ),
        "config",
    );
    let mut numbers = Vec::new();
    let mut selectors = BTreeMap::new();
    for line in config.lines() {
        let (kw, m) = sentence(line);
        match kw.as_str() {
            "arg" => {
                for key in ["number", "call", "display", "type"] {
                    assert!(m.contains_key(key), "arg without {key}: {line}");
                }
                let n: u32 = m["number"].parse().expect("number");
                assert_eq!(n as usize, numbers.len(), "numbers in order: {line}");
                numbers.push(m["call"].clone());
                assert!(m["call"].starts_with("--"), "{line}");
                let ty = m["type"].as_str();
                let known = [
                    "integer", "unsigned", "long", "double", "string", "boolflag", "selector",
                ];
                assert!(known.contains(&ty), "type {ty}: {line}");
                if let Some(range) = m.get("range") {
                    let (lo, hi) = range.split_once(',').expect("range=min,max");
                    let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
                    assert!(lo <= hi, "{line}");
                    if let Some(d) = m.get("default") {
                        let d: f64 = d.parse().expect("numeric default");
                        assert!((lo..=hi).contains(&d), "default out of range: {line}");
                    }
                }
                if ty == "selector" {
                    selectors.insert(n, 0);
                }
            }
            "value" => {
                let n: u32 = m["arg"].parse().expect("value's arg");
                *selectors.get_mut(&n).expect("value of a selector arg") += 1;
                assert!(
                    m.contains_key("value") && m.contains_key("display"),
                    "{line}"
                );
            }
            other => panic!("unknown sentence {other}: {line}"),
        }
    }
    assert!(
        selectors.values().all(|&v| v >= 2),
        "every selector has values"
    );
    for call in [
        "--delay",
        "--mtu",
        "--loss",
        "--window",
        "--cc",
        "--passive",
        "--speed",
    ] {
        assert!(numbers.iter().any(|c| c == call), "{call} offered");
    }
}

/// Runs the extcap's capture into a FIFO read by a thread; returns what the reader got.
fn capture_via_fifo(dir: &Path, demo_args: &[&str]) -> Vec<u8> {
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).expect("read the FIFO"))
    };
    let mut args = vec![
        "extcap",
        "--capture",
        "--extcap-interface",
        "smolftp-demo",
        "--fifo",
        fifo.to_str().unwrap(),
        "--speed",
        "0",
    ];
    args.extend_from_slice(demo_args);
    let o = smolftp(dir, &args);
    assert!(
        o.status.success(),
        "extcap capture failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stderr.is_empty(), "stderr is an error to Wireshark");
    reader.join().expect("reader")
}

#[test]
fn a_capture_into_the_fifo_is_the_demo_byte_for_byte() {
    let dir = Scratch::new("extcap-fifo");
    let knobs = [
        "--seed", "5", "--loss", "8", "--delay", "3", "--mtu", "1200",
    ];
    let got = capture_via_fifo(&dir.0, &knobs);
    demo(&dir.0, "ref.pcapng", &[&["--quiet"][..], &knobs].concat());
    let want = std::fs::read(dir.path("ref.pcapng")).unwrap();
    assert!(got.len() > 1000);
    assert!(got == want, "FIFO capture differs from `smolftp demo`");
}

#[test]
fn a_bad_knob_is_told_and_fails() {
    let dir = Scratch::new("extcap-bad");
    let o = smolftp(
        &dir.0,
        &[
            "extcap",
            "--capture",
            "--extcap-interface",
            "smolftp-demo",
            "--fifo",
            "/nonexistent/fifo",
            "--mtu",
            "100",
        ],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("576"));
}

/// A temporary personal Wireshark folder with smolftp installed by the script.
fn installed(dir: &Path) -> PathBuf {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-wireshark.sh");
    let o = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_smolftp"))
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .expect("run install-wireshark.sh");
    ok(o, "install-wireshark.sh");
    home
}

fn tshark_at(home: &Path, args: &[&str]) -> String {
    let o = Command::new("tshark")
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .expect("run tshark");
    ok(o, &format!("tshark {args:?}"))
}

/// What identifies a capture: every frame's bytes and comment.
fn signature(home: &Path, file: &Path) -> String {
    tshark_at(
        home,
        &[
            "-r",
            file.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "data",
            "-e",
            "frame.comment",
        ],
    )
}

#[test]
fn tshark_lists_and_captures_the_installed_extcap() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("extcap-tshark");
    let home = installed(&dir.0);
    let list = tshark_at(&home, &["-D"]);
    assert!(
        list.contains("smolftp-demo (smolftp lab"),
        "tshark -D: {list}"
    );
    let out = dir.path("out.pcapng");
    // The extcap ends when the lab is over; the duration only bounds a broken run.
    tshark_at(
        &home,
        &[
            "-i",
            "smolftp-demo",
            "-o",
            "extcap.smolftp_demo.seed:7",
            "-o",
            "extcap.smolftp_demo.loss:5",
            "-o",
            "extcap.smolftp_demo.speed:0",
            "-a",
            "duration:20",
            "-w",
            out.to_str().unwrap(),
        ],
    );
    demo(
        &dir.0,
        "ref.pcapng",
        &["--quiet", "--seed", "7", "--loss", "5"],
    );
    let got = signature(&home, &out);
    assert!(got.lines().count() >= 30, "the whole session: {got}");
    assert_eq!(got, signature(&home, &dir.path("ref.pcapng")));
    // The installed Lua script and profile work on it: the smolftp columns.
    let rows = tshark_at(&home, &["-C", "smolftp", "-r", out.to_str().unwrap()]);
    let first = rows.lines().next().expect("a row");
    assert!(
        first.contains("SYN (active open)"),
        "profile columns: {first}"
    );
}

#[test]
fn closing_the_fifo_stops_a_slow_capture() {
    use std::io::Read;
    let dir = Scratch::new("extcap-close");
    let fifo = dir.path("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // 100 ms of cable delay replayed 1000 times slower: hours if nobody stopped it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_smolftp"))
        .args([
            "extcap",
            "--capture",
            "--extcap-interface",
            "smolftp-demo",
            "--fifo",
        ])
        .arg(&fifo)
        .args(["--speed", "0.001", "--delay", "100"])
        .spawn()
        .expect("run the extcap");
    let mut head = [0u8; 64];
    std::fs::File::open(&fifo)
        .and_then(|mut f| f.read_exact(&mut head))
        .expect("read the start of the capture");
    // The reader is gone (dropped): the extcap must end soon, and cleanly.
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the extcap did not stop within 10 s of the FIFO's close");
    };
    assert!(status.success(), "a stop is not a failure: {status}");
    assert_eq!(
        &head[..4],
        &[0x0a, 0x0d, 0x0d, 0x0a],
        "pcapng section header first"
    );
}

#[test]
fn closing_the_control_pipe_stops_the_capture() {
    use std::io::Read;
    let dir = Scratch::new("extcap-control");
    let fifo = dir.path("fifo");
    let control = dir.path("control-in");
    for f in [&fifo, &control] {
        assert!(Command::new("mkfifo").arg(f).status().unwrap().success());
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_smolftp"))
        .args([
            "extcap",
            "--capture",
            "--extcap-interface",
            "smolftp-demo",
            "--fifo",
        ])
        .arg(&fifo)
        .arg("--extcap-control-in")
        .arg(&control)
        .args(["--speed", "0.001", "--delay", "100"])
        .spawn()
        .expect("run the extcap");
    // Wireshark holds the control pipe open while it captures, and reads the FIFO to its end.
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&control)
        .unwrap();
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let mut head = [0u8; 64];
    reader.read_exact(&mut head).unwrap();
    drop(writer);
    let mut rest = Vec::new();
    // Ends (EOF) when the extcap stops and closes the FIFO; not hours later.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = reader.read_to_end(&mut rest);
        let _ = tx.send(());
    });
    let stopped = rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok();
    if !stopped {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    assert!(
        stopped,
        "the extcap did not stop within 10 s of the control pipe's close"
    );
    assert!(status.success(), "a stop is not a failure: {status}");
}
