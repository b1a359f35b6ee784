//! # Client data connection (sans-IO)
//!
//! Layer: application protocol. What the [`Client`](super::Client) does with a transfer's data
//! connection: the events the network layer reports, and the bytes between the connection and
//! the local side (a listing in memory, a file written or read). Under `TYPE A` a file's line
//! ends are converted as RFC 959 asks of both ends: CRLF on the wire, LF in the local file.

use std::io::Write;

use super::super::ascii::{at_end, crlf_to_lf, read_file};
use super::super::command::{self, Command, TransferType};
use super::transfer::open_sink;
use super::*;
use crate::ftp::{DataEvent, Read};

impl Client {
    /// What happened to the data connection.
    pub(super) fn data_event(&mut self, ev: DataEvent) {
        self.timer.activity();
        let State::Transfer(t) = &mut self.state else {
            log::debug!("data event {ev:?} with no transfer");
            return;
        };
        match ev {
            DataEvent::Listening(_) => log::debug!("unexpected Listening event"),
            DataEvent::Connected if t.data == Data::Listening => {
                t.data = Data::Connected;
                // A RETR's local file is opened later, once the server accepted the command:
                // in passive mode we connect before it has even seen it.
                let action = match &mut t.local {
                    Local::Listing(_) | Local::Sink(_) => DataAction::Receive,
                    Local::Source(_) => DataAction::Send {
                        fin: self.config.fin.for_file(),
                    },
                };
                self.actions.push_back(action);
            }
            DataEvent::Connected => log::debug!("unexpected Connected event"),
            DataEvent::Finished => {
                if t.data != Data::Done && t.held_cr {
                    // The data ended with a lone CR: it is part of the file.
                    t.held_cr = false;
                    write_sink(t, b"\r");
                }
                t.data = Data::Done;
                self.maybe_complete();
            }
            DataEvent::Failed(why) => {
                if t.data != Data::Done {
                    t.error
                        .get_or_insert(format!("data connection failed: {why}"));
                    t.data = Data::Done;
                }
                self.maybe_complete();
            }
        }
    }

    /// Fills `buf` with outgoing data for a `Send` transfer (`STOR`, `APPE`, `STOU`), saying
    /// when it is the last.
    pub(super) fn read_source(&mut self, buf: &mut [u8]) -> Read {
        let State::Transfer(t) = &mut self.state else {
            return Read::last(0);
        };
        if t.data != Data::Connected || t.error.is_some() {
            return Read::last(0);
        }
        let Local::Source(file) = &mut t.local else {
            return Read::last(0);
        };
        let read = if t.ascii {
            t.crlf.read(file, buf).map(|n| Read {
                len: n,
                end: n == 0 || (t.crlf.drained() && at_end(file)),
            })
        } else {
            read_file(file, buf)
        };
        match read {
            Ok(read) => {
                t.bytes += read.len as u64;
                if read.len > 0 {
                    self.timer.activity();
                }
                read
            }
            Err(e) => {
                t.error = Some(format!("read error: {e}"));
                Read::last(0)
            }
        }
    }

    /// Takes incoming data of a `Receive` transfer (`LIST`, `NLST`, `MLSD`, `RETR`, reget).
    pub(super) fn write_sink_data(&mut self, data: &[u8]) {
        let State::Transfer(t) = &mut self.state else {
            return;
        };
        t.bytes += data.len() as u64;
        if !data.is_empty() {
            self.timer.activity();
        }
        if !open_sink(t) {
            t.data = Data::Done;
            self.actions.push_back(DataAction::Abort);
            return;
        }
        match &mut t.local {
            Local::Listing(buf) => buf.extend_from_slice(data),
            Local::Sink(_) if t.ascii => {
                let mut lf = Vec::with_capacity(data.len());
                crlf_to_lf(data, &mut t.held_cr, &mut lf);
                write_sink(t, &lf);
            }
            Local::Sink(_) => write_sink(t, data),
            Local::Source(_) => {}
        }
    }

    /// A step got its `2xx`: remember a change of `TYPE`, which decides whether the next
    /// transfers convert line ends.
    pub(super) fn note_type(&mut self, step: &Step) {
        match step {
            Step::Type(t) => self.ascii = *t == TransferType::Ascii,
            Step::Quote(_) => match command::parse(step.to_string().as_bytes()) {
                Ok(Command::Type(t)) => self.ascii = t == TransferType::Ascii,
                // REIN puts the server back to its defaults: TYPE I for ours.
                Ok(Command::Rein) => self.ascii = false,
                _ => {}
            },
            _ => {}
        }
    }
}

/// Writes downloaded bytes to the local file; a write error is recorded and the file dropped.
fn write_sink(t: &mut Transfer, data: &[u8]) {
    let Local::Sink(file) = &mut t.local else {
        return;
    };
    if let Some(f) = file
        && let Err(e) = f.write_all(data)
    {
        t.error = Some(format!("write error: {e}"));
        *file = None;
    }
}
