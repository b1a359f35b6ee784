//! File verbs of the server session: `RETR STOR STOU APPE DELE RNFR RNTO MKD RMD SIZE MDTM REST
//! ALLO` and the listings `LIST NLST MLSD`.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::super::command::Command;
use super::super::listing;
use super::transfer::{ListKind, PartFile, Payload, Prepared};
use super::{Session, quote_path};

/// How an upload opens its file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UploadMode {
    /// `STOR`: replace (through a temporary name when configured).
    Replace,
    /// `STOR` after `REST n`: write in place from offset n, cutting the rest.
    Resume(u64),
    /// `APPE`: append in place.
    Append,
}

/// The temporary name of an upload to `dest`: `.name.smolftp-part` in the same directory.
fn part_path(dest: &Path) -> Option<PathBuf> {
    let name = dest.file_name()?.to_string_lossy();
    Some(dest.with_file_name(format!(".{name}.smolftp-part")))
}

impl Session {
    /// Runs a file command; the caller has checked the login.
    pub(super) fn file_command(
        &mut self,
        cmd: Command,
        rest: Option<u64>,
        rename_from: Option<PathBuf>,
    ) {
        let writes = matches!(
            cmd,
            Command::Stor(_)
                | Command::Stou(_)
                | Command::Appe(_)
                | Command::Dele(_)
                | Command::Rmd(_)
                | Command::Mkd(_)
                | Command::Rnfr(_)
                | Command::Rnto(_)
        );
        if writes && !self.may_write() {
            self.reply(550, "Permission denied.");
            return;
        }
        match cmd {
            Command::List(path) => self.listing(path, ListKind::List),
            Command::Nlst(path) => self.listing(path, ListKind::Nlst),
            Command::Mlsd(path) => self.listing(path, ListKind::Mlsd(self.facts)),
            Command::Retr(path) => self.retr(path, rest.unwrap_or(0)),
            Command::Stor(path) => {
                let mode = rest.map_or(UploadMode::Replace, UploadMode::Resume);
                self.upload("STOR", path, mode, None);
            }
            Command::Stou(path) => self.stou(path),
            Command::Appe(path) => self.upload("APPE", path, UploadMode::Append, None),
            Command::Rest(n) => {
                self.rest = Some(n);
                self.reply(350, &format!("Restart position accepted ({n})."));
            }
            Command::Allo => self.reply(202, "ALLO command ignored."),
            Command::Size(path) => {
                let size = self
                    .resolve(&path)
                    .and_then(|p| std::fs::metadata(p).ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len());
                match size {
                    Some(n) => self.reply(213, &n.to_string()),
                    None => self.reply(550, "Could not get file size."),
                }
            }
            Command::Mdtm(path) => {
                let mtime = self
                    .resolve(&path)
                    .and_then(|p| std::fs::metadata(p).ok())
                    .filter(|m| m.is_file())
                    .and_then(|m| m.modified().ok());
                match mtime {
                    Some(t) => self.reply(213, &listing::mlsx_time(t)),
                    None => self.reply(550, "Could not get file modification time."),
                }
            }
            Command::Dele(path) => {
                let done = self
                    .resolve_entry(&path)
                    .filter(|p| p.symlink_metadata().is_ok_and(|m| !m.is_dir()))
                    .is_some_and(|p| std::fs::remove_file(p).is_ok());
                match done {
                    true => self.reply(250, "Delete operation successful."),
                    false => self.reply(550, "Delete operation failed."),
                }
            }
            Command::Rmd(path) => {
                let done = self
                    .resolve_entry(&path)
                    .filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_dir()))
                    .is_some_and(|p| std::fs::remove_dir(p).is_ok());
                match done {
                    true => self.reply(250, "Remove directory operation successful."),
                    false => self.reply(550, "Remove directory operation failed."),
                }
            }
            Command::Mkd(path) => {
                let made = self
                    .resolve_entry(&path)
                    .is_some_and(|p| std::fs::create_dir(p).is_ok());
                match (made, self.vpath(&path)) {
                    (true, Some(v)) => self.reply(257, &format!("{} created", quote_path(&v))),
                    _ => self.reply(550, "Create directory operation failed."),
                }
            }
            Command::Rnfr(path) => match self.resolve_entry(&path) {
                Some(p) if p.symlink_metadata().is_ok() => {
                    self.rename_from = Some(p);
                    self.reply(350, "Ready for RNTO.");
                }
                _ => self.reply(550, "RNFR command failed."),
            },
            Command::Rnto(path) => {
                let Some(from) = rename_from else {
                    self.reply(503, "RNFR required first.");
                    return;
                };
                let done = self
                    .resolve_entry(&path)
                    .is_some_and(|to| std::fs::rename(from, to).is_ok());
                match done {
                    true => self.reply(250, "Rename successful."),
                    false => self.reply(550, "Rename failed."),
                }
            }
            other => {
                log::debug!("no handler for {other:?}");
                self.reply(502, "Command not implemented.");
            }
        }
    }

    fn listing(&mut self, path: Option<String>, kind: ListKind) {
        let Some(plan) = self.take_port() else {
            return;
        };
        let verb = match kind {
            ListKind::List => "LIST",
            ListKind::Nlst => "NLST",
            ListKind::Mlsd(_) => "MLSD",
        };
        let arg = path.unwrap_or_default();
        let prepared = self.listing_payload(&arg, kind);
        self.begin_or_refuse(plan, verb, arg, prepared);
    }

    fn listing_payload(&self, arg: &str, kind: ListKind) -> Prepared {
        let real = self
            .resolve(arg)
            .ok_or((550, "Failed to open directory."))?;
        if matches!(kind, ListKind::Mlsd(_)) && !real.is_dir() {
            return Err((501, "MLSD needs a directory."));
        }
        let name = arg.rsplit('/').next().unwrap_or("").to_string();
        Ok(Payload::Listing {
            path: real,
            name,
            kind,
            data: Vec::new(),
            pos: 0,
        })
    }

    fn retr(&mut self, arg: String, offset: u64) {
        let Some(plan) = self.take_port() else {
            return;
        };
        let prepared = self.retr_payload(&arg, offset);
        self.begin_or_refuse(plan, "RETR", arg, prepared);
    }

    fn retr_payload(&self, arg: &str, offset: u64) -> Prepared {
        let opened = self.resolve(arg).and_then(|real| {
            let file = File::open(real).ok()?;
            let meta = file.metadata().ok()?;
            meta.is_file().then_some((file, meta.len()))
        });
        let (mut file, size) = opened.ok_or((550, "Failed to open file."))?;
        if offset > size || file.seek(SeekFrom::Start(offset)).is_err() {
            return Err((554, "Restart offset past the end of the file."));
        }
        Ok(Payload::Retr {
            file,
            size,
            ascii: self.ascii,
            crlf: Default::default(),
        })
    }

    /// `STOU [name]`: the first of `name`, `name.1`, `name.2`, ... that does not exist.
    fn stou(&mut self, arg: Option<String>) {
        let base = arg.unwrap_or_else(|| "stou".to_string());
        let free = (0..1000).map(|i| match i {
            0 => base.clone(),
            i => format!("{base}.{i}"),
        });
        let jail = self.jail.clone();
        let chosen = free.into_iter().find(|name| {
            self.vpath(name)
                .and_then(|v| jail.resolve_new(&v).ok())
                .is_some_and(|p| p.symlink_metadata().is_err())
        });
        match chosen {
            Some(name) => self.upload("STOU", name.clone(), UploadMode::Replace, Some(name)),
            None => self.reply(553, "Could not find a unique file name."),
        }
    }

    fn upload(
        &mut self,
        verb: &'static str,
        arg: String,
        mode: UploadMode,
        unique: Option<String>,
    ) {
        let Some(plan) = self.take_port() else {
            return;
        };
        let prepared = self.upload_payload(&arg, mode, unique);
        self.begin_or_refuse(plan, verb, arg, prepared);
    }

    fn upload_payload(&self, arg: &str, mode: UploadMode, unique: Option<String>) -> Prepared {
        const CANNOT: (u16, &str) = (553, "Could not create file.");
        let dest = self
            .vpath(arg)
            .and_then(|v| self.jail.resolve_new(&v).ok())
            .ok_or(CANNOT)?;
        let atomic = self.config.atomic_uploads && mode == UploadMode::Replace;
        let opened = match mode {
            UploadMode::Replace if atomic => part_path(&dest).and_then(|temp| {
                let f = File::create(&temp).ok()?;
                let part = PartFile {
                    temp,
                    dest: dest.clone(),
                    done: false,
                };
                Some((f, Some(part)))
            }),
            UploadMode::Replace => File::create(&dest).ok().map(|f| (f, None)),
            UploadMode::Append => OpenOptions::new()
                .append(true)
                .create(true)
                .open(&dest)
                .ok()
                .map(|f| (f, None)),
            UploadMode::Resume(n) => {
                // Past the end (or a file that is not there, for n > 0): refused before
                // anything is opened, so no empty file is left behind.
                let len = std::fs::metadata(&dest).map_or(0, |m| m.len());
                if n > len {
                    return Err((554, "Restart offset past the end of the file."));
                }
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&dest)
                    .ok()
                    .and_then(|mut f| {
                        let placed = f.set_len(n).is_ok() && f.seek(SeekFrom::Start(n)).is_ok();
                        placed.then_some((f, None))
                    })
            }
        };
        let (file, part) = opened.ok_or(CANNOT)?;
        Ok(Payload::Stor {
            file: Some(file),
            part,
            ascii: self.ascii,
            held_cr: false,
            unique,
        })
    }
}
