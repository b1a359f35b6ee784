//! The `smolftp` command: turns flags into configuration, runs one job, maps failures to exit
//! codes (1: the job failed; 2: a usage mistake, from clap). No protocol or stack logic here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod choice;
mod extcap;
mod impair_args;
mod relay_args;
mod stack_args;
mod teach_args;
use choice::{CaptureFormat, CaptureSegments, Cc, Fin, Tap};
use impair_args::{ImpairArgs, LinkArgs, clock_seed, parse_delay_ms};
use stack_args::StackArgs;
use teach_args::{ExerciseArgs, GradeArgs, ReportArgs, run_exercise, run_grade, run_report};

use smolftp::bench::{self, BenchOptions};
use smolftp::demo::{self, DemoOptions};
use smolftp::ftp::server::ServerConfig;
use smolftp::ftp::server::guard::{DEFAULT_WINDOW, LoginGuard};
use smolftp::lab::{LabConfig, RunError};
use smolftp::link::CableConfig;
use smolftp::live::{self, ClientOptions, NetOptions, ServerOptions};
use smolftp::net::ports::PortRange;
use smolftp::net::stacks::StackConfig;
use smolftp::trace::{self, LadderOptions};
use smoltcp::wire::{Ipv4Cidr, Ipv6Cidr};

/// FTP on a userspace TCP/IP stack (smoltcp), with every TCP segment recorded and drawn.
#[derive(Parser, Debug)]
#[command(name = "smolftp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay the textbook active-mode FTP session (LIST, then RETR readme.txt) between two
    /// smoltcp hosts on an in-process cable; write the capture and print its ladder.
    Demo(DemoArgs),
    /// Draw the TCP exchange of a pcap or pcapng file as a ladder diagram.
    Ladder(LadderArgs),
    /// Measure RETR throughput over the in-process cable (real clock), capture off and on.
    Bench(BenchArgs),
    /// Serve a directory over FTP from a smoltcp host on a TUN device, until SIGINT/SIGTERM.
    Server(ServerArgs),
    /// FTP client on a smoltcp host on a TUN device: run COMMANDs, or open an ftp> shell.
    Client(ClientArgs),
    /// Draw a connection of a capture as a time-sequence graph, and its cwnd from a stack log.
    Graph(GraphArgs),
    /// Answer the classic TCP lab questions for each connection of a capture (the answer key).
    Report(ReportArgs),
    /// Make a student's variant of a lab: capture, worksheet.md and key.json.
    Exercise(ExerciseArgs),
    /// Check a student's answers against key.json, or a whole class (--batch) into a CSV.
    Grade(GradeArgs),
    /// Be a Wireshark capture interface (extcap protocol; run by Wireshark, installed by
    /// scripts/install-wireshark.sh): the demo with the options of Wireshark's dialog.
    Extcap(ExtcapArgs),
    /// Forward IP packets between two TUN devices with seeded loss (and the other impairments):
    /// one lossy path for kernel peers and smolftp alike (tests, scripts/bench-loss.sh).
    Relay(relay_args::RelayArgs),
}

