//! # Client transfers (sans-IO)
//!
//! Layer: application protocol. How the [`Client`](super::Client) starts each step and follows
//! a transfer: data port announcement (`PORT`/`EPRT`) or passive request (`EPSV`/`PASV`), a
//! `REST` for a `reget`, the command, and the end of the transfer once both the final reply and
//! the data connection's end have come; plus the reply parsers that go with them.

use std::fs::OpenOptions;
use std::net::SocketAddrV4;

use super::*;

impl Client {
    pub(super) fn transfer_reply(&mut self, reply: Reply) {
        let State::Transfer(t) = &mut self.state else {
            return;
        };
        if reply.is_positive_preliminary() {
            if t.total.is_none() {
                // A reget's 150 announces the whole file; what comes is the rest.
                t.total = announced_size(&reply).map(|n| n.saturating_sub(t.offset));
            }
            if matches!(t.step, Step::Stou { .. }) && t.unique_name.is_none() {
                t.unique_name = unique_name(&reply);
            }
            if t.stage == Stage::Command && !open_sink(t) && t.data != Data::Done {
                t.data = Data::Done;
                self.actions.push_back(DataAction::Abort);
            }
            return;
        }
        match t.stage {
            Stage::Port if self.config.passive => {
                // 229 (EPSV) or 227 (PASV): connect there; a refused EPSV: try PASV.
                let port = match reply.code {
                    229 => epsv_port(&reply),
                    227 => pasv_port(&reply),
                    _ => None,
                };
                if let Some(port) = port {
                    self.actions.push_back(DataAction::Connect {
                        peer: SocketAddr::new(self.config.server_ip, port),
                        label: t.step.data_label(),
                    });
                    self.send_transfer_command();
                    return;
                }
                if !t.pasv_sent && reply.is_permanent_negative() && self.config.server_ip.is_ipv4()
                {
                    t.pasv_sent = true;
                    self.no_epsv = true;
                    self.send(&Command::Pasv);
                    return;
                }
            }
            Stage::Port if reply.is_positive_completion() => {
                self.send_transfer_command();
                return;
            }
            Stage::Rest if reply.code == 350 => {
                t.stage = Stage::Command;
                let step = t.step.clone();
                self.send_step(&step);
                return;
            }
            Stage::Rest => {
                // REST refused, or answered with something else than 350: no RETR, the step
                // fails with that reply.
                t.error = Some(if reply.is_negative() {
                    format!(
                        "the server cannot resume at byte {}; `get` downloads the whole file",
                        t.offset
                    )
                } else {
                    format!("REST answered with {}, not 350", reply.code)
                });
                if t.data != Data::Done {
                    t.data = Data::Done;
                    self.actions.push_back(DataAction::Abort);
                }
                t.reply = Some(reply);
                self.maybe_complete();
                return;
            }
            Stage::Port | Stage::Command => {}
        }
        if !reply.is_positive_completion() && t.data != Data::Done {
            t.data = Data::Done;
            self.actions.push_back(DataAction::Abort);
        }
        if matches!(t.step, Step::Stou { .. }) && t.unique_name.is_none() {
            t.unique_name = unique_name(&reply);
        }
        t.reply = Some(reply);
        self.maybe_complete();
    }

    /// The data connection is arranged: send `REST` first for a reget, else the command.
    fn send_transfer_command(&mut self) {
        let State::Transfer(t) = &mut self.state else {
            return;
        };
        if t.offset > 0 {
            t.stage = Stage::Rest;
            let rest = Command::Rest(t.offset);
            self.send(&rest);
        } else {
            t.stage = Stage::Command;
            let step = t.step.clone();
            self.send_step(&step);
        }
    }

    /// Records the transfer once both its final reply and the end of its data connection came.
    pub(super) fn maybe_complete(&mut self) {
        let State::Transfer(t) = &self.state else {
            return;
        };
        if t.reply.is_none() || t.data != Data::Done {
            return;
        }
        let State::Transfer(t) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        let mut t = *t;
        // An empty file whose server said nothing before its 226 is created now.
        if t.reply.as_ref().is_some_and(Reply::is_positive_completion) {
            open_sink(&mut t);
        }
        let Some(reply) = t.reply else {
            return;
        };
        let ok = reply.is_positive_completion() && t.error.is_none();
        let listing = match t.local {
            Local::Listing(data) => Some(data),
            _ => None,
        };
        self.record(Outcome {
            step: t.step,
            reply,
            ok,
            listing,
            bytes: t.bytes,
            local_error: t.error,
            unique_name: t.unique_name,
        });
        self.next_step();
    }

