//! A read-only view of a TCP socket's sender state, in the spirit of Linux's `struct tcp_info`,
//! and the reason each segment was sent.

use crate::time::Duration;
use crate::wire::{TcpControl, TcpRepr, TcpSeqNumber};

use super::State;

/// Why a TCP socket sent a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SendReason {
    /// The SYN of an active open.
    Syn,
    /// A SYN sent again after the retransmission timer expired, the timer backed off this
    /// many times.
    SynRetransmission(u8),
    /// The SYN|ACK of a passive open.
    SynAck,
    /// A SYN|ACK sent again after the retransmission timer expired, the timer backed off this
    /// many times.
    SynAckRetransmission(u8),
    /// Data never sent before (a FIN may ride on it).
    NewData,
    /// A FIN alone, never sent before.
    Fin,
    /// Data (or a FIN) sent again because the retransmission timer expired, the timer backed
    /// off this many times.
    RtoRetransmission(u8),
    /// Data sent again after an RTO rewound the send pointer, once the timer's backoff was
    /// cleared by an ACK of new data (go-back-N).
    Retransmission,
    /// The first unacknowledged segment sent again after three duplicate ACKs.
    FastRetransmission,
    /// The first unacknowledged segment sent again during fast recovery because an ACK
    /// covered only part of what was outstanding when recovery began (RFC 6582, NewReno).
    PartialAckRetransmission,
    /// A hole below data the peer selectively acknowledged, sent again during loss recovery
    /// (RFC 6675, SACK-based recovery).
    SackRetransmission,
    /// A tail loss probe (RFC 8985 7): no ACK came for about two round-trip times, so one
    /// segment (new data, or the last one again) is sent to draw an ACK before the RTO.
    TailLossProbe,
    /// A hole whose retransmission was lost, sent again: data sent after that retransmission
    /// was selectively acknowledged (RFC 8985 6.2, RACK's rule in send order).
    LostRetransmission,
    /// One byte beyond the peer's zero window, to learn when it opens.
    ZeroWindowProbe,
    /// A segment without data that acknowledges nothing new but advertises a new window.
    WindowUpdate,
    /// A keep-alive probe (one byte already acknowledged).
    KeepAlive,
    /// A segment without data that acknowledges new data at once.
    AckImmediate,
    /// A segment without data that acknowledges new data when the delayed ACK timer expired.
    AckDelayed,
    /// A segment without data that repeats the last acknowledgement and window (the peer's
    /// data arrived out of order or again); the count of such ACKs in a row.
    DuplicateAck(u8),
    /// A reset.
    Rst,
    /// An ACK answering an RST or SYN that may be a blind attacker's (RFC 5961 3.2, 4.2): an
    /// RST in the window but not at the next expected sequence number, or a SYN on an
    /// established connection.
    ChallengeAck,
}

/// A snapshot of a TCP socket's state, see [`super::Socket::tcp_info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct TcpInfo {
    /// The connection's state.
    pub state: State,
    /// The congestion window in bytes; `None` without congestion control.
    pub cwnd: Option<usize>,
    /// The slow start threshold in bytes; `None` while infinite or without congestion control.
    pub ssthresh: Option<usize>,
    /// The smoothed round-trip time (RFC 6298); `None` before the first sample.
    pub srtt: Option<Duration>,
    /// The round-trip time variation (RFC 6298); `None` before the first sample.
    pub rttvar: Option<Duration>,
    /// The retransmission timeout, backoff included.
    pub rto: Duration,
    /// How many times the retransmission timer expired since data was last acknowledged.
    pub rto_backoff: u8,
    /// Bytes sent and not acknowledged, as the sender counts them (after an RTO it counts only
    /// what it sent again).
    pub bytes_in_flight: usize,
    /// The peer's receive window, scaled: how much it may take beyond the last ACK.
    pub peer_window: usize,
    /// The receive window this socket advertised in its last segment, scaled.
    pub advertised_window: usize,
    /// Duplicate ACKs received in a row.
    pub dup_acks: u8,
    /// Whether the congestion controller is in fast recovery.
    pub in_fast_recovery: bool,
    /// Why the last segment was sent; `None` before the first.
    pub last_sent: Option<SendReason>,
}

/// A segment a socket sent, named by its header, with the socket's snapshot taken just after
/// (see [`super::Socket::set_sent_info_log`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct SentSegment {
    /// Its sequence number.
    pub seq: TcpSeqNumber,
    /// Its acknowledgement number, if it has the ACK flag.
    pub ack: Option<TcpSeqNumber>,
    /// Its payload length (SYN and FIN not counted).
    pub payload_len: usize,
    /// The socket's state just after the segment was sent.
    pub info: TcpInfo,
}

