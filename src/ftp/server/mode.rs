//! Data-connection mode verbs of the server session: `PORT` and `EPRT` (active), `PASV` and
//! `EPSV` (passive). `PORT` and `PASV` carry IPv4 addresses only, so on an IPv6 control
//! connection they get `522` and the client is pointed at `EPRT`/`EPSV` (RFC 2428).

use std::net::{SocketAddr, SocketAddrV4};

use super::{Passive, Session};
use crate::ftp::{DataAction, DataEvent};

impl Session {
    /// `PORT h1,h2,h3,h4,p1,p2`: IPv4 only.
    pub(super) fn port_cmd(&mut self, addr: SocketAddrV4) {
        if self.peer.is_ipv6() {
            self.port = None;
            self.reply(522, "PORT is IPv4 only, use EPRT.");
            return;
        }
        self.active(SocketAddr::V4(addr), "PORT");
    }

    /// `EPRT |proto|address|port|`: the address must be of the control connection's family.
    pub(super) fn eprt_cmd(&mut self, addr: SocketAddr) {
        if addr.is_ipv6() != self.peer.is_ipv6() {
            self.port = None;
            let text = if self.peer.is_ipv6() {
                "Network protocol not supported, use (2)."
            } else {
                "Network protocol not supported, use (1)."
            };
            self.reply(522, text);
            return;
        }
        self.active(addr, "EPRT");
    }

    /// Active mode to `addr`, announced with `verb`: the same bounce check for both verbs.
    fn active(&mut self, addr: SocketAddr, verb: &str) {
        if !self.config.allow_foreign_port && (addr.ip() != self.peer || addr.port() < 1024) {
            self.port = None;
            let text = format!("{verb} must name your own address and a port >= 1024.");
            self.reply(501, &text);
            return;
        }
        if self.passive.take().is_some() {
            self.actions.push_back(DataAction::Abort);
        }
        self.port = Some(addr);
        let text = format!("{verb} command successful.");
        self.reply(200, &text);
    }

    /// `PASV`: IPv4 only (its 227 reply has no room for an IPv6 address).
    pub(super) fn pasv_cmd(&mut self) {
        if self.peer.is_ipv6() {
            self.reply(522, "PASV is IPv4 only, use EPSV.");
            return;
        }
        self.passive_cmd(false);
    }

    /// `EPSV [1|2|ALL]`: no argument means the control connection's family.
    pub(super) fn epsv_cmd(&mut self, arg: Option<&str>) {
        let v6 = self.peer.is_ipv6();
        match arg.map(str::to_ascii_uppercase).as_deref() {
            None => self.passive_cmd(true),
            Some("1") if !v6 => self.passive_cmd(true),
            Some("2") if v6 => self.passive_cmd(true),
            Some("ALL") => self.reply(200, "EPSV ALL ok."),
            Some(_) if v6 => self.reply(522, "Network protocol not supported, use (2)."),
            Some(_) => self.reply(522, "Network protocol not supported, use (1)."),
        }
    }

    /// `PASV`/`EPSV`: ask the network layer for a listening port; the 227/229 reply follows
    /// its [`DataEvent::Listening`](crate::ftp::DataEvent::Listening).
    fn passive_cmd(&mut self, extended: bool) {
        if self.passive.take().is_some() {
            // A passive port offered before and not used: give it up.
            self.actions.push_back(DataAction::Abort);
        }
        self.port = None;
        self.passive = Some(Passive {
            extended,
            connected: false,
        });
        self.actions.push_back(DataAction::ListenPassive {
            from: self.peer,
            label: "passive data connection".into(),
        });
    }

    /// A data event that comes before any transfer: the passive connection's.
    pub(super) fn passive_event(&mut self, ev: DataEvent) {
        let Some(p) = self.passive.as_mut() else {
            log::debug!("data event {ev:?} with no transfer");
            return;
        };
        match ev {
            DataEvent::Listening(addr) if p.extended => {
                let text = format!("Entering Extended Passive Mode (|||{}|).", addr.port());
                self.reply(229, &text);
            }
            DataEvent::Listening(SocketAddr::V6(addr)) => {
                // Cannot happen: PASV is refused on IPv6.
                let text = format!("Entering Extended Passive Mode (|||{}|).", addr.port());
                self.reply(229, &text);
            }
            DataEvent::Listening(SocketAddr::V4(addr)) => {
                let [a, b, c, d] = addr.ip().octets();
                let (hi, lo) = (addr.port() >> 8, addr.port() & 0xff);
                let text = format!("Entering Passive Mode ({a},{b},{c},{d},{hi},{lo}).");
                self.reply(227, &text);
            }
            DataEvent::Connected => p.connected = true,
            DataEvent::Failed(why) => {
                log::debug!("passive data connection failed: {why}");
                self.passive = None;
                self.reply(425, "Can't open passive data connection.");
            }
            DataEvent::Finished => {}
        }
    }
}

#[cfg(test)]
#[path = "../server_ipv6_tests.rs"]
mod tests;