    /// Starts the next step, or sends `QUIT` when there is none.
    pub(super) fn next_step(&mut self) {
        loop {
            let Some(step) = self.steps.pop_front() else {
                if self.keep_open {
                    self.state = State::Idle;
                } else {
                    self.quit();
                }
                return;
            };
            if !step.is_transfer() {
                self.send_step(&step);
                self.state = State::Simple(step);
                return;
            }
            let mut total = None;
            let mut offset = 0;
            let local = match &step {
                Step::Stor { local, .. } | Step::Appe { local, .. } | Step::Stou { local, .. } => {
                    match File::open(local) {
                        Ok(f) => {
                            total = f.metadata().ok().map(|m| m.len());
                            Local::Source(f)
                        }
                        Err(e) => {
                            let msg = format!("cannot open {}: {e}", local.display());
                            let reply = Reply::new(550, format!("Local file not opened: {e}."));
                            self.record(Outcome {
                                local_error: Some(msg),
                                ..Outcome::of_reply(step, reply)
                            });
                            continue;
                        }
                    }
                }
                Step::Retr { .. } => Local::Sink(None),
                Step::Reget { local, .. } => {
                    offset = std::fs::metadata(local)
                        .ok()
                        .filter(|m| m.is_file())
                        .map_or(0, |m| m.len());
                    Local::Sink(None)
                }
                _ => Local::Listing(Vec::new()),
            };
            if self.config.passive {
                self.send(&if self.no_epsv {
                    Command::Pasv
                } else {
                    Command::Epsv(None)
                });
            } else {
                let port = self.next_port;
                // After 65535 go on at 1024: port 0 cannot be listened on.
                self.next_port = self.next_port.checked_add(1).unwrap_or(1024);
                self.actions.push_back(DataAction::Listen {
                    port,
                    label: step.data_label(),
                });
                let cmd = match self.config.local_ip {
                    IpAddr::V4(ip) if self.config.server_ip.is_ipv4() => {
                        Command::Port(SocketAddrV4::new(ip, port))
                    }
                    ip => Command::Eprt(SocketAddr::new(ip, port)),
                };
                self.send(&cmd);
            }
            self.state = State::Transfer(Box::new(Transfer {
                step,
                stage: Stage::Port,
                offset,
                unique_name: None,
                ascii: self.ascii && !matches!(local, Local::Listing(_)),
                held_cr: false,
                crlf: CrlfReader::default(),
                pasv_sent: self.no_epsv,
                data: Data::Listening,
                local,
                bytes: 0,
                reply: None,
                error: None,
                total,
            }));
            return;
        }
    }
}

/// Opens a download's local file if that is still to do: on the server's `150` (the command
/// was accepted), on the first data byte or at a clean end, never before, so a refused RETR
/// leaves the local file alone. A `reget` with an offset appends to it; a `RETR` (or a reget
/// from 0) creates or truncates it. False (with the error recorded) if it cannot be opened.
pub(super) fn open_sink(t: &mut Transfer) -> bool {
    let Local::Sink(file @ None) = &mut t.local else {
        return true;
    };
    let local = match &t.step {
        Step::Retr { local, .. } | Step::Reget { local, .. } => local,
        _ => return true,
    };
    if t.error.is_some() {
        return true;
    }
    let opened = if t.offset > 0 {
        OpenOptions::new().append(true).open(local)
    } else {
        File::create(local)
    };
    match opened {
        Ok(f) => {
            *file = Some(f);
            true
        }
        Err(e) => {
            t.error = Some(format!("cannot open {}: {e}", local.display()));
            false
        }
    }
}

/// The port of a `229 Entering Extended Passive Mode (|||port|)` reply.
pub(super) fn epsv_port(reply: &Reply) -> Option<u16> {
    let text = reply.lines.first()?;
    let inside = &text[text.find('(')? + 1..text.rfind(')')?];
    let delim = inside.chars().next()?;
    let fields: Vec<&str> = inside.split(delim).collect();
    // (<d><d><d>port<d>): fields are "", "", "", port, ""
    fields.get(3)?.parse().ok()
}

/// The port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply; the address is
/// ignored.
pub(super) fn pasv_port(reply: &Reply) -> Option<u16> {
    let text = reply.lines.first()?;
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let nums: Vec<u16> = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(6)
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    match nums[..] {
        [_, _, _, _, hi, lo] if hi < 256 && lo < 256 => Some(hi << 8 | lo),
        _ => None,
    }
}

/// The size a `150` reply announces, as in `150 Opening BINARY mode data connection for f (42
/// bytes).`
pub(super) fn announced_size(reply: &Reply) -> Option<u64> {
    let text = reply.lines.first()?;
    let open = text.rfind('(')?;
    let inside = text[open + 1..]
        .strip_suffix(").")
        .or(text[open + 1..].strip_suffix(')'))?;
    inside.strip_suffix(" bytes")?.trim().parse().ok()
}

/// The name a `STOU` reply gives, in the RFC 1123 form `FILE: name` (4.1.2.9), in the `150`
/// or the final reply, on any of its lines: the rest of the line after `FILE:`, trimmed.
pub(super) fn unique_name(reply: &Reply) -> Option<String> {
    reply.lines.iter().find_map(|line| {
        let at = line.find("FILE:")?;
        let name = line[at + "FILE:".len()..].trim();
        (!name.is_empty()).then(|| name.to_string())
    })
}
