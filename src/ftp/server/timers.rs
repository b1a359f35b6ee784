//! # Server timers
//!
//! Layer: application protocol (sans-IO). The session's sense of time: the network layer hands
//! in the time with `handle_timeout` (its monotonic part, any origin, runs these timers) and
//! asks `poll_timeout` when to call again ([`crate::ftp::Endpoint`]). Three timers: the idle control connection
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
    /// A line came or data moved: the idle clock restarts at the next `handle_timeout`.
    active: bool,
    /// When the client last did something.
    last_activity: Duration,
    /// A failed login's reply, whether to close after it, and when it is due (once known).
    held: Option<(Reply, bool, Duration, Option<Duration>)>,
    /// When the current transfer stops waiting for its data connection.
    data_deadline: Option<Duration>,
}

impl Timers {
    /// A complete command line came (bytes without a line end do not count: a client that
    /// sends one byte a second is idle).
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

    /// The last time handed in (zero before the first).
    pub(super) fn now(&self) -> Duration {
        self.now.unwrap_or_default()
    }

    /// A reply is being held back.
    pub(super) fn holding(&self) -> bool {
        self.held.is_some()
    }
}

/// Rounds of firing in one [`Session::fire_timers`]: each fires one timer, and what follows
/// from it (lines handled after a held reply, the next transfer after a `425`) can only start
/// timers due later, so two or three rounds settle it; the bound keeps a bug from looping.
const MAX_ROUNDS: usize = 16;

impl Session {
    /// The monotonic time now (any origin, never going back): fires what is due. Afterwards no
    /// deadline that [`Session::next_timeout`] reports is due at `now`, unless the session
    /// wants to close (the live loops rely on it: a deadline in the past would wake them at
    /// once, again and again).
    pub(super) fn fire_timers(&mut self, now: Duration) {
        let t = &mut self.timers;
        if t.now.is_none() || t.active || self.transfer.is_some() {
            t.last_activity = now;
            t.active = false;
        }
        t.now = Some(now);
        if let Some((_, _, delay, due @ None)) = &mut t.held {
            *due = Some(now + *delay);
        }
        for _ in 0..MAX_ROUNDS {
            self.arm_data_deadline(now);
            if !self.fire_one(now) {
                break;
            }
        }
        self.arm_data_deadline(now);
    }

    /// The data connection's deadline runs exactly while a transfer waits for its connection.
    fn arm_data_deadline(&mut self, now: Duration) {
        let waiting = self.transfer.as_ref().is_some_and(|t| !t.connected);
        let t = &mut self.timers;
        if !waiting {
            t.data_deadline = None;
        } else if t.data_deadline.is_none() {
            // Never due at once, even with a zero timeout: `fire_timers` must leave no deadline
            // due at `now`.
            let wait = self.config.data_timeout.max(Duration::from_millis(1));
            t.data_deadline = Some(now + wait);
        }
    }

    /// Fires the first timer due at `now`, if any; returns whether one fired.
    fn fire_one(&mut self, now: Duration) -> bool {
        if let Some((_, _, _, Some(due))) = &self.timers.held
            && now >= *due
            && let Some((reply, close, _, _)) = self.timers.held.take()
        {
            // The client waited for us: its idle time starts now.
            self.timers.last_activity = now;
            self.send(reply);
            if close {
                self.close();
            }
            self.process();
            return true;
        }
        if let Some(deadline) = self.data_deadline()
            && now >= deadline
        {
            self.timers.data_deadline = None;
            self.actions.push_back(DataAction::Abort);
            self.reply(425, "Failed to establish connection.");
            self.end_transfer();
            return true;
        }
        if let Some(deadline) = self.idle_deadline()
            && now >= deadline
        {
            self.reply(421, "Timeout.");
            self.close();
            return true;
        }
        false
    }

    /// When the waiting transfer gets `425`.
    fn data_deadline(&self) -> Option<Duration> {
        let waiting = self.transfer.as_ref().is_some_and(|t| !t.connected);
        self.timers.data_deadline.filter(|_| waiting)
    }

    /// When an idle control connection gets `421`: only with no transfer and no held reply
    /// (the client is waiting for us then, not idle), and not once closing.
    fn idle_deadline(&self) -> Option<Duration> {
        let idle = self.config.idle_timeout?;
        let t = &self.timers;
        let runs = t.now.is_some() && !self.closing && self.transfer.is_none() && !t.holding();
        runs.then(|| t.last_activity + idle)
    }

