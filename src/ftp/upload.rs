//! # Upload files (sans-IO FTP layer, file-system side)
//!
//! Layer: application protocol. How the server writes into the served directory, so that no
//! client can write outside it or mix two uploads:
//!
//! - A replacing upload (`STOR`, `STOU`) writes a temporary `.smolftp-part-<16 hex digits>` in
//!   the target's directory, created with `O_CREAT|O_EXCL|O_NOFOLLOW` (never through a symlink,
//!   never an existing file), and renamed over the target when it is complete. Its name does not
//!   depend on the target's, so a 255-byte name uploads too. Two uploads to one name each have
//!   their own temporary; the later rename wins, whole.
//! - A write in place (`APPE`, `REST` + `STOR`) opens the target with `O_NOFOLLOW`: the jail
//!   has resolved the directories, and the last component is never followed.
//! - The names come from a [`PartNames`] source that can be injected: the OS's random numbers
//!   (`getrandom`) by default, a seeded sequence for tests. This layer has no RNG of its own.
//! - A temporary being written is held under `flock(LOCK_EX)`; [`remove_stale`], run when a
//!   writable server starts, removes the temporaries nobody holds (a killed server's), logging
//!   each, and follows no symlink.

use std::fmt;
use std::fs::Metadata;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The prefix of every temporary upload name; 16 lowercase hex digits follow.
pub const PART_PREFIX: &str = ".smolftp-part-";

/// How many random names an upload tries before it gives up (each clash is a file that exists,
/// which a random 64-bit name meets only when someone planted it).
const NAME_TRIES: usize = 8;

/// How deep [`remove_stale`] descends below the root.
const MAX_DEPTH: usize = 64;

/// True for a name this server gives its temporaries: [`PART_PREFIX`] and exactly 16 lowercase
/// hex digits.
pub fn is_part_name(name: &str) -> bool {
    name.strip_prefix(PART_PREFIX).is_some_and(|hex| {
        hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Where the names of temporaries come from: the OS's random numbers, or (tests) a seeded
/// sequence shared by every clone, so one server's sessions never draw the same name twice.
#[derive(Clone)]
pub struct PartNames {
    seed: Option<u64>,
    drawn: Arc<AtomicU64>,
}

impl fmt::Debug for PartNames {
    /// Says the source, never the state.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seed {
            None => f.write_str("PartNames(os random)"),
            Some(_) => f.write_str("PartNames(seeded)"),
        }
    }
}

impl Default for PartNames {
    /// [`PartNames::os`].
    fn default() -> Self {
        PartNames::os()
    }
}

impl PartNames {
    /// Unpredictable names from the OS (`getrandom`, else `/dev/urandom`).
    pub fn os() -> PartNames {
        PartNames {
            seed: None,
            drawn: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A deterministic sequence from `seed` (tests: the names can be predicted, and attacked).
    pub fn seeded(seed: u64) -> PartNames {
        PartNames {
            seed: Some(seed),
            drawn: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The next temporary name, `.smolftp-part-` and 16 hex digits.
    pub fn next_name(&self) -> io::Result<String> {
        let n = self.drawn.fetch_add(1, Ordering::Relaxed);
        let value = match self.seed {
            Some(seed) => splitmix64(seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))),
            None => os_random_u64()?,
        };
        Ok(format!("{PART_PREFIX}{value:016x}"))
    }
}

/// One step of SplitMix64: a well-mixed 64-bit value from any input.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64 random bits from the OS.
fn os_random_u64() -> io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom(2) writes at most buf.len() bytes into the valid, owned buffer.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        File::open("/dev/urandom")?.read_exact(&mut buf)?;
    }
    Ok(u64::from_le_bytes(buf))
}

/// `flock(fd, op)`.
fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    // SAFETY: flock(2) on a descriptor this File owns; no memory is passed.
    match unsafe { libc::flock(file.as_raw_fd(), op) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Creates a new temporary in `dir` (a real directory the jail resolved): a fresh name from
/// `names`, `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0644 less the umask, held under `flock` while
/// the returned file is open. A name that exists (a file, a symlink, planted or not) is never
/// opened: the next name is tried, 8 names in all.
pub fn create_part(dir: &Path, names: &PartNames) -> io::Result<(File, PathBuf)> {
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..NAME_TRIES {
        let path = dir.join(names.next_name()?);
        match create_new(&path) {
            Ok(file) => {
                flock(&file, libc::LOCK_EX | libc::LOCK_NB)?;
                return Ok((file, path));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                log::warn!("upload temporary {} exists already", path.display());
                last = e;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// A new regular file at `path`, `O_CREAT|O_EXCL|O_NOFOLLOW`: fails if anything (a dangling
/// symlink included) is there.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Opens `path` for writing in place (created if missing), never following a symlink at its
/// last component (`ELOOP`); `truncate` empties it (a non-atomic `STOR`), `append` writes at
/// its end (`APPE`).
pub fn open_in_place(path: &Path, truncate: bool, append: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    if append {
        options.append(true);
    } else {
        options.write(true).truncate(truncate);
    }
    options
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Opens `path` for reading, not following a symlink at its last component (the jail gave a
/// canonical path: a link there now was put there since), and without blocking on a FIFO
/// (`O_NONBLOCK`, which regular files ignore): the caller checks that it is a regular file.
pub fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// A file's identity (device and inode): what a path named when the server made the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Removes `path` only while it still names the regular file `id` (`empty`: and that file is
/// still empty): a file or link put there since, or reached through a directory swapped for a
/// symlink since, is left alone. True when removed.
pub fn remove_if_same(path: &Path, id: FileId, empty: bool) -> bool {
    let same = std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_file() && FileId::of(&m) == id && (!empty || m.len() == 0));
    same && std::fs::remove_file(path).is_ok()
}

/// Removes the stale temporaries under `root`: regular files named as [`is_part_name`] says
/// that no live upload holds (`flock`), in `root` and its directories (symlinks, to files or
/// directories, are neither removed nor followed). Each removal is logged (`warn`) with its
/// path and size. Returns the paths and sizes removed.
pub fn remove_stale(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut removed = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                log::info!("not searched for stale uploads: {}: {e}", dir.display());
                continue;
            }
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() && depth < MAX_DEPTH {
                dirs.push((path, depth + 1));
            } else if kind.is_file()
                && is_part_name(&entry.file_name().to_string_lossy())
                && let Some(size) = remove_if_unheld(&path)
            {
                log::warn!(
                    "removed a stale upload temporary: {} ({size} bytes)",
                    path.display()
                );
                removed.push((path, size));
            }
        }
    }
    removed
}

/// Removes the temporary at `path` unless an upload holds it; its size when removed.
fn remove_if_unheld(path: &Path) -> Option<u64> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    if let Err(e) = flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
        log::info!("upload temporary {} in use: {e}", path.display());
        return None;
    }
    let meta = file.metadata().ok().filter(|m| m.is_file())?;
    if !remove_if_same(path, FileId::of(&meta), false) {
        log::warn!(
            "cannot remove the stale upload temporary {}",
            path.display()
        );
        return None;
    }
    Some(meta.len())
}

#[cfg(test)]
mod tests;
