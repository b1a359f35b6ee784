//! # The seed session
//!
//! Layer: application (composes every other layer). `smolftp demo` puts an FTP server
//! (10.0.0.1) and an FTP client (10.0.0.2) on two smoltcp hosts joined by an in-process cable,
//! replays the active-mode session of the textbook figure (login, `PORT` 5001 + `LIST`, `PORT`
//! 5002 + `RETR readme.txt`, `QUIT`) on a virtual clock, records every frame once, as a tap on
//! the cable would, and returns the capture's ladder. Same options, byte-identical capture.

use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

use crate::ftp::FinPolicy;
use crate::ftp::client::{Client, ClientConfig, Step};
use crate::ftp::jail::Jail;
use crate::ftp::server::ServerConfig;
use crate::link::{Capture, Direction, Format, Recorder, WireConfig, wire};
use crate::net::client::ClientNode;
use crate::net::conduit::DataOptions;
use crate::net::host::{Congestion, Host, HostConfig, SocketOptions};
use crate::net::server::{ServerNet, ServerNode};
use crate::net::sim::{Clock, Sim};
use crate::trace::{self, LadderOptions};

/// The file the demo serves.
pub const README: &str = include_str!("readme.txt");

/// The moment the virtual clock starts, and the date of the served files: 2024-01-01 00:00 UTC.
pub const EPOCH_SECS: u64 = 1_704_067_200;

/// Server address of the demo.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Client address of the demo.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Everything a lab can change about the demo.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Capture file to write.
    pub out: PathBuf,
    /// Its format.
    pub format: Format,
    /// Seed of the hosts' random numbers (the server gets this one, the client another).
    pub seed: u64,
    /// IP MTU of the cable.
    pub mtu: usize,
    /// One-way delay of the cable.
    pub delay: StdDuration,
    /// Where the FINs of data connections go.
    pub fin: FinPolicy,
    /// Congestion control of both stacks.
    pub congestion: Congestion,
    /// The server's data source port (20).
    pub data_source_port: u16,
    /// The client's first data port (5001).
    pub data_port_base: u16,
    /// Receive window (buffer) of data connections, bytes.
    pub window: usize,
    /// Serve this directory instead of the built-in one holding readme.txt.
    pub root: Option<PathBuf>,
    /// The file to download.
    pub file: String,
    /// Extra accounts (`name`, `password`) for the server.
    pub accounts: Vec<(String, String)>,
    /// The client's login.
    pub login: (String, String),
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            out: PathBuf::from("smolftp-demo.pcapng"),
            format: Format::Pcapng,
            seed: 1,
            mtu: 1500,
            delay: StdDuration::from_millis(1),
            fin: FinPolicy::Seed,
            congestion: Congestion::Reno,
            data_source_port: 20,
            data_port_base: 5001,
            window: 65535,
            root: None,
            file: "readme.txt".into(),
            accounts: Vec::new(),
            login: ("anonymous".into(), "student@example.org".into()),
        }
    }
}

/// What a demo run produced.
#[derive(Debug)]
pub struct DemoReport {
    /// The ladder of the capture.
    pub ladder: String,
    /// Frames recorded.
    pub frames: u64,
    /// Simulated duration of the session.
    pub elapsed: Duration,
    /// The listing the client received.
    pub listing: String,
    /// Bytes of the downloaded file (identical to the served one: checked).
    pub file_bytes: u64,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "smolftp-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Writes the demo's served directory: `readme.txt`, mode 0644, dated [`EPOCH_SECS`], so that
/// its listing is the same on every machine and every day.
fn write_demo_root(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let file = dir.join("readme.txt");
    fs::write(&file, README)?;
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644))?;
    let date = UNIX_EPOCH + StdDuration::from_secs(EPOCH_SECS);
    fs::File::options().write(true).open(&file)?.set_modified(date)?;
    Ok(())
}

fn err(context: &str, e: impl std::fmt::Display) -> String {
    format!("{context}: {e}")
}

