//! # `smolftp extcap`: smolftp as a capture interface of Wireshark
//!
//! Layer: command line (binary only). Job: speak Wireshark's extcap protocol
//! (<https://www.wireshark.org/docs/wsdg_html_chunked/ChCaptureExtcap.html>): list our
//! interface (`--extcap-interfaces`), its link type (`--extcap-dlts`), its options dialog
//! generated from the demo's own flags (`--extcap-config`, see [`config`]), and capture
//! (`--capture --fifo PATH`): run `smolftp demo` with the chosen flags, then feed its pcapng to
//! the FIFO at the lab's pace times `--speed` ([`stream`]). Every other flag Wireshark passes is
//! a demo flag, handed to the demo unchanged, so the capture is the demo's frame for frame.

pub mod config;
mod error;
pub mod stream;

pub use error::ExtcapError;

use std::fs::OpenOptions;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Our one interface: the demo on the in-process cable.
pub const INTERFACE: &str = "smolftp-demo";
/// LINKTYPE_RAW: the demo's frames are raw IP packets.
const DLT_RAW: u32 = 101;

/// What Wireshark asked for, and the demo flags it passed.
#[derive(Debug, Default)]
struct Request {
    interfaces: bool,
    dlts: bool,
    config: bool,
    capture: bool,
    interface: Option<String>,
    fifo: Option<PathBuf>,
    filter: Option<String>,
    control_in: Option<PathBuf>,
    control_out: Option<PathBuf>,
    speed: Option<String>,
    demo: Vec<String>,
}

/// Extcap flags that take a value (`--flag VALUE` or `--flag=VALUE`).
const WITH_VALUE: &[&str] = &[
    "--extcap-version",
    "--extcap-interface",
    "--fifo",
    "--extcap-capture-filter",
    "--extcap-control-in",
    "--extcap-control-out",
    "--extcap-reload-option",
    "--speed",
];

fn parse(args: &[String]) -> Result<Request, ExtcapError> {
    let mut r = Request::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        if WITH_VALUE.contains(&name) {
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| ExtcapError::NeedsValue(name.to_string()))?,
            };
            match name {
                "--extcap-interface" => r.interface = Some(value),
                "--fifo" => r.fifo = Some(value.into()),
                "--extcap-capture-filter" => r.filter = Some(value),
                "--extcap-control-in" => r.control_in = Some(value.into()),
                "--extcap-control-out" => r.control_out = Some(value.into()),
                "--speed" => r.speed = Some(value),
                _ => {}
            }
            continue;
        }
        match name {
            "--extcap-interfaces" => r.interfaces = true,
            "--extcap-dlts" => r.dlts = true,
            "--extcap-config" => r.config = true,
            "--capture" => r.capture = true,
            _ => r.demo.push(a.clone()),
        }
    }
    Ok(r)
}

fn check_interface(r: &Request) -> Result<(), ExtcapError> {
    match r.interface.as_deref() {
        Some(INTERFACE) => Ok(()),
        Some(other) => Err(ExtcapError::NoInterface(other.to_string())),
        None => Err(ExtcapError::InterfaceMissing),
    }
}

fn speed(r: &Request) -> Result<f64, ExtcapError> {
    match &r.speed {
        None => Ok(config::SPEED_DEFAULT),
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|v| (0.0..=config::SPEED_MAX).contains(v))
            .ok_or_else(|| ExtcapError::Speed(s.clone())),
    }
}

