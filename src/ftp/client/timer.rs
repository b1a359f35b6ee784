//! # Client timeout (sans-IO)
//!
//! Layer: application protocol. The client gives up on a server that stops answering: while it
//! waits for something (the greeting, a reply, a transfer's data connection or its data) and
//! nothing comes for [`ClientConfig::timeout`](super::ClientConfig::timeout), the session ends
//! with an error that says what was awaited. A TCP timeout alone does not catch this: a server
//! that acknowledges every segment but never replies keeps the connection alive forever.
//!
//! The network layer hands in the time with `handle_timeout` (its monotonic part, any origin)
//! and asks `poll_timeout` when to call again ([`crate::ftp::Endpoint`]), as for the server's
//! timers.

use std::time::Duration;

use super::{Client, Data, Stage, State};
use crate::ftp::DataAction;

/// Timer state of one client.
#[derive(Debug, Default)]
pub(super) struct Timer {
    /// The last time handed in; `None` before the first.
    now: Option<Duration>,
    /// When the server last did something (or the client started waiting), as of the last
    /// time handed in.
    last_activity: Duration,
}

impl Timer {
    /// Something came from the server (or a new wait began): the clock restarts.
    pub(super) fn activity(&mut self) {
        if let Some(now) = self.now {
            self.last_activity = now;
        }
    }
}

impl Client {
    /// Waiting for the server: anything but idle (interactive, between commands) and done.
    fn waiting(&self) -> bool {
        !matches!(self.state, State::Idle | State::Done)
    }

    /// The monotonic time now (any origin, never going back): gives up if the server has been
    /// silent for the timeout.
    pub(super) fn fire_timer(&mut self, now: Duration) {
        let first = self.timer.now.is_none();
        self.timer.now = Some(now);
        if first || !self.waiting() {
            self.timer.last_activity = now;
            return;
        }
        let Some(limit) = self.config.timeout else {
            return;
        };
        if now < self.timer.last_activity + limit {
            return;
        }
        let secs = limit.as_secs_f64();
        let msg = match &self.state {
            State::Quit => {
                // QUIT was sent: the session is over whether 221 comes or not.
                log::debug!("no reply to QUIT within {secs} s; closing");
                self.state = State::Done;
                return;
            }
            State::Greeting => format!("timed out: no greeting from the server within {secs} s"),
            State::Transfer(t) if t.stage == Stage::Command && t.data == Data::Listening => {
                format!(
                    "timed out: the data connection for `{}` did not open within {secs} s",
                    t.step
                )
            }
            State::Transfer(t) if t.stage == Stage::Command && t.data == Data::Connected => {
                format!(
                    "timed out: no data for `{}` in {secs} s ({} bytes so far){}",
                    t.step,
                    t.bytes,
                    t.incomplete_local().unwrap_or_default()
                )
            }
            _ => format!(
                "timed out: no reply to `{}` within {secs} s",
                self.last_command
            ),
        };
        if let State::Transfer(t) = &self.state
            && t.data != Data::Done
        {
            self.actions.push_back(DataAction::Abort);
        }
        self.fatal(msg);
        self.state = State::Done;
    }

    /// When [`Client::fire_timer`] should next be called, if the timeout runs.
    pub(super) fn next_timeout(&self) -> Option<Duration> {
        let limit = self.config.timeout?;
        (self.waiting() && self.timer.now.is_some()).then(|| self.timer.last_activity + limit)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Client, ClientConfig, Step};
    use crate::ftp::Endpoint;
    use crate::ftp::testpump::{at, t0};
    use crate::ftp::{DataAction, DataEvent};
    use std::time::Duration;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn client(steps: Vec<Step>, timeout: Option<Duration>) -> Client {
        let config = ClientConfig {
            user: "alice".into(),
            pass: "s3cret".into(),
            timeout,
            ..super::super::tests::client_config()
        };
        Client::new(config, steps)
    }

    /// Feeds `text` as reply bytes and takes what the client sends.
    fn feed(c: &mut Client, text: &str) -> String {
        c.handle_control(text.as_bytes(), t0());
        let out = String::from_utf8_lossy(c.control_out()).into_owned();
        c.control_sent(out.len());
        out
    }

    /// Greeting and login, at time `at`.
    fn logged_in(steps: Vec<Step>, start: u64) -> Client {
        let mut c = client(steps, Some(secs(10)));
        c.handle_timeout(at(secs(0)));
        feed(&mut c, "220 hi\r\n");
        feed(&mut c, "331 pw\r\n");
        feed(&mut c, "230 in\r\n");
        c.handle_timeout(at(secs(start)));
        c
    }