/// Runs the seed session and writes its capture to `opts.out`.
pub fn run(opts: &DemoOptions) -> Result<DemoReport, String> {
    let scratch = TempDir::new("demo").map_err(|e| err("cannot make a scratch directory", e))?;
    let root = match &opts.root {
        Some(root) => root.clone(),
        None => {
            let root = scratch.0.join("root");
            fs::create_dir_all(&root).map_err(|e| err("cannot make the served directory", e))?;
            write_demo_root(&root).map_err(|e| err("cannot write readme.txt", e))?;
            root
        }
    };
    let downloads = scratch.0.join("downloads");
    fs::create_dir_all(&downloads).map_err(|e| err("cannot make the download directory", e))?;
    let local_file = downloads.join("download");

    let recorder = Recorder::create(&opts.out, opts.format).map_err(|e| e.to_string())?;
    let iface = recorder
        .add_interface(&format!("cable {SERVER_IP} <-> {CLIENT_IP}, seen from {SERVER_IP}"))
        .map_err(|e| err("cannot write the capture", e))?;
    let (server_end, client_end) = wire::pair(WireConfig {
        mtu: opts.mtu,
        delay: Duration::from_micros(opts.delay.as_micros() as u64),
    });
    let server_dev = Capture::tap(server_end, recorder.clone(), iface, Direction::Outbound);
    let client_dev = Capture::tap(client_end, recorder.clone(), iface, Direction::Inbound);

    let start = Instant::from_secs(EPOCH_SECS as i64);
    let host = |name: &str, ip: Ipv4Addr, seed: u64| HostConfig {
        name: name.into(),
        addr: Ipv4Cidr::new(Ipv4Address::from(ip), 24),
        gateway: None,
        seed,
        congestion: opts.congestion,
    };
    let mut server_host = Host::new(host("server", SERVER_IP, opts.seed), server_dev, start);
    let client_seed = opts.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED;
    let mut client_host = Host::new(host("client", CLIENT_IP, client_seed), client_dev, start);
    server_host.set_recorder(recorder.clone());
    client_host.set_recorder(recorder.clone());

    let (control_socket, data) = socket_options(opts.window);
    let jail = Jail::new(&root).map_err(|e| err(&format!("cannot serve {}", root.display()), e))?;
    let server_config = ServerConfig {
        root: root.clone(),
        accounts: opts.accounts.clone(),
        anonymous: true,
        writable: false,
        fin: opts.fin,
        greeting: "smolftp demo server ready.".into(),
    };
    let server = ServerNode::new(
        &mut server_host,
        Arc::new(server_config),
        Arc::new(jail),
        ServerNet {
            control_port: 21,
            listeners: 1,
            max_sessions: 4,
            control_socket,
            data: DataOptions {
                source_port: Some(opts.data_source_port),
                ..data
            },
        },
    );
    let client = Client::new(
        ClientConfig {
            user: opts.login.0.clone(),
            pass: opts.login.1.clone(),
            local_ip: CLIENT_IP,
            data_port_base: opts.data_port_base,
            fin: opts.fin,
        },
        vec![
            Step::List(None),
            Step::Retr {
                remote: opts.file.clone(),
                local: local_file.clone(),
            },
        ],
    );
    let client = ClientNode::connect(
        &mut client_host,
        SocketAddrV4::new(SERVER_IP, 21),
        client,
        control_socket,
        data,
    )
    .map_err(|e| err("cannot open the control connection", e))?;

    let mut sim = Sim {
        server_host,
        server,
        client_host,
        client,
    };
    let wall = UNIX_EPOCH + StdDuration::from_secs(EPOCH_SECS);
    let end = sim
        .run(Clock::Virtual(start), wall, Duration::from_secs(600))
        .map_err(|e| err("the demo session failed", e))?;
    let frames = recorder
        .finish()
        .map_err(|e| err(&format!("cannot write {}", opts.out.display()), e))?;

    let client = sim.client.client();
    if let Some(e) = client.error() {
        return Err(format!("the FTP client failed: {e}"));
    }
    let mut listing = String::new();
    for outcome in client.outcomes() {
        if !outcome.ok {
            return Err(format!(
                "{} failed: {}",
                outcome.step,
                String::from_utf8_lossy(&outcome.reply.to_bytes()).trim_end()
            ));
        }
        if let Some(l) = &outcome.listing {
            listing = String::from_utf8_lossy(l).into_owned();
        }
    }
    let served = fs::read(root.join(&opts.file)).map_err(|e| err("cannot read the served file", e))?;
    let got = fs::read(&local_file).map_err(|e| err("cannot read the downloaded file", e))?;
    if served != got {
        return Err(format!(
            "the downloaded {} differs from the served one ({} vs {} bytes)",
            opts.file,
            got.len(),
            served.len()
        ));
    }

    let frames_read = trace::read_capture(&opts.out).map_err(|e| e.to_string())?;
    let ladder = trace::render(&frames_read, &LadderOptions { absolute: false });
    Ok(DemoReport {
        ladder,
        frames,
        elapsed: end - start,
        listing,
        file_bytes: got.len() as u64,
    })
}

/// Socket settings of the demo and the benchmark: small control buffers with smoltcp's delayed
/// ACK; data connections that acknowledge every segment at once (so the client's ACK of the
/// server's FIN travels before its own FIN, as in the figure) and send without Nagle's delay.
pub fn socket_options(window: usize) -> (SocketOptions, DataOptions) {
    let control = SocketOptions {
        rx_buffer: 8 * 1024,
        tx_buffer: 8 * 1024,
        ack_delay: Some(Duration::from_millis(10)),
        nagle: true,
        timeout: Some(Duration::from_secs(120)),
    };
    let data = DataOptions {
        socket: SocketOptions {
            rx_buffer: window,
            tx_buffer: window.max(64 * 1024),
            ack_delay: None,
            nagle: false,
            timeout: Some(Duration::from_secs(60)),
        },
        source_port: None,
    };
    (control, data)
}
