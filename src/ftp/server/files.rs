//! File verbs of the server session: `RETR STOR STOU APPE DELE RNFR RNTO MKD RMD SIZE MDTM REST
//! ALLO` and the listings `LIST NLST MLSD`.
//!
//! Writes follow the rules of [`crate::ftp::upload`]: a replacing upload goes to a fresh
//! temporary (`O_EXCL|O_NOFOLLOW`, random name) renamed over the target when complete; two
//! uploads to one name each have their own, and the later rename wins, whole (both get `226`).
//! Writes in place (`APPE`, `REST` + `STOR`) never follow a symlink at the last component.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::super::listing;
use super::super::reply::Reply;
use super::super::upload::{self, FileId};
use super::transfer::{ListKind, PartFile, Payload, Prepared};
use super::{Session, quote_path};

/// How an upload opens its file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UploadMode {
    /// `STOR`: replace (through a temporary name when configured).
    Replace,
    /// `STOU`: fill the empty file just created under a unique name (through a temporary name
    /// when configured); removed again if the upload fails.
    Unique,
    /// `STOR` after `REST n`: write in place from offset n, cutting the rest.
    Resume(u64),
    /// `APPE`: append in place.
    Append,
}

/// The refusal of a name that has the form of an upload temporary (they are removed when a
/// writable server starts).
fn reserved() -> Reply {
    Reply::new(553, "File name not allowed.")
}

/// The refusal of an upload whose file cannot be made.
fn cannot_create() -> Reply {
    Reply::new(553, "Could not create file.")
}

/// True when `path` ends in a name of the upload temporaries' form.
fn reserved_name(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| upload::is_part_name(&n.to_string_lossy()))
}

impl Session {
    /// The metadata of what the virtual path `arg` (relative to the cwd) names, by the jail rule.
    fn metadata(&self, arg: &str) -> Option<std::fs::Metadata> {
        let vpath = self.vpath(arg)?;
        self.jail.metadata(&vpath).ok().map(|(_, meta)| meta)
    }

    /// `STOR path`, or after `REST n` a write in place from offset n.
    pub(super) fn stor(&mut self, path: String, rest: Option<u64>) {
        let mode = rest.map_or(UploadMode::Replace, UploadMode::Resume);
        self.upload("STOR", path, mode);
    }

    /// `APPE path`.
    pub(super) fn appe(&mut self, path: String) {
        self.upload("APPE", path, UploadMode::Append);
    }

    /// `SIZE path`.
    pub(super) fn size(&mut self, path: &str) {
        let size = self.metadata(path).filter(|m| m.is_file()).map(|m| m.len());
        match size {
            Some(n) => self.reply(213, &n.to_string()),
            None => self.reply(550, "Could not get file size."),
        }
    }