/// What `dispatch` knows about a segment besides its header.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sending {
    pub keep_alive: bool,
    pub zero_window_probe: bool,
    pub fast_retransmit: bool,
    /// The fast retransmission answers a partial ACK.
    pub partial_ack_retransmit: bool,
    /// The retransmission fills a hole below SACKed data (RFC 6675).
    pub sack_retransmit: bool,
    /// The retransmission repeats one that was lost (RFC 8985 6.2).
    pub lost_retransmit: bool,
    /// The segment is a tail loss probe (RFC 8985).
    pub tail_loss_probe: bool,
    /// The delayed ACK timer was running.
    pub delayed: bool,
    /// The acknowledgement number of the last segment sent.
    pub last_ack: Option<TcpSeqNumber>,
    /// The window field of the last segment sent.
    pub last_win: u16,
}

/// The bookkeeping behind [`TcpInfo`] that the socket does not keep for itself.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    /// One past the highest sequence number ever sent on this connection.
    snd_max: Option<TcpSeqNumber>,
    /// RTOs since data was last acknowledged.
    pub rto_backoff: u8,
    /// Duplicate ACKs sent in a row.
    dup_acks_sent: u8,
    pub last_sent: Option<SendReason>,
    /// The segment being built is an RFC 5961 challenge ACK.
    pub challenge: bool,
    /// The window advertised in the last segment, scaled.
    pub advertised_window: usize,
    /// The last segment's sequence number, acknowledgement number and payload length.
    pub last_segment: (TcpSeqNumber, Option<TcpSeqNumber>, usize),
    #[cfg(feature = "alloc")]
    pub log: Option<alloc::vec::Vec<SentSegment>>,
}

impl Tracker {
    /// Forgets the connection, keeping whether a log is kept.
    pub fn reset(&mut self) {
        *self = Tracker {
            #[cfg(feature = "alloc")]
            log: self.log.take().map(|mut log| {
                log.clear();
                log
            }),
            ..Tracker::default()
        };
    }

    /// The retransmission timer expired.
    pub fn on_rto(&mut self) {
        self.rto_backoff = self.rto_backoff.saturating_add(1);
    }

    /// An ACK acknowledged new data.
    pub fn on_new_ack(&mut self) {
        self.rto_backoff = 0;
    }

    /// A segment with this sequence space was sent (not a probe).
    pub fn on_sequence_sent(&mut self, end: TcpSeqNumber) {
        self.snd_max = Some(match self.snd_max {
            Some(max) if max > end => max,
            _ => end,
        });
    }

    /// Names the reason for `repr`, sent just now, and remembers it with its window (`scale`
    /// applies to segments without SYN).
    pub fn classify(&mut self, repr: &TcpRepr, sending: Sending, scale: u8) -> SendReason {
        let again = repr.segment_len() > 0 && self.snd_max.is_some_and(|m| repr.seq_number < m);
        let backoff = self.rto_backoff;
        let reason = match repr.control {
            TcpControl::Rst => SendReason::Rst,
            TcpControl::Syn => match (repr.ack_number.is_some(), again) {
                (false, false) => SendReason::Syn,
                (false, true) => SendReason::SynRetransmission(backoff),
                (true, false) => SendReason::SynAck,
                (true, true) => SendReason::SynAckRetransmission(backoff),
            },
            _ if self.challenge => SendReason::ChallengeAck,
            _ if sending.keep_alive => SendReason::KeepAlive,
            _ if sending.zero_window_probe => SendReason::ZeroWindowProbe,
            _ if sending.tail_loss_probe => SendReason::TailLossProbe,
            _ if sending.lost_retransmit => SendReason::LostRetransmission,
            _ if sending.sack_retransmit => SendReason::SackRetransmission,
            _ if sending.partial_ack_retransmit => SendReason::PartialAckRetransmission,
            _ if sending.fast_retransmit => SendReason::FastRetransmission,
            _ if again && backoff > 0 => SendReason::RtoRetransmission(backoff),
            _ if again => SendReason::Retransmission,
            _ if !repr.payload.is_empty() => SendReason::NewData,
            TcpControl::Fin => SendReason::Fin,
            _ if repr.ack_number == sending.last_ack && repr.window_len != 0 => {
                if repr.window_len == sending.last_win {
                    self.dup_acks_sent = self.dup_acks_sent.saturating_add(1);
                    SendReason::DuplicateAck(self.dup_acks_sent)
                } else {
                    SendReason::WindowUpdate
                }
            }
            _ if sending.delayed => SendReason::AckDelayed,
            _ => SendReason::AckImmediate,
        };
        if !matches!(reason, SendReason::DuplicateAck(_)) {
            self.dup_acks_sent = 0;
        }
        self.last_sent = Some(reason);
        self.last_segment = (repr.seq_number, repr.ack_number, repr.payload.len());
        self.advertised_window = match repr.control {
            TcpControl::Syn => repr.window_len as usize,
            _ => (repr.window_len as usize) << scale,
        };
        reason
    }
}
