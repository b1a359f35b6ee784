//! # Socket options: the rules for control and data connections
//!
//! Layer: network. What a new TCP socket gets (buffers, delayed ACK, Nagle, timeout,
//! keep-alive), and the two rule sets every FTP role uses: [`SocketOptions::control`] and
//! [`SocketOptions::data`]. The lab, the TUN server and the live client all take them from here.

use smoltcp::time::Duration;

/// Buffer sizes and behaviour of a new TCP socket.
#[derive(Clone, Copy, Debug)]
pub struct SocketOptions {
    /// Receive buffer (and so the largest advertised window), bytes.
    pub rx_buffer: usize,
    /// Send buffer, bytes.
    pub tx_buffer: usize,
    /// Delayed ACK; `None` acknowledges every segment at once.
    pub ack_delay: Option<Duration>,
    /// Nagle's algorithm.
    pub nagle: bool,
    /// Give up a connection whose peer has been silent this long.
    pub timeout: Option<Duration>,
    /// TCP keep-alive: probe a quiet peer after this long, so one that is alive answers and
    /// stays within `timeout` while one that is gone is given up.
    pub keep_alive: Option<Duration>,
}

/// Buffers of a control connection, each way: commands and replies are short lines.
pub const CONTROL_BUFFER: usize = 8 * 1024;

impl SocketOptions {
    /// A control connection: small buffers ([`CONTROL_BUFFER`]) with smoltcp's delayed ACK and
    /// Nagle, given up when its peer stays silent for `timeout`. A control connection may be
    /// quiet for far longer (a user thinking at the `ftp>` prompt; the server's own idle timer
    /// is 300 s), so it sends TCP keep-alive probes every `timeout / 6` of quiet: a peer that is
    /// there answers them. Five chances per timeout, not one: on a lossy path a probe or its
    /// answer is lost (at 10 % loss both ways, one in five), and a control connection quiet
    /// through a long transfer must not time out for that.
    pub fn control(timeout: Duration) -> SocketOptions {
        SocketOptions {
            rx_buffer: CONTROL_BUFFER,
            tx_buffer: CONTROL_BUFFER,
            ack_delay: Some(Duration::from_millis(10)),
            nagle: true,
            timeout: Some(timeout),
            keep_alive: Some(timeout / 6),
        }
    }

    /// A data connection: `window` bytes of receive buffer and `send_buffer` of send buffer;
    /// it acknowledges every segment at once (so the client's ACK of the server's FIN travels
    /// before its own FIN, as in the figure) and sends without Nagle's delay; given up when
    /// its peer stays silent for `timeout`. Large buffers take memory only for the bytes that
    /// pass through them ([`crate::net::pages`]).
    pub fn data(window: usize, send_buffer: usize, timeout: Duration) -> SocketOptions {
        SocketOptions {
            rx_buffer: window,
            tx_buffer: send_buffer,
            ack_delay: None,
            nagle: false,
            timeout: Some(timeout),
            keep_alive: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_connections_probe_five_times_per_timeout_and_data_ones_never() {
        let control = SocketOptions::control(Duration::from_secs(60));
        assert_eq!(control.keep_alive, Some(Duration::from_secs(10)));
        assert_eq!((control.rx_buffer, control.tx_buffer), (8192, 8192));
        assert!(control.nagle && control.ack_delay.is_some());
        let data = SocketOptions::data(65535, 65700, Duration::from_secs(60));
        assert_eq!((data.rx_buffer, data.tx_buffer), (65535, 65700));
        assert!(!data.nagle && data.ack_delay.is_none() && data.keep_alive.is_none());
        assert_eq!(data.timeout, Some(Duration::from_secs(60)));
    }
}