    /// `MDTM path`.
    pub(super) fn mdtm(&mut self, path: &str) {
        let mtime = self
            .metadata(path)
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok());
        match mtime {
            Some(t) => self.reply(213, &listing::mlsx_time(t)),
            None => self.reply(550, "Could not get file modification time."),
        }
    }

    /// `DELE path`: a file or a symlink, never a directory.
    pub(super) fn dele(&mut self, path: &str) {
        let done = self
            .resolve_entry(path)
            .filter(|p| p.symlink_metadata().is_ok_and(|m| !m.is_dir()))
            .is_some_and(|p| std::fs::remove_file(p).is_ok());
        match done {
            true => self.reply(250, "Delete operation successful."),
            false => self.reply(550, "Delete operation failed."),
        }
    }

    /// `RMD path`.
    pub(super) fn rmd(&mut self, path: &str) {
        let done = self
            .resolve_entry(path)
            .filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_dir()))
            .is_some_and(|p| std::fs::remove_dir(p).is_ok());
        match done {
            true => self.reply(250, "Remove directory operation successful."),
            false => self.reply(550, "Remove directory operation failed."),
        }
    }

    /// `MKD path`.
    pub(super) fn mkd(&mut self, path: &str) {
        let made = self
            .resolve_entry(path)
            .is_some_and(|p| std::fs::create_dir(p).is_ok());
        match (made, self.vpath(path)) {
            (true, Some(v)) => self.reply(257, &format!("{} created", quote_path(&v))),
            _ => self.reply(550, "Create directory operation failed."),
        }
    }

    /// `RNFR path`: remembered for the next command.
    pub(super) fn rnfr(&mut self, path: &str) {
        match self.resolve_entry(path) {
            Some(p) if p.symlink_metadata().is_ok() => {
                self.rename_from = Some(p);
                self.reply(350, "Ready for RNTO.");
            }
            _ => self.reply(550, "RNFR command failed."),
        }
    }

    /// `RNTO path`, right after a `RNFR` (`from`).
    pub(super) fn rnto(&mut self, path: &str, from: Option<PathBuf>) {
        let Some(from) = from else {
            self.reply(503, "RNFR required first.");
            return;
        };
        let to = self.resolve_entry(path);
        if to.as_deref().is_some_and(reserved_name) {
            self.send(reserved());
            return;
        }
        match to.is_some_and(|to| std::fs::rename(from, to).is_ok()) {
            true => self.reply(250, "Rename successful."),
            false => self.reply(550, "Rename failed."),
        }
    }

    pub(super) fn listing(&mut self, path: Option<String>, kind: ListKind) {
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
            .ok_or_else(|| Reply::new(550, "Failed to open directory."))?;
        if matches!(kind, ListKind::Mlsd(_)) && !real.is_dir() {
            return Err(Reply::new(501, "MLSD needs a directory."));
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

    pub(super) fn retr(&mut self, arg: String, offset: u64) {
        let Some(plan) = self.take_port() else {
            return;
        };
        let prepared = self.retr_payload(&arg, offset);
        self.begin_or_refuse(plan, "RETR", arg, prepared);
    }

    fn retr_payload(&self, arg: &str, offset: u64) -> Prepared {
        let opened = self.resolve(arg).and_then(|real| {
            let file = upload::open_read(&real).ok()?;
            let meta = file.metadata().ok()?;
            meta.is_file().then_some((file, meta.len()))
        });
        let (mut file, size) = opened.ok_or_else(|| Reply::new(550, "Failed to open file."))?;
        if offset > size || file.seek(SeekFrom::Start(offset)).is_err() {
            return Err(Reply::new(554, "Restart offset past the end of the file."));
        }
        Ok(Payload::Retr {
            file,
            size,
            ascii: self.ascii,
            crlf: Default::default(),
        })
    }

    /// `STOU [name]`: the first of `name`, `name.1`, `name.2`, ... that can be created anew
    /// (`O_EXCL|O_NOFOLLOW`: nothing, not even a dangling symlink, is there), which reserves it
    /// against every other upload.
    pub(super) fn stou(&mut self, arg: Option<String>) {
        let Some(plan) = self.take_port() else {
            return;
        };
        let base = arg.unwrap_or_else(|| "stou".to_string());
        let (name, prepared) = match self.reserve_unique(&base) {
            Some((name, dest, id)) => {
                let unique = Some(name.clone());
                let prepared = self.open_upload(dest, UploadMode::Unique, Some(id), unique);
                (name, prepared)
            }
            None => (
                base,
                Err(Reply::new(553, "Could not find a unique file name.")),
            ),
        };
        self.begin_or_refuse(plan, "STOU", name, prepared);
    }

    /// Creates the empty file of the first free name of the `STOU` sequence for `base`.
    fn reserve_unique(&self, base: &str) -> Option<(String, PathBuf, FileId)> {
        (0..1000).find_map(|i| {
            let name = match i {
                0 => base.to_string(),
                i => format!("{base}.{i}"),
            };
            let dest = self
                .vpath(&name)
                .and_then(|v| self.jail.resolve_new(&v).ok())
                .filter(|p| !reserved_name(p))?;
            let made = upload::create_new(&dest).and_then(|f| f.metadata()).ok()?;
            Some((name, dest, FileId::of(&made)))
        })
    }

    fn upload(&mut self, verb: &'static str, arg: String, mode: UploadMode) {
        let Some(plan) = self.take_port() else {
            return;
        };
        let prepared = self
            .vpath(&arg)
            .and_then(|v| self.jail.resolve_new(&v).ok())
            .ok_or_else(cannot_create)
            .and_then(|dest| match reserved_name(&dest) {
                true => Err(reserved()),
                false => self.open_upload(dest, mode, None, None),
            });
        self.begin_or_refuse(plan, verb, arg, prepared);
    }

    /// Opens the file an upload to `dest` (a path the jail resolved) writes; `reserved` is the
    /// empty file `STOU` made there.
    fn open_upload(
        &self,
        dest: PathBuf,
        mode: UploadMode,
        reserved: Option<FileId>,
        unique: Option<String>,
    ) -> Prepared {
        let atomic = self.config.atomic_uploads;
        let opened = match mode {
            UploadMode::Replace | UploadMode::Unique if atomic => {
                let dir = dest.parent().ok_or_else(cannot_create)?;
                upload::create_part(dir, self.jail.part_names()).and_then(|(f, temp)| {
                    let part = PartFile {
                        temp_id: FileId::of(&f.metadata()?),
                        temp,
                        dest: dest.clone(),
                        reserved,
                        done: false,
                    };
                    Ok((f, Some(part)))
                })
            }
            UploadMode::Replace | UploadMode::Unique => {
                upload::open_in_place(&dest, true, false).map(|f| (f, None))
            }
            UploadMode::Append => upload::open_in_place(&dest, false, true).map(|f| (f, None)),
            UploadMode::Resume(n) => {
                // Past the end (or a file that is not there, for n > 0): refused before
                // anything is opened, so no empty file is left behind.
                let len = match std::fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_file() => m.len(),
                    Ok(_) => return Err(cannot_create()),
                    Err(_) => 0,
                };
                if n > len {
                    return Err(Reply::new(554, "Restart offset past the end of the file."));
                }
                upload::open_in_place(&dest, false, false).and_then(|mut f| {
                    f.set_len(n)?;
                    f.seek(SeekFrom::Start(n))?;
                    Ok((f, None))
                })
            }
        };
        let (file, part): (File, _) = opened.map_err(|e| {
            log::warn!("cannot open {} for an upload: {e}", dest.display());
            cannot_create()
        })?;
        Ok(Payload::Stor {
            file: Some(file),
            part,
            ascii: self.ascii,
            held_cr: false,
            unique,
        })
    }
}

#[cfg(test)]
mod tests;
