//! # Demultiplexing received frames across socket shards
//!
//! Layer: network (stack owner, below [`crate::net::host`]). smoltcp finds the socket of a
//! received TCP segment by asking every socket of the set in turn (`process_tcp`), so with N
//! connections each frame costs O(N) and a run of N sessions O(N²): 1000 sessions took 4x the
//! time of 500. The [`crate::net::host::Host`] therefore keeps its sockets in shards of at most
//! [`SHARD_SIZE`], each its own `SocketSet`, and hands each received frame to the one shard
//! that holds its connection: [`Demux`] knows which shard holds each 4-tuple and which shards
//! have sockets listening on each port; [`Replay`] presents one frame, read ahead, to smoltcp
//! as a device. Frames that are not TCP go to shard 0 (smoltcp answers them for the interface).

use std::collections::HashMap;

use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address, Ipv6Address};

/// Sockets per shard: the most smoltcp looks through for one frame.
pub const SHARD_SIZE: usize = 64;

/// A connection's (local, remote) endpoints.
pub type Tuple = (IpEndpoint, IpEndpoint);

/// What the demultiplexer needs of a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Our end (the frame's destination) and the peer's (its source).
    pub tuple: Tuple,
    /// SYN set and ACK clear: a connection request.
    pub syn: bool,
}

/// Reads the endpoints of an IPv4 or IPv6 TCP segment (no IPv6 extension headers: smoltcp
/// would not take them either); `None` for anything else or a truncated frame.
pub fn segment(frame: &[u8]) -> Option<Segment> {
    let (src, dst, tcp): (IpAddress, IpAddress, &[u8]) = match frame.first()? >> 4 {
        4 => {
            let ihl = usize::from(frame[0] & 0x0f) * 4;
            if frame.len() < 20 || frame[9] != 6 || ihl < 20 {
                return None;
            }
            let a = |at: usize| {
                Ipv4Address::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3])
            };
            (a(12).into(), a(16).into(), frame.get(ihl..)?)
        }
        6 => {
            if frame.len() < 40 || frame[6] != 6 {
                return None;
            }
            let src: [u8; 16] = frame[8..24].try_into().ok()?;
            let dst: [u8; 16] = frame[24..40].try_into().ok()?;
            (
                Ipv6Address::from_octets(src).into(),
                Ipv6Address::from_octets(dst).into(),
                &frame[40..],
            )
        }
        _ => return None,
    };
    if tcp.len() < 14 {
        return None;
    }
    let port = |at: usize| u16::from_be_bytes([tcp[at], tcp[at + 1]]);
    let flags = tcp[13];
    Some(Segment {
        tuple: (IpEndpoint::new(dst, port(2)), IpEndpoint::new(src, port(0))),
        syn: flags & 0x12 == 0x02,
    })
}

/// Where a received frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// To this shard.
    To(u32),
    /// Not yet: a SYN for a port whose listeners have all been taken during this poll.
    Hold,
}

/// Which shard holds each connection, and which shards listen on each port.
#[derive(Debug, Default)]
pub struct Demux {
    /// Shard of each connection's 4-tuple (as the sockets report it after a poll, plus the
    /// connections routed to a listener during this poll).
    routes: HashMap<Tuple, u32>,
    /// Per local port: sockets in LISTEN, per shard.
    listening: HashMap<u16, HashMap<u32, usize>>,
    /// Listeners of (port, shard) that a SYN was sent to during this poll.
    taken: HashMap<(u16, u32), usize>,
    /// Routes made for SYNs during this poll, not yet confirmed by a socket.
    fresh: Vec<(Tuple, u32)>,
}

impl Demux {
    /// The shard that must see `frame` (shard 0 for what no socket takes: the interface
    /// answers it), or [`Route::Hold`]. With `one_set` (one shard), only SYNs are looked up.
    pub fn route(&mut self, frame: &[u8], one_set: bool) -> Route {
        let Some(seg) = segment(frame) else {
            return Route::To(0);
        };
        if one_set && !seg.syn {
            return Route::To(0);
        }
        if let Some(&shard) = self.routes.get(&seg.tuple) {
            return Route::To(shard);
        }
        if !seg.syn {
            return Route::To(0);
        }
        let port = seg.tuple.0.port;
        let Some(shards) = self.listening.get(&port) else {
            return Route::To(0);
        };
        let free = {
            let mut free: Vec<u32> = shards
                .iter()
                .filter(|(s, n)| self.taken.get(&(port, **s)).copied().unwrap_or(0) < **n)
                .map(|(s, _)| *s)
                .collect();
            free.sort_unstable();
            free.first().copied()
        };
        let Some(shard) = free else {
            return Route::Hold;
        };
        *self.taken.entry((port, shard)).or_default() += 1;
        // The rest of the handshake goes to the same socket.
        self.routes.insert(seg.tuple, shard);
        self.fresh.push((seg.tuple, shard));
        Route::To(shard)
    }

    /// Forgets which listeners were taken during the last poll (the sockets now say).
    pub fn new_poll(&mut self) {
        self.taken.clear();
    }

    /// A socket of `shard` now has the 4-tuple `now` instead of `before`.
    pub fn moved(&mut self, shard: u32, before: Option<Tuple>, now: Option<Tuple>) {
        if let Some(t) = before
            && self.routes.get(&t) == Some(&shard)
        {
            self.routes.remove(&t);
        }
        if let Some(t) = now {
            self.routes.insert(t, shard);
        }
    }

    /// The shard that holds a connection with this 4-tuple, if any.
    pub fn shard_of(&self, tuple: &Tuple) -> Option<u32> {
        self.routes.get(tuple).copied()
    }

