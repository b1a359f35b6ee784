//! The data connection of a server session: the one [`Transfer`], its data events,
//! `read_data`/`write_data` (with `TYPE A` CRLF conversion), atomic uploads and `ABOR`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use super::super::ascii::{CrlfReader, crlf_to_lf};
use super::super::listing::{self, Facts};
use super::super::reply::Reply;
use super::super::upload::{self, FileId};
use super::super::{DataAction, DataEvent};
use super::{DataPlan, Session};

/// Which listing a transfer sends.
pub(super) enum ListKind {
    List,
    Nlst,
    Mlsd(Facts),
}

/// An upload written under a temporary name, renamed to `dest` on success and removed
/// otherwise (also when the session is dropped mid-transfer).
pub(super) struct PartFile {
    pub temp: PathBuf,
    /// The temporary's identity: only that file is ever removed under its name.
    pub temp_id: FileId,
    pub dest: PathBuf,
    /// `STOU`: `dest` is the empty file created to reserve its name, removed with the temporary
    /// when the upload fails (unless something else, or more, has been put there meanwhile).
    pub reserved: Option<FileId>,
    pub done: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.done {
            upload::remove_if_same(&self.temp, self.temp_id, false);
            if let Some(id) = self.reserved {
                upload::remove_if_same(&self.dest, id, true);
            }
        }
    }
}

/// What a transfer moves.
pub(super) enum Payload {
    /// A listing generated when the data connection comes up (`LIST` / `NLST` / `MLSD`).
    Listing {
        path: PathBuf,
        name: String,
        kind: ListKind,
        data: Vec<u8>,
        pos: usize,
    },
    /// A file read in chunks (`RETR`); `ascii` converts LF to CRLF, through `crlf`.
    Retr {
        file: File,
        size: u64,
        ascii: bool,
        crlf: CrlfReader,
    },
    /// A file written as data arrives (`STOR STOU APPE`); `file` is `None` once a write failed.
    Stor {
        file: Option<File>,
        part: Option<PartFile>,
        ascii: bool,
        held_cr: bool,
        /// `STOU`: the name chosen, for the 150 reply.
        unique: Option<String>,
    },
}