/// Runs one extcap request; `demo` is clap's `demo` subcommand (for the options dialog).
pub fn run(args: &[String], demo: &clap::Command) -> Result<(), ExtcapError> {
    let r = parse(args)?;
    if r.interfaces {
        print!(
            "extcap {{version={}}}\n\
             interface {{value={INTERFACE}}}{{display=smolftp lab: FTP demo on the in-process cable}}\n",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(());
    }
    if r.dlts {
        check_interface(&r)?;
        println!("dlt {{number={DLT_RAW}}}{{name=RAW}}{{display=Raw IP (smolftp lab)}}");
        return Ok(());
    }
    if r.config {
        print!("{}", config::write_config(demo)?);
        return Ok(());
    }
    if r.capture {
        check_interface(&r)?;
        return capture(&r);
    }
    if r.filter.is_some() {
        // Wireshark checks a capture filter this way: every filter is accepted (the lab's
        // frames are all of the lab; filter them with a display filter).
        return Ok(());
    }
    Err(ExtcapError::NothingAsked)
}

/// Watches a control pipe in the background: its end (Wireshark closed it) means stop.
fn watch_control(path: PathBuf, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        if let Ok(mut pipe) = OpenOptions::new().read(true).open(&path) {
            let mut buf = [0u8; 512];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
}

/// Keeps the control-out pipe open (Wireshark waits for a writer); we send no controls.
fn hold_control_out(path: PathBuf) {
    std::thread::spawn(move || {
        if let Ok(pipe) = OpenOptions::new().write(true).open(&path) {
            std::mem::forget(pipe);
        }
    });
}

/// True when the reading end of the FIFO `fd` writes to is closed (poll reports an error).
fn reader_gone(fd: std::os::fd::RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

fn capture(r: &Request) -> Result<(), ExtcapError> {
    let speed = speed(r)?;
    let fifo = r.fifo.clone().ok_or(ExtcapError::NeedsFifo)?;
    let exe = std::env::current_exe().map_err(ExtcapError::OwnBinary)?;
    // The demo itself, its capture on standard output: the same frames as `smolftp demo`.
    let child = Command::new(exe)
        .args(["demo", "--quiet", "--out", "-"])
        .args(&r.demo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(ExtcapError::RunDemo)?;
    // Wireshark shows whatever an extcap writes to standard error as an error: the demo's
    // report is said only when it failed.
    if !child.status.success() {
        return Err(ExtcapError::DemoFailed {
            options: r.demo.join(" "),
            stderr: String::from_utf8_lossy(&child.stderr).trim().to_string(),
        });
    }
    let blocks = stream::blocks(&child.stdout)?;
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(path) = r.control_in.clone() {
        watch_control(path, stop.clone());
    }
    if let Some(path) = r.control_out.clone() {
        hold_control_out(path);
    }
    let mut out = OpenOptions::new()
        .write(true)
        .open(&fifo)
        .map_err(|source| ExtcapError::OpenFifo {
            path: fifo.clone(),
            source,
        })?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&out);
    stream::replay(&blocks, &mut out, speed, &stop, &|| reader_gone(fd))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn extcap_flags_are_taken_and_the_rest_goes_to_the_demo() {
        let r = parse(&strings(&[
            "--capture",
            "--extcap-interface",
            "smolftp-demo",
            "--fifo=/tmp/f",
            "--extcap-capture-filter",
            "tcp port 21",
            "--speed",
            "0.5",
            "--delay",
            "5",
            "--passive",
        ]))
        .unwrap();
        assert!(r.capture);
        assert_eq!(r.interface.as_deref(), Some(INTERFACE));
        assert_eq!(r.fifo, Some(PathBuf::from("/tmp/f")));
        assert_eq!(r.filter.as_deref(), Some("tcp port 21"));
        assert_eq!(speed(&r).unwrap(), 0.5);
        assert_eq!(r.demo, strings(&["--delay", "5", "--passive"]));
    }

    #[test]
    fn mistakes_are_told() {
        assert!(parse(&strings(&["--fifo"])).is_err());
        let r = parse(&strings(&["--extcap-interface", "eth0", "--speed", "-1"])).unwrap();
        assert!(
            check_interface(&r)
                .unwrap_err()
                .to_string()
                .contains("smolftp-demo")
        );
        assert!(speed(&r).is_err());
    }
}
