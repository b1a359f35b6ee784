//! # Client transfers (sans-IO)
//!
//! Layer: application protocol. How the [`Client`](super::Client) starts each step and follows
//! a transfer: data port announcement (`PORT`/`EPRT`) or passive request (`EPSV`/`PASV`), the
//! command, and the end of the transfer once both the final reply and the data connection's end
//! have come; plus the reply parsers that go with them.

use super::*;

impl Client {
    pub(super) fn transfer_reply(&mut self, reply: Reply) {
        let State::Transfer(t) = &mut self.state else {
            return;
        };
        if reply.is_positive_preliminary() {
            if t.total.is_none() {
                t.total = announced_size(&reply);
            }
            if t.command_sent && !open_sink(t) && t.data != Data::Done {
                t.data = Data::Done;
                self.actions.push_back(DataAction::Abort);
            }
            return;
        }
        if !t.command_sent && self.config.passive {
            // 229 (EPSV) or 227 (PASV): connect there; a refused EPSV: try PASV.
            let port = match reply.code {
                229 => epsv_port(&reply),
                227 => pasv_port(&reply),
                _ => None,
            };
            if let Some(port) = port {
                t.command_sent = true;
                self.actions.push_back(DataAction::Connect {
                    peer: SocketAddr::new(self.config.server_ip, port),
                    label: t.step.data_label(),
                });
                let line = t.step.to_string();
                self.send_line(&line);
                return;
            }
            if !t.pasv_sent && reply.is_permanent_negative() && self.config.server_ip.is_ipv4() {
                t.pasv_sent = true;
                self.no_epsv = true;
                self.send_line("PASV");
                return;
            }
        } else if !t.command_sent && reply.is_positive_completion() {
            t.command_sent = true;
            let line = t.step.to_string();
            self.send_line(&line);
            return;
        }
        if !reply.is_positive_completion() && t.data != Data::Done {
            t.data = Data::Done;
            self.actions.push_back(DataAction::Abort);
        }
        t.reply = Some(reply);
        self.maybe_complete();
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
        self.record(t.step, reply, ok, listing, t.bytes, t.error);
        self.next_step();
    }

    pub(super) fn record(
        &mut self,
        step: Step,
        reply: Reply,
        ok: bool,
        listing: Option<Vec<u8>>,
        bytes: u64,
        local_error: Option<String>,
    ) {
        self.outcomes.push(Outcome {
            step,
            reply,
            ok,
            listing,
            bytes,
            local_error,
        });
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
                self.send_line(&step.to_string());
                self.state = State::Simple(step);
                return;
            }
            let mut total = None;
            let local = match &step {
                Step::Stor { local, .. } => match File::open(local) {
                    Ok(f) => {
                        total = f.metadata().ok().map(|m| m.len());
                        Local::Source(f)
                    }
                    Err(e) => {
                        let msg = format!("cannot open {}: {e}", local.display());
                        let reply = Reply::new(550, format!("Local file not opened: {e}."));
                        self.record(step, reply, false, None, 0, Some(msg));
                        continue;
                    }
                },
                Step::Retr { .. } => Local::Sink(None),
                _ => Local::Listing(Vec::new()),
            };
            if self.config.passive {
                self.send_line(if self.no_epsv { "PASV" } else { "EPSV" });
            } else {
                let port = self.next_port;
                // After 65535 go on at 1024: port 0 cannot be listened on.
                self.next_port = self.next_port.checked_add(1).unwrap_or(1024);
                self.actions.push_back(DataAction::Listen {
                    port,
                    label: step.data_label(),
                });
                let line = match self.config.local_ip {
                    IpAddr::V4(ip) if self.config.server_ip.is_ipv4() => {
                        let [a, b, c, d] = ip.octets();
                        format!("PORT {a},{b},{c},{d},{},{}", port >> 8, port & 0xff)
                    }
                    IpAddr::V4(ip) => format!("EPRT |1|{ip}|{port}|"),
                    IpAddr::V6(ip) => format!("EPRT |2|{ip}|{port}|"),
                };
                self.send_line(&line);
            }
            self.state = State::Transfer(Box::new(Transfer {
                step,
                command_sent: false,
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

/// Opens a RETR's local file if that is still to do: on the server's `150` (the command was
/// accepted), on the first data byte or at a clean end, never before, so a refused RETR leaves
/// the local file alone. False (with the error recorded) if it cannot be opened.
pub(super) fn open_sink(t: &mut Transfer) -> bool {
    let (Local::Sink(file @ None), Step::Retr { local, .. }) = (&mut t.local, &t.step) else {
        return true;
    };
    if t.error.is_some() {
        return true;
    }
    match File::create(local) {
        Ok(f) => {
            *file = Some(f);
            true
        }
        Err(e) => {
            t.error = Some(format!("cannot create {}: {e}", local.display()));
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