    /// A socket of `shard` started (`true`) or stopped listening on `port`.
    pub fn listens(&mut self, shard: u32, port: u16, on: bool) {
        let shards = self.listening.entry(port).or_default();
        let n = shards.entry(shard).or_default();
        if on {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
            if *n == 0 {
                shards.remove(&shard);
                if shards.is_empty() {
                    self.listening.remove(&port);
                }
            }
        }
    }

    /// Drops the routes made for SYNs during this poll that no socket confirmed: `keep` says
    /// whether a socket of the shard has the tuple now.
    pub fn prune(&mut self, mut keep: impl FnMut(u32, &Tuple) -> bool) {
        for (tuple, shard) in self.fresh.drain(..) {
            if self.routes.get(&tuple) == Some(&shard) && !keep(shard, &tuple) {
                self.routes.remove(&tuple);
            }
        }
    }
}

/// A device that hands smoltcp one frame read ahead from `inner`, and transmits through
/// `inner`.
pub struct Replay<'a, D: Device> {
    /// The real device.
    pub inner: &'a mut D,
    /// The frame still to be received.
    pub frame: Option<&'a [u8]>,
}

impl<D: Device> Device for Replay<'_, D> {
    type RxToken<'b>
        = ReplayRx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = D::TxToken<'b>
    where
        Self: 'b;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.frame.take()?;
        let tx = self.inner.transmit(timestamp)?;
        Some((ReplayRx { frame }, tx))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.inner.transmit(timestamp)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// A device that hands smoltcp one frame with the reply token the real device gave with it
/// (no copy), and has nothing else to transmit.
pub struct Once<'a, T> {
    frame: Option<&'a [u8]>,
    tx: Option<T>,
    caps: DeviceCapabilities,
}

impl<'a, T> Once<'a, T> {
    /// `frame` and the token to answer it with; `caps` are the real device's.
    pub fn new(frame: &'a [u8], tx: T, caps: DeviceCapabilities) -> Self {
        Once {
            frame: Some(frame),
            tx: Some(tx),
            caps,
        }
    }
}

impl<T: phy::TxToken> Device for Once<'_, T> {
    type RxToken<'b>
        = ReplayRx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = T
    where
        Self: 'b;

    fn receive(&mut self, _: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        Some((
            ReplayRx {
                frame: self.frame.take()?,
            },
            self.tx.take()?,
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<Self::TxToken<'_>> {
        None
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

/// The receive token of a [`Replay`] or a [`Once`].
pub struct ReplayRx<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for ReplayRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::test_frames::{emit, tcp};
    use smoltcp::wire::{TcpControl, TcpRepr, TcpSeqNumber};

    fn frame(src: IpEndpoint, dst: IpEndpoint, control: TcpControl, ack: bool) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: src.port,
            dst_port: dst.port,
            seq_number: TcpSeqNumber(1),
            ack_number: ack.then_some(TcpSeqNumber(1)),
            ..tcp(control, b"")
        };
        emit(src.addr, dst.addr, &tcp)
    }

    fn ep4(last: u8, port: u16) -> IpEndpoint {
        IpEndpoint::new(Ipv4Address::new(10, 0, 0, last).into(), port)
    }

    #[test]
    fn segments_of_both_families_are_read() {
        let (us, peer) = (ep4(1, 21), ep4(2, 40000));
        let syn = segment(&frame(peer, us, TcpControl::Syn, false)).expect("a segment");
        assert_eq!(
            syn,
            Segment {
                tuple: (us, peer),
                syn: true
            }
        );
        let synack = segment(&frame(peer, us, TcpControl::Syn, true)).expect("a segment");
        assert!(!synack.syn, "a SYN-ACK is no connection request");
        let v6 =
            |last| IpEndpoint::new(Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, last).into(), 21);
        let s = segment(&frame(v6(2), v6(1), TcpControl::None, true)).expect("IPv6");
        assert_eq!(s.tuple, (v6(1), v6(2)));
        assert_eq!(segment(&[0x45, 0, 0]), None, "truncated");
    }

    #[test]
    fn syns_spread_over_listening_shards_and_the_handshake_follows() {
        let us = ep4(1, 21);
        let mut d = Demux::default();
        d.listens(3, 21, true);
        d.listens(5, 21, true);
        let syn = |p| frame(ep4(2, p), us, TcpControl::Syn, false);
        let ack = |p| frame(ep4(2, p), us, TcpControl::None, true);
        assert_eq!(d.route(&syn(1000), false), Route::To(3));
        assert_eq!(
            d.route(&syn(1001), false),
            Route::To(5),
            "shard 3's listener is taken"
        );
        assert_eq!(
            d.route(&ack(1000), false),
            Route::To(3),
            "the ACK goes where the SYN went"
        );
        assert_eq!(d.route(&ack(1001), false), Route::To(5));
        assert_eq!(
            d.route(&syn(1002), false),
            Route::Hold,
            "every listener taken: wait a poll"
        );
        d.prune(|_, t| t.1.port == 1000);
        assert_eq!(
            d.route(&ack(1001), false),
            Route::To(0),
            "unconfirmed routes are pruned"
        );
        assert_eq!(d.route(&ack(1000), false), Route::To(3));
        d.new_poll();
        d.listens(3, 21, false);
        assert_eq!(d.route(&syn(1003), false), Route::To(5));
        d.listens(5, 21, false);
        let other = frame(ep4(2, 1004), ep4(1, 22), TcpControl::Syn, false);
        assert_eq!(
            d.route(&syn(1004), false),
            Route::To(0),
            "no listener at all: the interface"
        );
        assert_eq!(d.route(&other, false), Route::To(0));
    }
}