#[derive(clap::Args, Debug)]
struct ExtcapArgs {
    /// The extcap flags Wireshark passes (--extcap-interfaces, --extcap-config, --capture
    /// --fifo PATH, ...), `--speed FACTOR`, and any flag of `smolftp demo`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct TunArgs {
    /// Existing TUN interface to attach to (see scripts/tun-up.sh).
    #[arg(long)]
    tun: String,
    /// This host's address and prefix on the TUN network, e.g. 10.7.0.2/24.
    #[arg(long, value_parser = parse_cidr)]
    ip: Ipv4Cidr,
    /// This host's IPv6 address and prefix too, e.g. fd00:7::2/64: control and data over IPv6
    /// (EPRT, EPSV) for clients that come, or a server that is, on IPv6.
    #[arg(long, value_parser = parse_cidr6)]
    ip6: Option<Ipv6Cidr>,
    /// Default gateway, e.g. the kernel's address on the TUN interface.
    #[arg(long)]
    gateway: Option<Ipv4Addr>,
    /// IP MTU (default: the interface's).
    #[arg(long, value_parser = clap::value_parser!(u16).range(576..=65_535))]
    mtu: Option<u16>,
    /// Record every frame to FILE (`-`: pcapng on standard output, for `wireshark -k -i -`).
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// Capture format.
    #[arg(long, value_enum, default_value_t = CaptureFormat::Pcapng)]
    format: CaptureFormat,
    /// Seed of the stack's random numbers (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Congestion control.
    #[arg(long, value_enum, default_value_t = Cc::Reno)]
    cc: Cc,
    /// Socket buffers of data connections, KiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(4..=65_536))]
    buffer_kib: u32,
    /// Hand TCP segments of up to 64 KiB to the kernel, which cuts them to the MSS (TSO):
    /// much faster, but the capture then shows those large segments, not the wire's.
    #[arg(long)]
    offload: bool,
    /// Impairments between smoltcp and the TUN device (seeded by --seed).
    #[command(flatten)]
    impair: ImpairArgs,
    #[command(flatten)]
    stack: StackArgs,
    /// Have the kernel take this host's frames in on a NAPI thread of the interface, merging
    /// runs of segments (GRO) before its TCP sees them (with --no-coalesce; by default the runs
    /// come merged already). Needs root (CAP_NET_ADMIN). --capture still records every
    /// segment; a capture the kernel takes on the interface (tcpdump) shows the merged ones.
    #[arg(long)]
    gro: bool,
    /// How --capture records a TSO send of --offload: `sent`, one frame of up to 64 KiB as
    /// handed to the kernel; `mss`, the MSS-sized frames the kernel cuts it into (the wire's
    /// view, checksums complete, each frame's comment saying it was cut from one send).
    #[arg(long, value_enum, value_name = "VIEW", default_value_t = CaptureSegments::Sent, requires = "offload")]
    capture_segments: CaptureSegments,
    /// Write every segment to the TUN device with a write(2) of its own, so that the kernel
    /// (and a tcpdump on the interface) sees the segments one by one. By default a run of
    /// consecutive segments of one connection goes to the kernel as one large frame that it
    /// takes in at once, as a NIC's GRO merges them off a wire: several times faster. --capture
    /// records every segment either way.
    #[arg(long, conflicts_with = "offload")]
    no_coalesce: bool,
}

#[derive(clap::Args, Debug)]
struct ServerArgs {
    #[command(flatten)]
    net: TunArgs,
    /// Directory served as `/`.
    #[arg(long)]
    root: PathBuf,
    /// Add an account NAME:PASSWORD (anonymous works too, unless --no-anonymous); repeat for
    /// more.
    #[arg(long, value_parser = parse_account)]
    user: Vec<(String, String)>,
    /// Accept uploads (STOR).
    #[arg(long)]
    writable: bool,
    /// Where the FIN of each data connection goes.
    #[arg(long, value_enum, default_value_t = Fin::Seed)]
    fin: Fin,
    /// Local port of active-mode data connections.
    #[arg(long, default_value_t = 20)]
    data_source_port: u16,
    /// Ports offered for passive-mode data connections (PASV/EPSV), FIRST-LAST or one PORT,
    /// from 1024 to 65535; when every one is in use, PASV/EPSV get 425.
    #[arg(long, value_name = "FIRST-LAST", default_value_t = PortRange::PASSIVE_DEFAULT)]
    passive_ports: PortRange,
    /// Sessions served at once; the next one is told 421 and closed.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_sessions: u32,
    /// Let PORT name another host than the client's, or a port below 1024 (FTP bounce: for
    /// labs that study it; refused with 501 by default, as RFC 2577 advises).
    #[arg(long)]
    allow_foreign_port: bool,
    /// Tell a control connection idle this long (no command, no transfer) 421 and close it,
    /// seconds; 0: never.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    idle_timeout: u64,
    /// Answer a wrong password only after this delay, reading nothing else meanwhile (slows
    /// password guessing), milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    login_delay: u64,
    /// End the session with 421 after this many wrong passwords; 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 3)]
    max_login_failures: u32,
    /// Answer 425 when a transfer's data connection has not come within this, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    data_timeout: u64,
    /// Give up a connection whose peer has been silent this long (no ACK, no answer to the
    /// keep-alive probes a quiet control connection sends every half of it), seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=86_400))]
    timeout: u64,
    /// Refuse anonymous logins (users anonymous and ftp): only --user accounts log in.
    #[arg(long, requires = "user")]
    no_anonymous: bool,
    /// With --writable, let anonymous users change files too (by default they only read, and
    /// only --user accounts write).
    #[arg(long, requires = "writable", conflicts_with = "no_anonymous")]
    anonymous_writable: bool,
    /// Refuse every login from a client address (an IPv6 /64) that has failed this many
    /// times within a minute, over all its connections (421); 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_failures_per_address: u32,
    /// Connections whose handshake is not complete (half-open) kept at once; past this the
    /// oldest is dropped (a SYN flood cannot lock real clients out). Also the largest burst of
    /// connects taken at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    half_open: u32,
    /// Drop a half-open connection whose handshake has not completed within this, seconds
    /// (Linux keeps one about 63 s; on a lossy path 5 s lost clients whose ACKs were lost).
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    handshake_timeout: u64,
}