/// What a transfer command prepared before its data connection is used: the payload, or the
/// error reply (code and text) that refuses the command.
pub(super) type Prepared = Result<Payload, (u16, &'static str)>;

/// The one data transfer of a session.
pub(super) struct Transfer {
    /// Command and argument as typed, for the 150 and STAT replies.
    pub verb: &'static str,
    pub arg: String,
    pub payload: Payload,
    pub connected: bool,
    /// A local read/write error, answered when the connection finishes (451 or 452).
    pub error: Option<(u16, String)>,
    /// Bytes moved on the data connection so far.
    pub bytes: u64,
}

/// The reply code and text for a local disk error: 452 when the disk is full, else 451.
pub(super) fn disk_error(e: &io::Error, what: &str) -> (u16, String) {
    if e.kind() == io::ErrorKind::StorageFull
        || e.kind() == io::ErrorKind::QuotaExceeded
        || e.raw_os_error() == Some(libc::ENOSPC)
    {
        (452, "Insufficient storage space.".to_string())
    } else {
        (451, format!("Failure {what} local file."))
    }
}

impl Transfer {
    /// Finishes an upload: writes a held CR, renames the temporary file. Err is the reply.
    fn commit(&mut self) -> Result<(), (u16, String)> {
        if let Payload::Stor {
            file,
            part,
            held_cr,
            ..
        } = &mut self.payload
        {
            if *held_cr && let Some(f) = file {
                f.write_all(b"\r")
                    .map_err(|e| disk_error(&e, "writing to"))?;
            }
            // Renamed while still open, so still locked: a server starting meanwhile does not
            // take it for a stale temporary.
            if let Some(p) = part {
                std::fs::rename(&p.temp, &p.dest).map_err(|e| disk_error(&e, "renaming"))?;
                p.done = true;
            }
            *file = None;
        }
        Ok(())
    }
}

impl Session {
    /// Reports what happened to the data connection.
    pub fn handle_data_event(&mut self, ev: DataEvent) {
        let Some(t) = self.transfer.as_mut() else {
            self.passive_event(ev);
            return;
        };
        match (ev, t.connected) {
            (DataEvent::Listening(_), _) => log::debug!("late Listening event"),
            (DataEvent::Connected, false) => {
                t.connected = true;
                self.start_transfer();
            }
            (DataEvent::Connected, true) => log::debug!("duplicate Connected event"),
            (DataEvent::Finished, true) => {
                let result = match t.error.take() {
                    Some(e) => Err(e),
                    None => t.commit(),
                };
                match result {
                    Err((code, text)) => self.reply(code, &text),
                    Ok(()) if matches!(t.payload, Payload::Listing { .. }) => {
                        self.reply(226, "Directory send OK.")
                    }
                    Ok(()) => self.reply(226, "Transfer complete."),
                }
                self.end_transfer();
            }
            (ev @ (DataEvent::Finished | DataEvent::Failed(_)), false) => {
                log::debug!("data connection failed: {ev:?}");
                self.reply(425, "Can't open data connection.");
                self.end_transfer();
            }
            (DataEvent::Failed(why), true) => {
                log::debug!("data connection broke: {why}");
                self.reply(426, "Connection closed; transfer aborted.");
                self.end_transfer();
            }
        }
    }

    /// Fills `buf` with outgoing data for a `Send` transfer; 0 means no more.
    pub fn read_data(&mut self, buf: &mut [u8]) -> usize {
        let Some(t) = self.transfer.as_mut() else {
            return 0;
        };
        if !t.connected || t.error.is_some() || buf.is_empty() {
            return 0;
        }
        let n = match &mut t.payload {
            Payload::Listing { data, pos, .. } => {
                let n = buf.len().min(data.len().saturating_sub(*pos));
                buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                *pos += n;
                Ok(n)
            }
            Payload::Retr {
                file, ascii: false, ..
            } => read_retry(file, buf),
            Payload::Retr { file, crlf, .. } => crlf.read(file, buf),
            Payload::Stor { .. } => Ok(0),
        };
        match n {
            Ok(n) => {
                t.bytes += n as u64;
                n
            }
            Err(e) => self.read_failed(e),
        }
    }

    fn read_failed(&mut self, e: io::Error) -> usize {
        log::warn!("read error during RETR: {e}");
        if let Some(t) = self.transfer.as_mut() {
            t.error = Some(disk_error(&e, "reading"));
        }
        0
    }

    /// Takes incoming data of a `Receive` transfer (`STOR`, `STOU`, `APPE`).
    pub fn write_data(&mut self, data: &[u8]) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        let Payload::Stor {
            file: Some(f),
            ascii,
            held_cr,
            ..
        } = &mut t.payload
        else {
            return;
        };
        t.bytes += data.len() as u64;
        let result = if *ascii {
            let mut conv = Vec::with_capacity(data.len());
            crlf_to_lf(data, held_cr, &mut conv);
            f.write_all(&conv)
        } else {
            f.write_all(data)
        };
        if let Err(e) = result {
            log::warn!("write error during upload: {e}");
            t.error = Some(disk_error(&e, "writing to"));
            if let Payload::Stor { file, .. } = &mut t.payload {
                *file = None;
            }
        }
    }

    fn begin(&mut self, plan: DataPlan, verb: &'static str, arg: String, payload: Payload) {
        let label = match verb {
            "LIST" | "NLST" | "MLSD" => format!("{verb} data connection"),
            _ => format!("{verb} {arg} data connection"),
        };
        self.transfer = Some(Transfer {
            verb,
            arg,
            payload,
            connected: false,
            error: None,
            bytes: 0,
        });
        match plan {
            DataPlan::Active(peer) => self.actions.push_back(DataAction::Connect { peer, label }),
            // The client connected after PASV, before this command: go.
            DataPlan::Passive { connected: true } => self.handle_data_event(DataEvent::Connected),
            // It will connect: DataEvent::Connected starts the transfer.
            DataPlan::Passive { connected: false } => {}
        }
    }

    /// Begins the transfer a command `prepared` on `plan`, or answers its error. The command
    /// used the `PORT`/`PASV` up either way; a refused one also gives up the passive connection
    /// on offer (`Abort`), which no transfer would ever use and which the client may already
    /// have connected to.
    pub(super) fn begin_or_refuse(
        &mut self,
        plan: DataPlan,
        verb: &'static str,
        arg: String,
        prepared: Prepared,
    ) {
        match prepared {
            Ok(payload) => self.begin(plan, verb, arg, payload),
            Err((code, text)) => {
                if matches!(plan, DataPlan::Passive { .. }) {
                    self.actions.push_back(DataAction::Abort);
                }
                self.reply(code, text);
            }
        }
    }

    /// `ABOR`: during a transfer drop the data connection and answer 426 then 226.
    pub(super) fn abor(&mut self) {
        match self.transfer.take() {
            None => self.reply(225, "No transfer to ABOR."),
            Some(t) => {
                self.actions.push_back(DataAction::Abort);
                if t.connected {
                    self.reply(426, "Connection closed; transfer aborted.");
                    self.reply(226, "ABOR successful.");
                } else {
                    self.reply(225, "ABOR successful; no data connection was open.");
                }
                drop(t);
                self.end_transfer();
            }
        }
    }

    /// The `STAT` line about the running transfer, if any.
    pub(super) fn transfer_status(&self) -> Option<String> {
        let t = self.transfer.as_ref()?;
        Some(match &t.payload {
            Payload::Retr { size, .. } => {
                format!("{} {}: {} of {} bytes sent", t.verb, t.arg, t.bytes, size)
            }
            Payload::Stor { .. } => format!("{} {}: {} bytes received", t.verb, t.arg, t.bytes),
            Payload::Listing { .. } => format!("{}: {} bytes sent", t.verb, t.bytes),
        })
    }

    /// The data connection is up: send the 150 reply and the Send/Receive action.
    fn start_transfer(&mut self) {
        let now = self.now;
        let fin = self.config.fin;
        let writable = self.may_write();
        let jail = self.jail.clone();
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        let (reply, action) = match &mut t.payload {
            Payload::Listing {
                path,
                name,
                kind,
                data,
                ..
            } => {
                let made = match kind {
                    ListKind::Nlst => listing::nlst(&jail, path, name),
                    ListKind::List => listing::list(&jail, path, name, now),
                    ListKind::Mlsd(facts) => listing::mlsd(&jail, path, *facts, writable),
                };
                match made {
                    Ok(bytes) => *data = bytes,
                    Err(e) => {
                        log::warn!("listing failed: {e}");
                        t.error = Some((451, "Failure reading directory.".to_string()));
                    }
                }
                (
                    Reply::new(150, "Here comes the directory listing."),
                    DataAction::Send {
                        fin: fin.for_listing(),
                    },
                )
            }
            Payload::Retr { size, ascii, .. } => (
                Reply::new(
                    150,
                    format!(
                        "Opening {} mode data connection for {} ({} bytes).",
                        if *ascii { "ASCII" } else { "BINARY" },
                        t.arg,
                        size
                    ),
                ),
                DataAction::Send {
                    fin: fin.for_file(),
                },
            ),
            Payload::Stor {
                unique: Some(name), ..
            } => (
                Reply::new(150, format!("FILE: {name}")),
                DataAction::Receive,
            ),
            Payload::Stor { .. } => (Reply::new(150, "Ok to send data."), DataAction::Receive),
        };
        self.send(reply);
        self.actions.push_back(action);
    }
}

fn read_retry(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
