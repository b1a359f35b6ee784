//! # Simulation: two hosts on one cable
//!
//! Layer: network (poll loop). Runs an FTP server node and FTP client nodes (one or many, all on
//! the client's [`Host`]), over an in-process cable, until every client's session is over and every connection
//! has been released. With the virtual clock, time stands still while there is work and jumps to
//! the next timer or frame arrival when there is none, so a run takes no wall time and gives the
//! same frames every time; with the real clock it runs flat out (benchmarks).

use std::time::SystemTime;

use smoltcp::phy::Device;
use smoltcp::time::{Duration, Instant};

use crate::link::NextArrival;
use crate::net::client::ClientNode;
use crate::net::host::Host;
use crate::net::server::ServerNode;

/// Rounds allowed at one simulated instant before the run is declared stuck.
const MAX_ROUNDS_PER_INSTANT: u32 = 1_000_000;

/// Which clock drives the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Simulated time starting at the given instant.
    Virtual(Instant),
    /// The machine's clock.
    Real,
}

/// Why a run stopped before the session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SimError {
    /// Nothing left to do, yet the client has not finished.
    Stalled(Instant),
    /// Simulated or real time ran past the limit.
    TimeLimit(Duration),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Stalled(at) => write!(
                f,
                "the session stalled at t={at}: nothing left to send and the client is not done"
            ),
            SimError::TimeLimit(d) => write!(f, "the session did not end within {d}"),
        }
    }
}

impl std::error::Error for SimError {}

/// The two machines of a run and their FTP roles.
pub struct Sim<DS: Device, DC: Device> {
    /// The server's host.
    pub server_host: Host<DS>,
    /// The FTP server.
    pub server: ServerNode,
    /// The client's host.
    pub client_host: Host<DC>,
    /// The FTP clients (one per session, all on the client's host).
    pub clients: Vec<ClientNode>,
}

impl<DS: Device + NextArrival, DC: Device + NextArrival> Sim<DS, DC> {
    /// Runs until the client is finished and all is quiet. `wall` is the wall-clock time given to
    /// the server for listings. `limit` bounds the run in (simulated or real) time.
    pub fn run(
        &mut self,
        clock: Clock,
        wall: SystemTime,
        limit: Duration,
    ) -> Result<Instant, SimError> {
        let start = match clock {
            Clock::Virtual(t) => t,
            Clock::Real => Instant::now(),
        };
        let mut now = start;
        let mut same_instant = 0u32;
        loop {
            self.server_host.poll(now);
            let mut busy = self.server.step(&mut self.server_host, wall);
            self.client_host.poll(now);
            let mut all_done = true;
            for client in &mut self.clients {
                busy |= client.step(&mut self.client_host);
                all_done &= client.is_finished(&mut self.client_host);
            }
            if all_done && self.quiet(now) {
                return Ok(now);
            }
            if now - start > limit {
                return Err(SimError::TimeLimit(limit));
            }
            match clock {
                Clock::Real => now = Instant::now(),
                Clock::Virtual(_) => {
                    let next = if busy {
                        Some(now)
                    } else {
                        self.next_event(now)
                    };
                    match next {
                        Some(t) if t > now => {
                            now = t;
                            same_instant = 0;
                        }
                        // Work is due now; but a stack that keeps asking for a poll at the same
                        // instant without ever getting anything done is stuck.
                        Some(_) if same_instant < MAX_ROUNDS_PER_INSTANT => same_instant += 1,
                        _ => return Err(SimError::Stalled(now)),
                    }
                }
            }
        }
    }

    /// When something is next due: a stack timer or a frame arrival.
    fn next_event(&mut self, now: Instant) -> Option<Instant> {
        [
            self.server_host.poll_at(now),
            self.client_host.poll_at(now),
            self.server_host.device().next_arrival(),
            self.client_host.device().next_arrival(),
            self.server.next_deadline(),
            self.clients
                .iter()
                .filter_map(ClientNode::next_deadline)
                .min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// No frame on the cable and no stack with anything to send now.
    fn quiet(&mut self, now: Instant) -> bool {
        self.server_host.device().next_arrival().is_none()
            && self.client_host.device().next_arrival().is_none()
            && self.server_host.poll_at(now).is_none_or(|t| t > now)
            && self.client_host.poll_at(now).is_none_or(|t| t > now)
    }
}
