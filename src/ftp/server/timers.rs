//! # Server timers
//!
//! Layer: application protocol (sans-IO). The session's sense of time: the network layer hands
//! in a monotonic time with [`Session::handle_time`] (any origin) and asks
//! [`Session::next_deadline`] when to call again. Three timers: the idle control connection
//! (`421`), the delayed answer to a failed login (nothing else is read meanwhile), and the data
//! connection that never arrives (`425`).

use std::time::Duration;

use super::Session;
use crate::ftp::DataAction;
use crate::ftp::reply::Reply;

/// Timer state of one session.
#[derive(Debug, Default)]
pub(super) struct Timers {
    /// The last time handed in; `None` before the first.
    now: Option<Duration>,
    /// A line came or data moved: the idle clock restarts at the next `handle_time`.
    active: bool,
    /// When the client last did something.
    last_activity: Duration,
    /// A failed login's reply, whether to close after it, and when it is due (once known).
    held: Option<(Reply, bool, Duration, Option<Duration>)>,
    /// When the current transfer stops waiting for its data connection.
    data_deadline: Option<Duration>,
}

impl Timers {
    /// Something happened on the control connection.
    pub(super) fn activity(&mut self) {
        self.active = true;
    }

    /// Holds `reply` back for `delay` (and stops reading lines meanwhile); false when there is
    /// no delay, and the caller sends it at once.
    pub(super) fn hold(&mut self, reply: Reply, close: bool, delay: Duration) -> bool {
        if delay.is_zero() {
            return false;
        }
        let due = self.now.map(|n| n + delay);
        self.held = Some((reply, close, delay, due));
        true
    }

    /// A reply is being held back.
    pub(super) fn holding(&self) -> bool {
        self.held.is_some()
    }
}

impl Session {
    /// The monotonic time now (any origin, never going back): fires what is due.
    pub fn handle_time(&mut self, now: Duration) {
        let t = &mut self.timers;
        if t.now.is_none() || t.active || self.transfer.is_some() {
            t.last_activity = now;
            t.active = false;
        }
        t.now = Some(now);
        if let Some((_, _, delay, due @ None)) = &mut t.held {
            *due = Some(now + *delay);
        }
        if let Some((_, _, _, Some(due))) = &t.held
            && now >= *due
            && let Some((reply, close, _, _)) = t.held.take()
        {
            self.send(reply);
            if close {
                self.close();
            }
            self.process();
        }
        let waiting = self.transfer.as_ref().is_some_and(|t| !t.connected);
        match (waiting, self.timers.data_deadline) {
            (false, _) => self.timers.data_deadline = None,
            (true, None) => self.timers.data_deadline = Some(now + self.config.data_timeout),
            (true, Some(deadline)) if now >= deadline => {
                self.timers.data_deadline = None;
                self.actions.push_back(DataAction::Abort);
                self.reply(425, "Failed to establish connection.");
                self.end_transfer();
            }
            (true, Some(_)) => {}
        }
        if let Some(idle) = self.config.idle_timeout
            && !self.closing
            && self.transfer.is_none()
            && !self.timers.holding()
            && now >= self.timers.last_activity + idle
        {
            self.reply(421, "Timeout.");
            self.close();
        }
    }

    /// When [`Session::handle_time`] should next be called, if a timer runs.
    pub fn next_deadline(&self) -> Option<Duration> {
        let t = &self.timers;
        let held = t.held.as_ref().and_then(|h| h.3);
        let idle = match self.config.idle_timeout {
            Some(idle) if !self.closing && self.transfer.is_none() && t.now.is_some() => {
                Some(t.last_activity + idle)
            }
            _ => None,
        };
        [held, t.data_deadline, idle].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ServerConfig, Session};
    use crate::ftp::DataAction;
    use crate::ftp::jail::Jail;
    use crate::ftp::jail::tests::TempDir;
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// A session with the safe defaults (1 s login delay, 300 s idle, 30 s data timeout).
    fn session(dir: &TempDir) -> Session {
        let config = ServerConfig::new(&dir.0);
        let jail = Jail::new(&dir.0).unwrap();
        let peer = Ipv4Addr::new(10, 0, 0, 2);
        let mut s = Session::new(
            Arc::new(config),
            Arc::new(jail),
            peer.into(),
            SystemTime::now(),
        );
        take(&mut s);
        s
    }

    fn take(s: &mut Session) -> String {
        let text = String::from_utf8_lossy(s.control_out()).into_owned();
        let n = s.control_out().len();
        s.control_sent(n);
        text
    }

    fn cmd(s: &mut Session, bytes: &[u8]) -> String {
        s.handle_control(bytes);
        take(s)
    }

    #[test]
    fn a_failed_login_is_answered_late_and_holds_the_next_lines() {
        let dir = TempDir::new("timers-login");
        let mut s = session(&dir);
        s.handle_time(secs(100));
        assert_eq!(
            cmd(&mut s, b"USER alice\r\n"),
            "331 Please specify the password.\r\n"
        );
        assert_eq!(
            cmd(&mut s, b"PASS wrong\r\nSYST\r\n"),
            "",
            "nothing before the delay"
        );
        s.handle_time(secs(100));
        assert_eq!(s.next_deadline(), Some(secs(101)));
        s.handle_time(secs(100) + Duration::from_millis(999));
        assert_eq!(take(&mut s), "");
        s.handle_time(secs(101));
        assert_eq!(
            take(&mut s),
            "530 Login incorrect.\r\n215 UNIX Type: L8\r\n"
        );
    }

    #[test]
    fn an_idle_session_is_told_421_and_an_active_one_is_not() {
        let dir = TempDir::new("timers-idle");
        let mut s = session(&dir);
        s.handle_time(secs(0));
        cmd(&mut s, b"USER anonymous\r\nPASS x\r\n");
        s.handle_time(secs(200));
        assert_eq!(cmd(&mut s, b"NOOP\r\n"), "200 NOOP ok.\r\n");
        s.handle_time(secs(201));
        s.handle_time(secs(450));
        assert_eq!(take(&mut s), "", "249 s after the NOOP: still fine");
        assert_eq!(s.next_deadline(), Some(secs(501)));
        s.handle_time(secs(501));
        assert_eq!(take(&mut s), "421 Timeout.\r\n");
        assert!(s.wants_close());
    }

    #[test]
    fn a_data_connection_that_never_comes_gets_425() {
        let dir = TempDir::new("timers-data");
        let mut s = session(&dir);
        s.handle_time(secs(0));
        cmd(
            &mut s,
            b"USER anonymous\r\nPASS x\r\nPORT 10,0,0,2,19,137\r\n",
        );
        cmd(&mut s, b"NLST\r\n");
        assert!(matches!(s.poll_action(), Some(DataAction::Connect { .. })));
        s.handle_time(secs(1));
        assert_eq!(s.next_deadline(), Some(secs(31)));
        s.handle_time(secs(31));
        assert_eq!(s.poll_action(), Some(DataAction::Abort));
        assert_eq!(take(&mut s), "425 Failed to establish connection.\r\n");
    }
}
