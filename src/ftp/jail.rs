//! # Jailed file view (sans-IO FTP layer, file system side)
//!
//! Layer: application protocol. Serves one real directory as the virtual root `/`, like a
//! chrooted vsftpd: virtual paths are normalized (`.`, `..`, repeated slashes; `..` stops at
//! `/`) and mapped to real paths that must resolve, symlinks included, inside the root. It reads
//! file metadata but never touches sockets or clocks.
//!
//! **The jail rule**, for everything the server reports or acts on: a name counts only if what
//! it resolves to (a symlink followed, at every component) lies inside the root. A named path
//! goes through [`Jail::resolve_existing`] (or [`Jail::metadata`], [`Jail::resolve_new`]); a
//! listing (`LIST NLST MLSD`, `STAT path`) gets its entries from [`Jail::entries`], which
//! leaves out every symlink whose target is outside the root or missing: such a link is listed
//! by no verb, and every verb naming it answers as for a missing name. Only `DELE` and
//! `RNFR`/`RNTO` act on a link itself (the entry in the root), never on its target.

use std::fmt;
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use super::upload::PartNames;

/// Why a virtual path cannot be used; every variant is answered with a 550 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JailError {
    /// The path contains a NUL byte.
    Nul,
    /// The file or directory does not exist (or cannot be resolved).
    NotFound,
    /// The path resolves outside the root.
    Outside,
    /// The path names a directory or special file where a regular file is needed, or `/`.
    NotAFile,
}

impl fmt::Display for JailError {
    /// A short description for replies and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JailError::Nul => "NUL byte in path",
            JailError::NotFound => "No such file or directory",
            JailError::Outside => "Path outside the served directory",
            JailError::NotAFile => "Not a regular file",
        })
    }
}

impl std::error::Error for JailError {}

/// One real directory served as the virtual root `/`.
#[derive(Clone, Debug)]
pub struct Jail {
    root: PathBuf,
    /// Where the names of upload temporaries come from.
    part_names: PartNames,
}

/// A directory entry the jail rule lets the server report.
#[derive(Debug)]
pub struct Entry {
    /// Its name in the directory.
    pub name: String,
    /// The metadata of what it resolves to inside the root (a symlink followed): the facts
    /// every listing shows, so a link reads like its target and its own text (the target's
    /// path) never shows.
    pub meta: Metadata,
}