#[derive(clap::Args, Debug)]
struct ClientArgs {
    #[command(flatten)]
    net: TunArgs,
    /// User name.
    #[arg(short = 'u', long = "user", default_value = "anonymous")]
    user: String,
    /// Password.
    #[arg(short = 'p', long = "pass", default_value = "smolftp@")]
    pass: String,
    /// Give up when the server is silent this long, seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// The client's first data port (then +1 per transfer).
    #[arg(long, default_value_t = 5001, value_parser = clap::value_parser!(u16).range(1024..))]
    data_port_base: u16,
    /// Where the FIN of uploads goes.
    #[arg(long, value_enum, default_value_t = Fin::Seed)]
    fin: Fin,
    /// Passive mode: EPSV (then PASV) and connect to the server, instead of PORT and listen.
    #[arg(long)]
    passive: bool,
    /// The server, IP[:PORT] or [IPv6]:PORT (an IPv6 server needs --ip6).
    #[arg(value_parser = parse_server)]
    server: SocketAddr,
    /// Commands of the classic ftp shell, one per argument, e.g. 'get readme.txt' 'ls'.
    commands: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Capture file to write.
    #[arg(long, short, default_value = "smolftp-demo.pcapng")]
    out: PathBuf,
    /// Capture format.
    #[arg(long, value_enum, default_value_t = CaptureFormat::Pcapng)]
    format: CaptureFormat,
    /// Seed of the hosts' random numbers (initial sequence numbers, ...).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// IP MTU of the cable, bytes, 576 to 9000 (with --ipv6, 1280 to 9000).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..=9000))]
    mtu: u16,
    /// One-way delay of the cable, milliseconds, 0 to 10000 (fractions allowed: 0.5).
    #[arg(long, default_value = "1", value_parser = parse_delay_ms)]
    delay: f64,
    /// Where the FIN of each data connection goes.
    #[arg(long, value_enum, default_value_t = Fin::Seed)]
    fin: Fin,
    /// Congestion control of both stacks.
    #[arg(long, value_enum, default_value_t = Cc::Reno)]
    cc: Cc,
    /// Receive window of data connections, bytes, 1024 to 16777216.
    #[arg(long, default_value_t = 65535, value_parser = clap::value_parser!(u32).range(1024..=16_777_216))]
    window: u32,
    /// The server's data source port.
    #[arg(long, default_value_t = 20)]
    data_source_port: u16,
    /// The client's first data port (then +1 per transfer).
    #[arg(long, default_value_t = 5001, value_parser = clap::value_parser!(u16).range(1024..))]
    data_port_base: u16,
    /// Serve this directory instead of the built-in one holding readme.txt.
    #[arg(long)]
    root: Option<PathBuf>,
    /// File to download (RETR).
    #[arg(long, default_value = "readme.txt")]
    file: String,
    /// Add an account to the server, NAME:PASSWORD (the demo client then logs in with it).
    #[arg(long, value_parser = parse_account)]
    user: Option<(String, String)>,
    /// Passive mode: the client sends EPSV and opens each data connection to the server's
    /// port (50000, ...), instead of PORT and the server connecting from port 20.
    #[arg(long)]
    passive: bool,
    /// Control and data over IPv6 (fd00::1 and fd00::2): EPRT |2| instead of PORT.
    #[arg(long)]
    ipv6: bool,
    /// Do not print the ladder.
    #[arg(long, short)]
    quiet: bool,
    /// Also draw the ladder as an SVG picture into this file.
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
    /// Whose interface the capture is taken at: frames that host sends are stamped when sent,
    /// frames it receives when they arrive.
    #[arg(long, value_enum, default_value_t = Tap::Server)]
    tap: Tap,
    #[command(flatten)]
    link: LinkArgs,
    #[command(flatten)]
    impair: ImpairArgs,
    #[command(flatten)]
    stack: StackArgs,
}

