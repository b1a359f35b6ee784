//! The `smolftp` command: turns flags into configuration, runs one job, maps failures to exit
//! codes (1: the job failed; 2: a usage mistake, from clap). No protocol or stack logic here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use smolftp::bench::{self, BenchOptions};
use smolftp::demo::{self, DemoOptions};
use smolftp::ftp::FinPolicy;
use smolftp::lab::LabConfig;
use smolftp::link::Format;
use smolftp::net::host::Congestion;
use smolftp::trace::{self, LadderOptions};

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
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Capture file to write.
    #[arg(long, short, default_value = "smolftp-demo.pcapng")]
    out: PathBuf,
    /// Capture format.
    #[arg(long, value_enum, default_value_t = Format::Pcapng)]
    format: Format,
    /// Seed of the hosts' random numbers (initial sequence numbers, ...).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// IP MTU of the cable, bytes.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..=9000))]
    mtu: u16,
    /// One-way delay of the cable, milliseconds.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    delay: u64,
    /// Where the FIN of each data connection goes.
    #[arg(long, value_enum, default_value_t = FinPolicy::Seed)]
    fin: FinPolicy,
    /// Congestion control of both stacks.
    #[arg(long, value_enum, default_value_t = Congestion::Reno)]
    cc: Congestion,
    /// Receive window of data connections, bytes.
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
    /// Do not print the ladder.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct LadderArgs {
    /// A pcap or pcapng file of raw IP, Ethernet or Linux cooked frames.
    file: PathBuf,
    /// Show raw sequence and acknowledgement numbers instead of relative ones.
    #[arg(long)]
    absolute: bool,
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
    let result = match cli.command {
        Command::Demo(args) => run_demo(args),
        Command::Ladder(args) => run_ladder(args),
        Command::Bench(args) => run_bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("smolftp: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_demo(args: DemoArgs) -> Result<(), String> {
    let mut lab = LabConfig {
        seed: args.seed,
        mtu: args.mtu as usize,
        delay: Duration::from_millis(args.delay),
        fin: args.fin,
        congestion: args.cc,
        data_source_port: args.data_source_port,
        data_port_base: args.data_port_base,
        window: args.window as usize,
        ..LabConfig::default()
    };
    if let Some(account) = args.user {
        lab.login = account.clone();
        lab.accounts.push(account);
    }
    let opts = DemoOptions {
        out: args.out,
        format: args.format,
        lab,
        root: args.root,
        file: args.file,
    };
    let report = demo::run(&opts)?;
    if !args.quiet {
        print!("{}", report.ladder);
    }
    eprintln!(
        "smolftp demo: {} frames in {} ({:.3} s simulated); {} received intact ({} bytes)",
        report.frames,
        opts.out.display(),
        report.elapsed.as_secs_f64(),
        opts.file,
        report.file_bytes
    );
    Ok(())
}

fn run_ladder(args: LadderArgs) -> Result<(), String> {
    let frames = trace::read_capture(&args.file).map_err(|e| e.to_string())?;
    print!(
        "{}",
        trace::render(
            &frames,
            &LadderOptions {
                absolute: args.absolute
            }
        )
    );
    Ok(())
}

fn run_bench(args: BenchArgs) -> Result<(), String> {
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