impl Jail {
    /// Serves `root`, which must be an existing directory; it is canonicalized once here.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Jail> {
        let root = std::fs::canonicalize(root.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Jail {
            root,
            part_names: PartNames::os(),
        })
    }

    /// The same jail with upload temporaries named by `names` (tests: a seeded sequence).
    pub fn with_part_names(self, names: PartNames) -> Jail {
        Jail {
            part_names: names,
            ..self
        }
    }

    /// Where the names of upload temporaries come from.
    pub fn part_names(&self) -> &PartNames {
        &self.part_names
    }

    /// The canonical real root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a virtual path as [`Jail::resolve_existing`] does and reads the metadata of what
    /// it names: the facts `SIZE`, `MDTM` and `MLST` report.
    pub fn metadata(&self, vpath: &str) -> Result<(PathBuf, Metadata), JailError> {
        let real = self.resolve_existing(vpath)?;
        let meta = std::fs::metadata(&real).map_err(|_| JailError::NotFound)?;
        Ok((real, meta))
    }

    /// The entries of `dir` (a real directory this jail resolved) that the jail rule lets the
    /// server report, in no particular order: every entry but a symlink whose target is outside
    /// the root or missing (left out entirely, so nothing about the target shows). Entries that
    /// vanish meanwhile are skipped.
    pub fn entries(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let Ok(own) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let meta = if own.file_type().is_symlink() {
                let inside = std::fs::canonicalize(&path)
                    .ok()
                    .and_then(|canon| self.inside(canon).ok());
                match inside.and_then(|canon| std::fs::metadata(canon).ok()) {
                    Some(meta) => meta,
                    None => continue,
                }
            } else {
                own
            };
            out.push(Entry {
                name: entry.file_name().to_string_lossy().into_owned(),
                meta,
            });
        }
        Ok(out)
    }

    /// Combines the virtual `cwd` with `arg` (absolute or relative) into a normalized virtual
    /// path starting with `/`: `.` and empty components dropped, `..` clamped at `/`.
    pub fn normalize(cwd: &str, arg: &str) -> Result<String, JailError> {
        if cwd.contains('\0') || arg.contains('\0') {
            return Err(JailError::Nul);
        }
        let mut parts: Vec<&str> = Vec::new();
        let joined = if arg.starts_with('/') {
            arg.to_string()
        } else {
            format!("{cwd}/{arg}")
        };
        for comp in joined.split('/') {
            match comp {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        Ok(format!("/{}", parts.join("/")))
    }

    /// The real (not yet resolved) path for a normalized virtual path.
    fn real(&self, vpath: &str) -> Result<PathBuf, JailError> {
        let norm = Self::normalize("/", vpath)?;
        let rel = norm.trim_start_matches('/');
        Ok(if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        })
    }

    /// Checks that a canonical path lies inside the root.
    fn inside(&self, canon: PathBuf) -> Result<PathBuf, JailError> {
        if canon.starts_with(&self.root) {
            Ok(canon)
        } else {
            Err(JailError::Outside)
        }
    }

    /// Resolves a virtual path to an existing file or directory, symlinks followed; the result
    /// is canonical and inside the root.
    pub fn resolve_existing(&self, vpath: &str) -> Result<PathBuf, JailError> {
        let real = self.real(vpath)?;
        let canon = std::fs::canonicalize(&real).map_err(|_| JailError::NotFound)?;
        self.inside(canon)
    }

    /// Resolves a virtual path for a file to be created or overwritten (`STOR`): the parent
    /// directory must exist inside the root; the target, if it exists, must be a regular file
    /// inside the root (a symlink is followed and checked).
    pub fn resolve_new(&self, vpath: &str) -> Result<PathBuf, JailError> {
        let norm = Self::normalize("/", vpath)?;
        let (parent, name) = match norm.rsplit_once('/') {
            Some((_, "")) | None => return Err(JailError::NotAFile),
            Some((p, n)) => (if p.is_empty() { "/" } else { p }, n),
        };
        let dir = self.resolve_existing(parent)?;
        if !dir.is_dir() {
            return Err(JailError::NotFound);
        }
        let target = dir.join(name);
        match std::fs::symlink_metadata(&target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(target),
            Err(_) => Err(JailError::NotFound),
            Ok(meta) => {
                let canon = if meta.file_type().is_symlink() {
                    let canon = std::fs::canonicalize(&target).map_err(|_| JailError::Outside)?;
                    self.inside(canon)?
                } else {
                    target
                };
                if canon.is_file() {
                    Ok(canon)
                } else {
                    Err(JailError::NotAFile)
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A unique temporary directory (a [`tempfile::TempDir`], removed on drop); `.0` is its
    /// path.
    pub(crate) struct TempDir(pub PathBuf, #[allow(dead_code)] tempfile::TempDir);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            let dir = tempfile::Builder::new()
                .prefix(&format!("smolftp-{tag}-"))
                .tempdir()
                .unwrap();
            TempDir(dir.path().to_path_buf(), dir)
        }
    }

    #[test]
    fn normalize_table() {
        let cases = [
            ("/", "", "/"),
            ("/", ".", "/"),
            ("/", "..", "/"),
            ("/", "../../..", "/"),
            ("/pub", "..", "/"),
            ("/pub", "../..", "/"),
            ("/pub", "docs", "/pub/docs"),
            ("/pub", "/etc/passwd", "/etc/passwd"),
            ("/pub", "../../etc/passwd", "/etc/passwd"),
            ("/", "a//b/./c/", "/a/b/c"),
            ("/a/b", "./../c", "/a/c"),
            ("/", "/..", "/"),
        ];
        for (cwd, arg, want) in cases {
            assert_eq!(
                Jail::normalize(cwd, arg),
                Ok(want.to_string()),
                "{cwd} {arg}"
            );
        }
        assert_eq!(Jail::normalize("/", "a\0b"), Err(JailError::Nul));
    }

    #[test]
    fn resolve_in_and_out() {
        let outside = TempDir::new("jail-out");
        std::fs::write(outside.0.join("secret"), b"x").unwrap();
        let dir = TempDir::new("jail");
        let root = dir.0.join("root");
        std::fs::create_dir_all(root.join("pub")).unwrap();
        std::fs::write(root.join("pub/readme.txt"), b"hi").unwrap();
        std::os::unix::fs::symlink(&outside.0, root.join("escape")).unwrap();
        std::os::unix::fs::symlink(outside.0.join("secret"), root.join("secret")).unwrap();
        std::os::unix::fs::symlink(root.join("pub/readme.txt"), root.join("link.txt")).unwrap();
        std::os::unix::fs::symlink("pub", root.join("pubdir")).unwrap();
        std::fs::write(dir.0.join("sibling"), b"s").unwrap();

        let jail = Jail::new(&root).unwrap();
        let canon_root = std::fs::canonicalize(&root).unwrap();
        assert_eq!(jail.root(), canon_root);
        assert_eq!(jail.resolve_existing("/").unwrap(), canon_root);
        assert_eq!(
            jail.resolve_existing("/pub/readme.txt").unwrap(),
            canon_root.join("pub/readme.txt")
        );
        // `..` beyond the root stays at the root: ../sibling is /sibling, which does not exist.
        assert_eq!(
            jail.resolve_existing("/../sibling"),
            Err(JailError::NotFound)
        );
        assert_eq!(
            jail.resolve_existing("/../../pub/readme.txt").unwrap(),
            canon_root.join("pub/readme.txt")
        );
        // Absolute paths are virtual.
        assert_eq!(
            jail.resolve_existing("/etc/passwd"),
            Err(JailError::NotFound)
        );
        // Symlinks pointing out are refused, inside are followed.
        assert_eq!(jail.resolve_existing("/escape"), Err(JailError::Outside));
        assert_eq!(
            jail.resolve_existing("/escape/secret"),
            Err(JailError::Outside)
        );
        assert_eq!(jail.resolve_existing("/secret"), Err(JailError::Outside));
        assert_eq!(
            jail.resolve_existing("/link.txt").unwrap(),
            canon_root.join("pub/readme.txt")
        );
        assert_eq!(
            jail.resolve_existing("/pubdir/readme.txt").unwrap(),
            canon_root.join("pub/readme.txt")
        );
        assert_eq!(jail.resolve_existing("/pub/r\0"), Err(JailError::Nul));
        assert_eq!(jail.resolve_existing("/missing"), Err(JailError::NotFound));

        // resolve_new
        assert_eq!(
            jail.resolve_new("/up.bin").unwrap(),
            canon_root.join("up.bin")
        );
        assert_eq!(
            jail.resolve_new("/pub/readme.txt").unwrap(),
            canon_root.join("pub/readme.txt")
        );
        assert_eq!(
            jail.resolve_new("/link.txt").unwrap(),
            canon_root.join("pub/readme.txt")
        );
        assert_eq!(jail.resolve_new("/secret"), Err(JailError::Outside));
        assert_eq!(jail.resolve_new("/escape/new"), Err(JailError::Outside));
        assert_eq!(jail.resolve_new("/nodir/new"), Err(JailError::NotFound));
        assert_eq!(jail.resolve_new("/pub"), Err(JailError::NotAFile));
        assert_eq!(jail.resolve_new("/"), Err(JailError::NotAFile));
        assert_eq!(
            jail.resolve_new("/pub/readme.txt/x"),
            Err(JailError::NotFound)
        );
        assert_eq!(jail.resolve_new("/a\0"), Err(JailError::Nul));
        // A dangling symlink is refused.
        std::os::unix::fs::symlink(dir.0.join("nowhere"), root.join("dangling")).unwrap();
        assert_eq!(jail.resolve_new("/dangling"), Err(JailError::Outside));
    }

    #[test]
    fn entries_leave_out_links_that_lead_outside() {
        let outside = TempDir::new("entries-out");
        std::fs::write(outside.0.join("secret"), b"secret").unwrap();
        let dir = TempDir::new("entries");
        let root = dir.0.join("root");
        std::fs::create_dir_all(root.join("pub")).unwrap();
        std::fs::write(root.join("file"), b"12345").unwrap();
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        };
        link(&outside.0.join("secret"), "out-file");
        link(&outside.0, "out-dir");
        link(&dir.0.join("nowhere"), "dangling");
        link(Path::new("../root/../root/file"), "in-file");
        link(Path::new("pub"), "in-dir");
        link(Path::new("../root"), "root-again");
        let jail = Jail::new(&root).unwrap();
        let mut got: Vec<_> = jail.entries(&root).unwrap();
        got.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["file", "in-dir", "in-file", "pub", "root-again"]);
        let by = |n: &str| got.iter().find(|e| e.name == n).unwrap();
        assert!(by("in-file").meta.is_file() && by("in-file").meta.len() == 5);
        assert!(by("in-dir").meta.is_dir() && by("root-again").meta.is_dir());
        assert!(by("file").meta.is_file() && by("file").meta.len() == 5);
        let (real, meta) = jail.metadata("/in-file").unwrap();
        assert_eq!((real, meta.len()), (jail.root().join("file"), 5));
        assert_eq!(jail.metadata("/out-file").unwrap_err(), JailError::Outside);
        assert_eq!(jail.metadata("/dangling").unwrap_err(), JailError::NotFound);
    }
}