    /// When [`Session::fire_timers`] should next be called, if a timer runs.
    pub(super) fn next_timeout(&self) -> Option<Duration> {
        let held = self.timers.held.as_ref().and_then(|h| h.3);
        [held, self.data_deadline(), self.idle_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ServerConfig, Session};
    use crate::ftp::DataAction;
    use crate::ftp::Endpoint;
    use crate::ftp::jail::Jail;
    use crate::ftp::jail::tests::TempDir;
    use crate::ftp::testpump::{at, t0};
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use std::time::Duration;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// A session with the safe defaults (1 s login delay, 300 s idle, 30 s data timeout).
    fn session(dir: &TempDir) -> Session {
        let config = ServerConfig::new(&dir.0);
        let jail = Jail::new(&dir.0).unwrap();
        let peer = Ipv4Addr::new(10, 0, 0, 2);
        let mut s = Session::new(Arc::new(config), Arc::new(jail), peer.into(), t0());
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
        s.handle_control(bytes, t0());
        take(s)
    }

    #[test]
    fn a_failed_login_is_answered_late_and_holds_the_next_lines() {
        let dir = TempDir::new("timers-login");
        let mut s = session(&dir);
        s.handle_timeout(at(secs(100)));
        assert_eq!(
            cmd(&mut s, b"USER alice\r\n"),
            "331 Please specify the password.\r\n"
        );
        assert_eq!(
            cmd(&mut s, b"PASS wrong\r\nSYST\r\n"),
            "",
            "nothing before the delay"
        );
        s.handle_timeout(at(secs(100)));
        assert_eq!(s.poll_timeout(), Some(secs(101)));
        s.handle_timeout(at(secs(100) + Duration::from_millis(999)));
        assert_eq!(take(&mut s), "");
        s.handle_timeout(at(secs(101)));
        assert_eq!(
            take(&mut s),
            "530 Login incorrect.\r\n215 UNIX Type: L8\r\n"
        );
    }

    #[test]
    fn an_idle_session_is_told_421_and_an_active_one_is_not() {
        let dir = TempDir::new("timers-idle");
        let mut s = session(&dir);
        s.handle_timeout(at(secs(0)));
        cmd(&mut s, b"USER anonymous\r\nPASS x\r\n");
        s.handle_timeout(at(secs(200)));
        assert_eq!(cmd(&mut s, b"NOOP\r\n"), "200 NOOP ok.\r\n");
        s.handle_timeout(at(secs(201)));
        s.handle_timeout(at(secs(450)));
        assert_eq!(take(&mut s), "", "249 s after the NOOP: still fine");
        assert_eq!(s.poll_timeout(), Some(secs(501)));
        s.handle_timeout(at(secs(501)));
        assert_eq!(take(&mut s), "421 Timeout.\r\n");
        assert!(s.wants_close());
    }

    #[test]
    fn a_data_connection_that_never_comes_gets_425() {
        let dir = TempDir::new("timers-data");
        let mut s = session(&dir);
        s.handle_timeout(at(secs(0)));
        cmd(
            &mut s,
            b"USER anonymous\r\nPASS x\r\nPORT 10,0,0,2,19,137\r\n",
        );
        cmd(&mut s, b"NLST\r\n");
        assert!(matches!(s.poll_action(), Some(DataAction::Connect { .. })));
        s.handle_timeout(at(secs(1)));
        assert_eq!(s.poll_timeout(), Some(secs(31)));
        s.handle_timeout(at(secs(31)));
        assert_eq!(s.poll_action(), Some(DataAction::Abort));
        assert_eq!(take(&mut s), "425 Failed to establish connection.\r\n");
    }

    /// The fuzz finding "a timer due now did not fire": a failed login's delayed reply fires
    /// late, the lines behind it fail another login, and `next_deadline` still named the idle
    /// deadline (long past) that `handle_timeout` does not fire while a reply is held.
    #[test]
    fn no_deadline_is_left_in_the_past_after_handle_timeout() {
        let dir = TempDir::new("timers-stale");
        let mut config = ServerConfig::new(&dir.0);
        config.idle_timeout = Some(secs(5));
        let jail = Jail::new(&dir.0).unwrap();
        let peer = Ipv4Addr::new(10, 0, 0, 2);
        let mut s = Session::new(Arc::new(config), Arc::new(jail), peer.into(), t0());
        take(&mut s);
        s.handle_control(b"USER a\r\nPASS b\r\nNOOP\r\nUSER a\r\nPASS b\r\n", t0());
        for now in [secs(1), secs(11), secs(12), secs(30)] {
            s.handle_timeout(at(now));
            if let Some(next) = s.poll_timeout() {
                assert!(
                    next > now || s.wants_close(),
                    "at {now:?} the next deadline is {next:?}"
                );
            }
        }
    }
}
