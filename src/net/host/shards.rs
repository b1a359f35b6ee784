//! # Host internals: socket shards
//!
//! Layer: network (stack owner). The part of [`super::Host`] that polls its socket shards
//! (one frame at a time to the shard of its connection, see [`crate::net::demux`]) and follows
//! every socket's state and endpoints after a poll.

use std::collections::BTreeMap;

use smoltcp::iface::{PollIngressSingleResult, PollResult, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Instant;

use super::{Host, SocketHandle, Tracked};
use crate::net::demux::{Demux, Once, Replay, Route};
use crate::net::explain::Transition;

/// One socket set of a [`Host`] and how many sockets it holds.
pub(super) struct Shard {
    pub(super) set: SocketSet<'static>,
    pub(super) len: usize,
}

impl<D: Device> Host<D> {
    /// smoltcp's poll over the shards: every received frame to the shard of its connection,
    /// then every shard's egress (what `Interface::poll` does for one set). A SYN for a port
    /// whose listeners have all been taken during this poll is held, with every frame behind
    /// it, until the next poll: the node can add listeners meanwhile (a backlog of one poll).
    pub(super) fn poll_shards(&mut self, now: Instant) -> bool {
        let mut changed = false;
        self.iface.poll_maintenance(now);
        self.demux.new_poll();
        let one_set = self.shards.len() == 1;
        if std::mem::take(&mut self.held) {
            // Listeners were added since; if not (no room), the interface answers it.
            let shard = match self.demux.route(&self.frame, one_set) {
                Route::To(shard) => shard as usize,
                Route::Hold => 0,
            };
            let mut one = Replay {
                inner: &mut self.device,
                frame: Some(&self.frame),
            };
            let set = &mut self.shards[shard].set;
            changed |= self.iface.poll_ingress_single(now, &mut one, set)
                == PollIngressSingleResult::SocketStateChanged;
        }
        let caps = self.device.capabilities();
        loop {
            let Some((rx, tx)) = self.device.receive(now) else {
                break;
            };
            let (iface, shards, demux, held) = (
                &mut self.iface,
                &mut self.shards,
                &mut self.demux,
                &mut self.frame,
            );
            // The frame is handed to smoltcp where it lies, with the device's own reply token.
            let result =
                smoltcp::phy::RxToken::consume(rx, |frame| match demux.route(frame, one_set) {
                    Route::To(shard) => {
                        let mut one = Once::new(frame, tx, caps.clone());
                        let set = &mut shards[shard as usize].set;
                        Some(iface.poll_ingress_single(now, &mut one, set))
                    }
                    Route::Hold => {
                        held.clear();
                        held.extend_from_slice(frame);
                        None
                    }
                });
            match result {
                Some(r) => changed |= r == PollIngressSingleResult::SocketStateChanged,
                None => {
                    self.held = true;
                    break;
                }
            }
        }
        for shard in &mut self.shards {
            while self
                .iface
                .poll_egress(now, &mut self.device, &mut shard.set)
                == PollResult::SocketStateChanged
            {
                changed = true;
            }
        }
        changed
    }

    /// Drops the routes taken during the last poll for SYNs that no listener took.
    pub(super) fn prune_routes(&mut self) {
        let tracked = &self.tracked;
        self.demux.prune(|shard, tuple| {
            let first = SocketHandle {
                shard,
                inner: Default::default(),
            };
            tracked
                .range(first..)
                .take_while(|(h, _)| h.shard == shard)
                .any(|(_, t)| t.route.as_ref() == Some(tuple))
        });
    }

    /// Compares every socket's state with the last one seen; logs and keeps the transitions.
    pub(super) fn track(&mut self) {
        for (i, shard) in self.shards.iter().enumerate() {
            for (inner, socket) in shard.set.iter() {
                #[allow(irrefutable_let_patterns)]
                let smoltcp::socket::Socket::Tcp(socket) = socket else {
                    continue;
                };
                let handle = SocketHandle {
                    shard: i as u32,
                    inner,
                };
                self.tracked_changed |= note(
                    &self.name,
                    handle,
                    socket,
                    &mut self.tracked,
                    &mut self.demux,
                    &mut self.transitions,
                );
            }
        }
    }

    /// [`Host::track`] for one socket.
    pub(super) fn observe(&mut self, handle: SocketHandle) {
        let socket = self.shards[handle.shard as usize]
            .set
            .get::<tcp::Socket>(handle.inner);
        self.tracked_changed |= note(
            &self.name,
            handle,
            socket,
            &mut self.tracked,
            &mut self.demux,
            &mut self.transitions,
        );
    }
}

/// Compares one socket's state and endpoints with the last seen: tells the demultiplexer,
/// logs a state change and keeps it as a transition. Returns whether its endpoints or state
/// changed.
fn note(
    name: &str,
    handle: SocketHandle,
    socket: &tcp::Socket<'_>,
    tracked: &mut BTreeMap<SocketHandle, Tracked>,
    demux: &mut Demux,
    transitions: &mut Vec<Transition>,
) -> bool {
    let Some(t) = tracked.get_mut(&handle) else {
        return false;
    };
    let before = (t.local, t.remote);
    let (local, remote) = (socket.local_endpoint(), socket.remote_endpoint());
    if let Some(l) = local {
        t.local = Some(l);
    }
    if let Some(r) = remote {
        t.remote = Some(r);
    }
    let route = local.zip(remote);
    if route != t.route {
        demux.moved(handle.shard, t.route, route);
        t.route = route;
    }
    let state = socket.state();
    // A connection that is over gives its buffers' pages back (TIME-WAIT lasts 10 s).
    t.pages.release(
        matches!(state, State::TimeWait | State::Closed),
        socket.recv_queue() == 0 && socket.send_queue() == 0,
    );
    let listening = (state == State::Listen).then(|| socket.listen_endpoint().port);
    if listening != t.listening {
        if let Some(port) = t.listening {
            demux.listens(handle.shard, port, false);
        }
        if let Some(port) = listening {
            demux.listens(handle.shard, port, true);
        }
        t.listening = listening;
    }
    if state == t.state {
        return (t.local, t.remote) != before;
    }
    let endpoints = match (t.local, t.remote) {
        (Some(l), Some(r)) if state != State::Listen => format!("{l} -> {r}"),
        _ => format!("*:{}", socket.listen_endpoint().port),
    };
    log::info!(
        target: "smolftp::tcp",
        "{}: {} {} -> {} ({})",
        name, endpoints, t.state, state, t.label
    );
    transitions.push(Transition {
        handle,
        local: t.local,
        from: t.state,
        to: state,
        told: false,
    });
    t.state = state;
    if state == State::Listen {
        // A socket that listens again starts a new connection.
        t.remote = None;
    }
    true
}
