//! # Login (sans-IO, application layer)
//!
//! Layer: application protocol. `PASS`: accounts and anonymous users (`anonymous`, `ftp`, any
//! password, unless [`super::ServerConfig::anonymous`] is off), what a user may write
//! ([`super::ServerConfig::writable`], [`super::ServerConfig::anonymous_writable`]), and the
//! limits on guessing: a delay and a count per session, and the server-wide count per client
//! address ([`super::guard::LoginGuard`]).

use super::Session;
use crate::ftp::reply::Reply;

/// The user names of anonymous FTP.
pub(super) fn is_anonymous(user: &str) -> bool {
    user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
}

impl Session {
    /// `PASS`: logs the pending user in, or counts a failure (answered late, see `timers.rs`).
    pub(super) fn pass(&mut self, pass: &str) {
        if self.user.is_some() {
            self.reply(230, "Already logged in.");
            return;
        }
        let Some(name) = self.pending_user.take() else {
            self.reply(503, "Login with USER first.");
            return;
        };
        let guard = &self.config.login_guard;
        let now = self.timers.now();
        if guard.blocked(self.peer, now) {
            guard.failed(self.peer, now);
            log::debug!("refused a login from {}: too many failed logins", self.peer);
            let reply = Reply::new(421, "Too many failed logins from your address, try later.");
            let delay = self.config.login_failure_delay;
            if !self.timers.hold(reply.clone(), true, delay) {
                self.send(reply);
                self.close();
            }
            return;
        }
        let ok = (self.config.anonymous && is_anonymous(&name))
            || self
                .config
                .accounts
                .iter()
                .any(|(u, p)| *u == name && p == pass);
        if ok {
            self.user = Some(name);
            self.reply(230, "Login successful.");
            return;
        }
        self.failed_logins += 1;
        let guard = &self.config.login_guard;
        if guard.failed(self.peer, now) {
            // Once per address and wave of guessing, not once per guess.
            log::warn!(
                "{} failed logins from {} within {} s: its logins are refused until they age",
                guard.limit(),
                self.peer,
                guard.window().as_secs()
            );
        }
        let max = self.config.max_login_failures;
        let (reply, close) = if max > 0 && self.failed_logins >= max {
            (
                Reply::new(421, "Login incorrect; too many failures, closing."),
                true,
            )
        } else {
            (Reply::new(530, "Login incorrect."), false)
        };
        let delay = self.config.login_failure_delay;
        if !self.timers.hold(reply.clone(), close, delay) {
            self.send(reply);
            if close {
                self.close();
            }
        }
    }

    /// Whether the logged-in user may change files: the server is writable, and the user has
    /// an account or anonymous users may write too.
    pub(super) fn may_write(&self) -> bool {
        self.config.writable
            && (self.config.anonymous_writable || !self.user.as_deref().is_some_and(is_anonymous))
    }
}
