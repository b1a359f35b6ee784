//! Data-connection mode verbs of the server session: `PORT` and `EPRT` (active), `PASV` and
//! `EPSV` (passive). `PORT` and `PASV` carry IPv4 addresses only, so on an IPv6 control
//! connection they get `522` and the client is pointed at `EPRT`/`EPSV` (RFC 2428).

use std::net::{SocketAddr, SocketAddrV4};

use super::{Passive, Session};
use crate::ftp::{DataAction, DataEvent};

impl Session {
    /// `PORT h1,h2,h3,h4,p1,p2`: IPv4 only.
    pub(super) fn port_cmd(&mut self, addr: SocketAddrV4) {
        if self.refused_after_epsv_all("PORT") {
            return;
        }
        if self.peer.is_ipv6() {
            self.port = None;
            self.reply(522, "PORT is IPv4 only, use EPRT.");
            return;
        }
        self.active(SocketAddr::V4(addr), "PORT");
    }

    /// `EPRT |proto|address|port|`: the address must be of the control connection's family.
    pub(super) fn eprt_cmd(&mut self, addr: SocketAddr) {
        if self.refused_after_epsv_all("EPRT") {
            return;
        }
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
        if self.refused_after_epsv_all("PASV") {
            return;
        }
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
            Some("ALL") => {
                self.epsv_all = true;
                self.reply(200, "EPSV ALL ok.");
            }
            Some(_) if v6 => self.reply(522, "Network protocol not supported, use (2)."),
            Some(_) => self.reply(522, "Network protocol not supported, use (1)."),
        }
    }

    /// After `EPSV ALL` only `EPSV` may set up a data connection (RFC 2428 section 4): NAT
    /// boxes on the way stop translating `PORT`-style commands on the client's word.
    fn refused_after_epsv_all(&mut self, verb: &str) -> bool {
        if self.epsv_all {
            let text = format!("{verb} not allowed after EPSV ALL.");
            self.reply(501, &text);
        }
        self.epsv_all
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
            announced: false,
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
            DataEvent::Listening(addr) => {
                p.announced = true;
                match addr {
                    // (PASV is refused on IPv6, so a V6 address always answers EPSV.)
                    SocketAddr::V4(v4) if !p.extended => {
                        let [a, b, c, d] = v4.ip().octets();
                        let (hi, lo) = (v4.port() >> 8, v4.port() & 0xff);
                        let text = format!("Entering Passive Mode ({a},{b},{c},{d},{hi},{lo}).");
                        self.reply(227, &text);
                    }
                    _ => {
                        let text = format!("Entering Extended Passive Mode (|||{}|).", addr.port());
                        self.reply(229, &text);
                    }
                }
                // Commands that came behind PASV/EPSV.
                self.process();
            }
            DataEvent::Connected => p.connected = true,
            DataEvent::Failed(why) => {
                log::debug!("passive data connection failed: {why}");
                let offered = p.announced;
                self.passive = None;
                if !offered {
                    self.reply(425, "Can't open passive data connection.");
                    self.process();
                }
            }
            DataEvent::Finished => {}
        }
    }
}

#[cfg(test)]
mod tests;