#[derive(clap::Args, Debug)]
struct LadderArgs {
    /// A pcap or pcapng file of raw IP, Ethernet or Linux cooked frames.
    file: PathBuf,
    /// Show raw sequence and acknowledgement numbers instead of relative ones.
    #[arg(long)]
    absolute: bool,
    /// All connections in one time-ordered ladder, each arrow tagged with its connection.
    #[arg(long)]
    timeline: bool,
    /// One line per segment: no notes, filters or comments.
    #[arg(long)]
    brief: bool,
    /// Only the connections with this port, or the N-th connection (`#N` always means N-th).
    #[arg(long, value_name = "PORT|N")]
    conn: Option<String>,
    /// Write the ladder as an SVG picture to this file (instead of printing the text).
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
    /// Write the ladder as one self-contained HTML page to this file.
    #[arg(long, value_name = "OUT.html")]
    html: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("graphs").required(true).multiple(true).args(["time_sequence", "cwnd"])))]
struct GraphArgs {
    /// A pcap or pcapng file of raw IP, Ethernet or Linux cooked frames.
    file: PathBuf,
    /// Write the Stevens time-sequence graph (data, ACKs, receive window) to this SVG file.
    #[arg(long, value_name = "OUT.svg")]
    time_sequence: Option<PathBuf>,
    /// The connection to draw: its port or its number (`#N`); default the largest transfer.
    #[arg(long, value_name = "PORT|N")]
    conn: Option<String>,
    /// The stack log (JSON Lines) our stack wrote for this capture.
    #[arg(long, value_name = "LOG")]
    stack_log: Option<PathBuf>,
    /// Write cwnd, ssthresh and bytes in flight over time to this SVG file (needs --stack-log).
    #[arg(long, value_name = "OUT.svg", requires = "stack_log")]
    cwnd: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Size of the file to transfer, MiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    size_mib: u64,
    /// IP MTU of the cable, bytes.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..=65_535))]
    mtu: u16,
    /// Socket buffer of data connections, KiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(4..=65_536))]
    buffer_kib: u32,
    /// Directory for the test file and the capture (default: the system's temp directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Runs of each kind; the best is reported.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Write the capture here instead of into DIR (`/dev/null` measures the capture's own cost,
    /// without the file system's).
    #[arg(long)]
    capture_file: Option<PathBuf>,
    /// Instead: run N sessions at once (login, LIST, RETR of 1 MiB each) on one server host,
    /// and report the time and the memory per session.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    sessions: Option<u32>,
}

fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    let (addr, len) = s
        .split_once('/')
        .ok_or("expected ADDRESS/PREFIX, e.g. 10.7.0.2/24")?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("{addr} is not an IPv4 address"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or(format!("{len} is not a prefix length (0..=32)"))?;
    Ok(Ipv4Cidr::new(addr, len))
}