    #[test]
    fn a_silent_server_ends_the_session_with_what_was_awaited() {
        let mut c = client(vec![], Some(secs(10)));
        c.handle_timeout(at(secs(100)));
        assert_eq!(c.poll_timeout(), Some(secs(110)));
        c.handle_timeout(at(secs(109)));
        assert!(!c.is_finished());
        c.handle_timeout(at(secs(110)));
        assert!(c.is_finished());
        assert_eq!(
            c.error(),
            Some("timed out: no greeting from the server within 10 s")
        );
        assert_eq!(c.poll_timeout(), None);

        // No reply to PASS: the message names the command, never the password.
        let mut c = client(vec![], Some(secs(10)));
        c.handle_timeout(at(secs(0)));
        feed(&mut c, "220 hi\r\n");
        c.handle_timeout(at(secs(9)));
        assert_eq!(feed(&mut c, "331 pw\r\n"), "PASS s3cret\r\n");
        c.handle_timeout(at(secs(18)));
        assert!(!c.is_finished(), "the reply to USER restarted the clock");
        c.handle_timeout(at(secs(19)));
        assert_eq!(c.error(), Some("timed out: no reply to `PASS` within 10 s"));
    }

    #[test]
    fn a_data_connection_that_never_comes_is_aborted() {
        let mut c = logged_in(vec![Step::List(None)], 1);
        assert!(matches!(c.poll_action(), Some(DataAction::Listen { .. })));
        assert_eq!(feed(&mut c, "200 PORT ok\r\n"), "LIST\r\n");
        c.handle_timeout(at(secs(2)));
        feed(&mut c, "150 here it comes\r\n");
        c.handle_timeout(at(secs(11)));
        assert!(!c.is_finished());
        c.handle_timeout(at(secs(12)));
        assert_eq!(
            c.error(),
            Some("timed out: the data connection for `LIST` did not open within 10 s")
        );
        assert_eq!(c.poll_action(), Some(DataAction::Abort));
        assert!(c.is_finished());
    }

    #[test]
    fn a_control_connection_closed_mid_download_says_the_file_is_incomplete() {
        let dir = crate::ftp::jail::tests::TempDir::new("client-closed");
        let local = dir.0.join("big");
        let mut c = logged_in(
            vec![Step::Retr {
                remote: "big".into(),
                local: local.clone(),
            }],
            1,
        );
        c.poll_action();
        feed(&mut c, "200 PORT ok\r\n");
        feed(&mut c, "150 Opening (100 bytes)\r\n");
        c.handle_data_event(DataEvent::Connected, t0());
        c.write_data(b"0123456789");
        c.handle_control_closed(t0());
        let error = c.error().unwrap();
        assert!(
            error.starts_with("control connection closed by the server; "),
            "{error}"
        );
        assert!(
            error.ends_with("big is left incomplete: 10 bytes (`reget` resumes it)"),
            "{error}"
        );
        assert_eq!(std::fs::read(&local).unwrap(), b"0123456789");
    }

    #[test]
    fn data_that_stops_flowing_is_aborted_and_moving_data_is_not() {
        let dir = crate::ftp::jail::tests::TempDir::new("client-timer");
        let local = dir.0.join("big");
        let mut c = logged_in(
            vec![Step::Retr {
                remote: "big".into(),
                local,
            }],
            1,
        );
        c.poll_action();
        feed(&mut c, "200 PORT ok\r\n");
        feed(&mut c, "150 Opening (100 bytes)\r\n");
        c.handle_data_event(DataEvent::Connected, t0());
        assert_eq!(c.poll_action(), Some(DataAction::Receive));
        // A byte every 9 s keeps the transfer alive for far longer than the timeout.
        for t in (10..100).step_by(9) {
            c.handle_timeout(at(secs(t)));
            c.write_data(b"x");
        }
        // The last byte came at 91 s.
        c.handle_timeout(at(secs(100)));
        assert!(!c.is_finished());
        c.handle_timeout(at(secs(101)));
        let error = c.error().unwrap();
        assert!(
            error.starts_with("timed out: no data for `RETR big` in 10 s (10 bytes so far); "),
            "{error}"
        );
        assert!(
            error.ends_with("big is left incomplete: 10 bytes (`reget` resumes it)"),
            "{error}"
        );
        assert_eq!(c.poll_action(), Some(DataAction::Abort));
    }

    #[test]
    fn idle_quit_and_no_timeout_never_fail() {
        // Interactive and idle: the user may think for an hour.
        let mut c = client(vec![], Some(secs(10)));
        c.keep_open = true;
        c.handle_timeout(at(secs(0)));
        feed(&mut c, "220 hi\r\n331 pw\r\n230 in\r\n");
        assert!(c.is_idle());
        c.handle_timeout(at(secs(3600)));
        assert_eq!(c.poll_timeout(), None);
        assert!(!c.is_finished());
        // A step typed an hour later gets its full 10 s.
        c.push_step(Step::Pwd);
        c.handle_timeout(at(secs(3609)));
        assert!(!c.is_finished());
        feed(&mut c, "257 \"/\"\r\n");
        // QUIT with no 221: the session is over, without an error.
        c.finish();
        c.handle_timeout(at(secs(3620)));
        assert!(c.is_finished());
        assert_eq!(c.error(), None);

        let mut c = client(vec![], None);
        c.handle_timeout(at(secs(0)));
        c.handle_timeout(at(secs(1_000_000)));
        assert!(!c.is_finished());
        assert_eq!(c.poll_timeout(), None);
    }
}
