//! # `smolftp relay`: two TUN devices joined by a lossy cable
//!
//! Layer: command line (binary only). Turns the relay's flags into two attached TUN devices and
//! the impairment middleware between them, runs [`smolftp::link::relay::relay`] until
//! SIGINT/SIGTERM, and prints what the path did to each direction.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use smolftp::lab::RunError;
use smolftp::link::impair::{Faults, Impair, Side};
use smolftp::link::relay::{Control, relay};
use smolftp::link::tun::Tun;

use crate::impair_args::ImpairArgs;

/// Flags of `smolftp relay`. The relay attaches to both devices in its own network namespace;
/// the devices may then be moved (`ip link set DEV netns NS`), brought up and given addresses
/// there: it reads a device only once the kernel hands it a frame, so a device that is still
/// down is left alone.
#[derive(clap::Args, Debug)]
pub struct RelayArgs {
    /// The client's side: an existing TUN interface (frames read from it go to --b).
    #[arg(long, value_name = "TUN")]
    pub a: String,
    /// The server's side: an existing TUN interface (frames read from it go to --a).
    #[arg(long, value_name = "TUN")]
    pub b: String,
    /// Seed of the impairments' random numbers: the same seed loses the same frames of each
    /// direction's sequence, whichever server is behind the relay (SIGUSR1 starts them over).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// What the path does to frames; "to the server" means from --a to --b.
    #[command(flatten)]
    pub impair: ImpairArgs,
}

/// Attaches to both devices, says `relaying A <-> B` on stderr, forwards until `stop`, then
/// prints the counts per direction. SIGUSR1 starts the random numbers over from the seed (a
/// benchmark gives each server the same losses).
pub fn run_relay(args: RelayArgs, stop: &AtomicBool) -> Result<(), RunError> {
    if args.a == args.b {
        return Err(RunError::SameDevice(args.a));
    }
    let mut a = Tun::open(&args.a, None)?;
    let b = Tun::open(&args.b, None)?;
    let plan = args.impair.plan(args.seed);
    let faults = Faults::new(false);
    let to_b = Side {
        rates: plan.to_server(),
        dir: faults.add_direction(&format!("{}->{}", args.a, args.b), false),
    };
    let to_a = Side {
        rates: plan.to_client(),
        dir: faults.add_direction(&format!("{}->{}", args.b, args.a), false),
    };
    let mut b = Impair::new(b, to_b, to_a, plan.drops.clone(), plan.seed, faults.clone());
    eprintln!(
        "smolftp relay: relaying {} <-> {} (seed {})",
        args.a, args.b, args.seed
    );
    let restart = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, restart.clone())
        .map_err(RunError::Usr1)?;
    let control = Control {
        stop,
        restart: &restart,
        seed: args.seed,
    };
    let result = relay(&mut a, &mut b, control);
    eprint!(
        "smolftp relay: the path, per direction:\n{}",
        faults.summary()
    );
    result?;
    Ok(())
}