fn parse_cidr6(s: &str) -> Result<Ipv6Cidr, String> {
    let (addr, len) = s
        .split_once('/')
        .ok_or("expected ADDRESS/PREFIX, e.g. fd00:7::2/64")?;
    let addr: Ipv6Addr = addr
        .parse()
        .map_err(|_| format!("{addr} is not an IPv6 address"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 128)
        .ok_or(format!("{len} is not a prefix length (0..=128)"))?;
    Ok(Ipv6Cidr::new(addr, len))
}

fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 21))
        .map_err(|_| {
            format!("expected IP[:PORT], e.g. 10.7.0.1, 10.7.0.1:2121 or [fd00:7::2]:21, not {s}")
        })
}

fn parse_account(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, pass)) if !name.is_empty() => Ok((name.to_string(), pass.to_string())),
        _ => Err("expected NAME:PASSWORD, e.g. --user alice:secret".into()),
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .init();
    let cli = Cli::parse();
    let result: Result<(), RunError> = match cli.command {
        Command::Demo(args) => run_demo(args),
        Command::Ladder(args) => run_ladder(args),
        Command::Graph(args) => run_graph(args),
        Command::Report(args) => run_report(args),
        Command::Exercise(args) => run_exercise(args),
        Command::Grade(args) => return run_grade(args),
        Command::Bench(args) => run_bench(args),
        Command::Server(args) => run_server(args),
        Command::Client(args) => run_client(args),
        Command::Relay(args) => stop_flag().and_then(|stop| relay_args::run_relay(args, &stop)),
        Command::Extcap(args) => {
            let mut cli = <Cli as clap::CommandFactory>::command();
            cli.build();
            match cli.find_subcommand("demo") {
                Some(demo) => extcap::run(&args.args, demo).map_err(|e| RunError::Other(e.into())),
                None => Err("no demo subcommand".into()),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("smolftp: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_demo(args: DemoArgs) -> Result<(), RunError> {
    let mut lab = LabConfig {
        cable: CableConfig {
            mtu: args.mtu as usize,
            delay: Duration::from_secs_f64(args.delay / 1000.0),
            rate: args.link.rate,
            queue: args.link.queue.map(|q| q as usize),
            jitter: Duration::from_secs_f64(args.link.jitter / 1000.0),
            impair: args.impair.plan(args.seed),
        },
        stacks: StackConfig {
            seed: args.seed,
            congestion: args.cc.into(),
            ipv6: args.ipv6,
            window: args.window as usize,
            initial_window: args.stack.initial_window(),
            min_rto: args.stack.min_rto(),
            tail_loss_probe: args.stack.tail_loss_probe(),
            rack: args.stack.rack,
            byte_counting: args.stack.byte_counting,
            stack_log: args.stack.stack_log,
            ..StackConfig::default()
        },
        tap: args.tap.into(),
        ..LabConfig::default()
    };
    lab.set_fin(args.fin.into());
    lab.server.data_source_port = args.data_source_port;
    lab.client.data_port_base = args.data_port_base;
    lab.client.passive = args.passive;
    if let Some((user, pass)) = args.user {
        lab.client.user = user.clone();
        lab.client.pass = pass.clone();
        lab.server.ftp.accounts.push((user, pass));
    }
    let opts = DemoOptions {
        out: args.out,
        format: args.format.into(),
        lab,
        root: args.root,
        file: args.file,
    };
    if args.svg.is_some() && opts.out == std::path::Path::new("-") {
        return Err(RunError::SvgNeedsFile);
    }
    if args.ipv6 && args.mtu < 1280 {
        return Err(RunError::MtuTooSmallForIpv6(args.mtu));
    }
    if args.link.queue.is_some() && args.link.rate.is_none() {
        return Err(RunError::QueueNeedsRate);
    }
    let impaired = opts.lab.cable.is_impaired() || args.link.jitter > 0.0;
    let report = demo::run(&opts)?;
    if let Some(svg) = &args.svg {
        let frames = trace::read_capture(&opts.out)?;
        let title = format!("smolftp demo: {}", opts.out.display());
        let a = trace::analyze(&frames);
        write_pictures(&a, &LadderOptions::default(), &title, Some(svg), None)?;
    }
    // With `-o -` standard output carries the capture.
    if !args.quiet && opts.out != std::path::Path::new("-") {
        print_out(&report.ladder)?;
    }
    eprintln!(
        "smolftp demo: {} frames in {} ({:.3} s simulated); {} received intact ({} bytes)",
        report.frames,
        opts.out.display(),
        report.elapsed.as_secs_f64(),
        opts.file,
        report.file_bytes
    );
    if impaired {
        eprint!(
            "smolftp demo: the cable, per direction:\n{}",
            report.link_summary()
        );
    }
    Ok(())
}

fn run_ladder(args: LadderArgs) -> Result<(), RunError> {
    let (frames, cut) = trace::read_capture_partial(&args.file)?;
    let a = trace::analyze(&frames);
    let conn = match &args.conn {
        Some(text) => Some(trace::ConnPick::parse(text, &a)?),
        None => None,
    };
    let opts = LadderOptions {
        absolute: args.absolute,
        timeline: args.timeline,
        brief: args.brief,
        conn,
    };
    let title = format!("smolftp ladder: {}", args.file.display());
    let pictures = write_pictures(&a, &opts, &title, args.svg.as_deref(), args.html.as_deref())?;
    let mut ladder = if pictures {
        String::new()
    } else {
        trace::ladder::render_analysis(&a, &opts)
    };
    // A cut file (a capture still being written, `head -c`): draw the complete frames, as
    // tshark does, say where it was cut, and still fail.
    let cut = cut.map(|cut| RunError::CaptureCut {
        cut,
        frames: frames.len(),
    });
    if let Some(cut) = &cut {
        ladder.push_str(&format!("\n{cut}\n"));
    }
    print_out(&ladder)?;
    match cut {
        Some(cut) => Err(cut),
        None => Ok(()),
    }
}

fn run_graph(args: GraphArgs) -> Result<(), RunError> {
    let frames = trace::read_capture(&args.file)?;
    let a = trace::analyze(&frames);
    let pick = match &args.conn {
        Some(text) => Some(trace::ConnPick::parse(text, &a)?),
        None => None,
    };
    let c = trace::graph::pick_connection(&a, pick)?;
    let write = |path: &std::path::Path, text: String| {
        std::fs::write(path, text)
            .map_err(RunError::io(format!("cannot write {}", path.display())))?;
        eprintln!("smolftp: wrote {}", path.display());
        Ok::<(), RunError>(())
    };
    if let Some(out) = &args.time_sequence {
        write(out, trace::graph::time_sequence_svg(&a, c))?;
    }
    if let (Some(out), Some(log)) = (&args.cwnd, &args.stack_log) {
        let text = std::fs::read_to_string(log).map_err(RunError::io(format!(
            "cannot read the stack log {}",
            log.display()
        )))?;
        let records = trace::stacklog::parse_stack_log(&log.display().to_string(), &text)?;
        write(out, trace::graph::cwnd_svg(&records, &a, c)?)?;
    }
    Ok(())
}

/// Writes the SVG and HTML ladders that were asked for; true if any was.
fn write_pictures(
    a: &trace::Analysis,
    opts: &LadderOptions,
    title: &str,
    svg: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
) -> Result<bool, RunError> {
    let write = |path: &std::path::Path, text: String| {
        std::fs::write(path, text)
            .map_err(RunError::io(format!("cannot write {}", path.display())))?;
        eprintln!("smolftp: wrote {}", path.display());
        Ok::<(), RunError>(())
    };
    if let Some(path) = svg {
        write(path, trace::ladder::svg::ladder_svg(a, opts, title))?;
    }
    if let Some(path) = html {
        write(path, trace::ladder::svg::ladder_html(a, opts, title))?;
    }
    Ok(svg.is_some() || html.is_some())
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
fn print_out(text: &str) -> Result<(), RunError> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(RunError::Stdout(e)),
        _ => Ok(()),
    }
}

fn run_bench(args: BenchArgs) -> Result<(), RunError> {
    if let Some(n) = args.sessions {
        let dir = args.dir.unwrap_or_else(std::env::temp_dir);
        let m = bench::sessions(n as usize, &dir)?;
        println!(
            "{} sessions at once (LIST + RETR 1 MiB each, every byte checked): {:.3} s, {:.0} KiB of memory per session",
            m.sessions,
            m.elapsed.as_secs_f64(),
            m.memory_per_session as f64 / 1024.0
        );
        return Ok(());
    }
    let opts = BenchOptions {
        size: args.size_mib << 20,
        mtu: args.mtu as usize,
        buffer: (args.buffer_kib as usize) << 10,
        dir: args.dir.unwrap_or_else(std::env::temp_dir),
        runs: args.runs,
        capture: args.capture_file,
    };
    eprintln!(
        "smolftp bench: RETR of {} MiB over the in-process cable, MTU {}, buffers {} KiB, real clock",
        args.size_mib, args.mtu, args.buffer_kib
    );
    let (off, on) = bench::run(&opts)?;
    let (g_off, g_on) = (off.gbps(opts.size), on.gbps(opts.size));
    println!(
        "capture off: {g_off:.2} Gbit/s ({:.3} s)",
        off.elapsed.as_secs_f64()
    );
    println!(
        "capture on:  {g_on:.2} Gbit/s ({:.3} s, {} frames, {:.1} MiB of pcapng)",
        on.elapsed.as_secs_f64(),
        on.frames,
        on.capture_bytes as f64 / (1 << 20) as f64
    );
    println!(
        "capture cost: {:.0}% of the capture-off rate",
        (1.0 - g_on / g_off) * 100.0
    );
    Ok(())
}

fn net_options(args: TunArgs) -> NetOptions {
    NetOptions {
        tun: args.tun,
        ip: args.ip,
        ip6: args.ip6,
        gateway: args.gateway,
        mtu: args.mtu.map(usize::from),
        capture: args.capture,
        format: args.format.into(),
        seed: args.seed,
        congestion: args.cc.into(),
        buffer: (args.buffer_kib as usize) << 10,
        offload: args.offload,
        impair: args.impair.plan(args.seed.unwrap_or_else(clock_seed)),
        initial_window: args.stack.initial_window(),
        min_rto: args.stack.min_rto(),
        tail_loss_probe: args.stack.tail_loss_probe(),
        rack: args.stack.rack,
        byte_counting: args.stack.byte_counting,
        stack_log: args.stack.stack_log,
        gro: args.gro,
        capture_segments: args.capture_segments == CaptureSegments::Mss,
        coalesce: !args.no_coalesce,
    }
}

/// A flag set by SIGINT and SIGTERM.
fn stop_flag() -> Result<Arc<AtomicBool>, RunError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|source| RunError::Signal { signal, source })?;
    }
    Ok(stop)
}

fn run_server(args: ServerArgs) -> Result<(), RunError> {
    let opts = ServerOptions {
        net: net_options(args.net),
        ftp: ServerConfig {
            accounts: args.user,
            anonymous: !args.no_anonymous,
            writable: args.writable,
            fin: args.fin.into(),
            allow_foreign_port: args.allow_foreign_port,
            max_login_failures: args.max_login_failures,
            idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
            login_failure_delay: Duration::from_millis(args.login_delay),
            data_timeout: Duration::from_secs(args.data_timeout),
            anonymous_writable: args.anonymous_writable,
            login_guard: LoginGuard::new(args.max_failures_per_address, DEFAULT_WINDOW),
            ..ServerConfig::new(args.root)
        },
        data_source_port: args.data_source_port,
        passive_ports: args.passive_ports,
        max_sessions: args.max_sessions as usize,
        timeout: Duration::from_secs(args.timeout),
        half_open: args.half_open as usize,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
    };
    live::run_server(&opts, &*stop_flag()?)
}

fn run_client(args: ClientArgs) -> Result<(), RunError> {
    let opts = ClientOptions {
        net: net_options(args.net),
        server: args.server,
        user: args.user,
        pass: args.pass,
        data_port_base: args.data_port_base,
        fin: args.fin.into(),
        timeout: Duration::from_secs(args.timeout),
        passive: args.passive,
        commands: args.commands,
    };
    live::run_client(&opts, &*stop_flag()?)
}
