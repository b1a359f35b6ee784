//! # Directory listings (sans-IO FTP layer)
//!
//! Layer: application protocol. Produces the bytes of `LIST` (vsftpd / `ls -l` style) and
//! `NLST` (names only) and `MLSD` (facts) replies' data. Reads directory entries and metadata
//! through the [`Jail`], which leaves out what lies outside the root; the current time is passed
//! in, never read from the clock.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::jail::{Entry, Jail};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Files older than this (or in the future) show the year instead of the time.
const SIX_MONTHS_SECS: i64 = 183 * 86_400;

/// Seconds since the Unix epoch, negative before it.
fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Civil (proleptic Gregorian) date for a day count since 1970-01-01: (year, month 1..=12,
/// day 1..=31). Howard Hinnant's `civil_from_days`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The date column: `Mon DD  YYYY` for old or future times, else `Mon DD HH:MM` (UTC).
pub fn format_date(mtime: SystemTime, now: SystemTime) -> String {
    let t = unix_secs(mtime);
    let n = unix_secs(now);
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    let month = MONTHS[(m as usize - 1) % 12];
    if t > n || n.saturating_sub(t) > SIX_MONTHS_SECS {
        format!("{month} {d:02}  {y}")
    } else {
        format!("{month} {d:02} {:02}:{:02}", secs / 3600, (secs / 60) % 60)
    }
}

/// The ten-character type and permission column, e.g. `-rw-r--r--`, from a Unix mode.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170_000 {
        0o040_000 => 'd',
        0o120_000 => 'l',
        0o020_000 => 'c',
        0o060_000 => 'b',
        0o010_000 => 'p',
        0o140_000 => 's',
        _ => '-',
    };
    let bit = |mask: u32, c: char| if mode & mask != 0 { c } else { '-' };
    let exec = |x: u32, special: u32, set: char, unset: char| match (mode & x, mode & special) {
        (0, 0) => '-',
        (_, 0) => 'x',
        (0, _) => unset,
        _ => set,
    };
    [
        kind,
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        exec(0o100, 0o4000, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        exec(0o010, 0o2000, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        exec(0o001, 0o1000, 't', 'T'),
    ]
    .iter()
    .collect()
}

/// One `LIST` line with CRLF, e.g.
/// `-rw-r--r--    1 ftp      ftp          4231 Jan 01  2024 readme.txt\r\n`.
pub fn format_line(name: &str, mode: u32, size: u64, mtime: SystemTime, now: SystemTime) -> String {
    format!(
        "{} {:>4} {:<8} {:<8} {:>8} {} {}\r\n",
        mode_string(mode),
        1,
        "ftp",
        "ftp",
        size,
        format_date(mtime, now),
        name
    )
}

/// The `LIST` line for an entry whose metadata is `meta`: for a symlink, its target's (as
/// `ls -lL` shows it), since the link's own size is the length of its target's path, which
/// may name real paths outside the served directory.
fn entry_line(name: &str, meta: &Metadata, now: SystemTime) -> String {
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    format_line(name, meta.permissions().mode(), meta.size(), mtime, now)
}

/// The entries of `dir` a listing shows: those the jail rule lets the server report
/// ([`Jail::entries`]), dotfiles skipped (upload temporaries among them), sorted by name.
fn shown(jail: &Jail, dir: &Path) -> io::Result<Vec<Entry>> {
    let mut out: Vec<Entry> = jail
        .entries(dir)?
        .into_iter()
        .filter(|e| !e.name.starts_with('.'))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `LIST` data for `path` (a real path `jail` resolved): every entry of a directory the jail
/// rule lets through, or the one line of a file, shown as `name`.
pub fn list(jail: &Jail, path: &Path, name: &str, now: SystemTime) -> io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    let mut out = String::new();
    if meta.is_dir() {
        for entry in shown(jail, path)? {
            out.push_str(&entry_line(&entry.name, &entry.meta, now));
        }
    } else {
        out.push_str(&entry_line(name, &meta, now));
    }
    Ok(out.into_bytes())
}

/// `NLST` data for `path` (a real path `jail` resolved): the sorted entry names of a directory
/// (as for `LIST`), or `name` for a file, one per CRLF-terminated line.
pub fn nlst(jail: &Jail, path: &Path, name: &str) -> io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    let mut out = String::new();
    if meta.is_dir() {
        for entry in shown(jail, path)? {
            out.push_str(&entry.name);
            out.push_str("\r\n");
        }
    } else {
        out.push_str(name);
        out.push_str("\r\n");
    }
    Ok(out.into_bytes())
}

/// `YYYYMMDDHHMMSS` in UTC: the time format of `MDTM` and of the `modify` fact (RFC 3659).
pub fn mlsx_time(t: SystemTime) -> String {
    let secs = unix_secs(t);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Which `MLST`/`MLSD` facts are shown (`OPTS MLST` chooses them); all by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// `type=file|dir|OS.unix=...`
    pub kind: bool,
    /// `size=N`
    pub size: bool,
    /// `modify=YYYYMMDDHHMMSS`
    pub modify: bool,
    /// `perm=...`
    pub perm: bool,
}

impl Default for Facts {
    /// Every fact on.
    fn default() -> Self {
        Facts {
            kind: true,
            size: true,
            modify: true,
            perm: true,
        }
    }
}

impl Facts {
    /// The facts named in an `OPTS MLST` list such as `type;size;`; unknown names are ignored.
    pub fn parse(list: &str) -> Facts {
        let mut f = Facts {
            kind: false,
            size: false,
            modify: false,
            perm: false,
        };
        for name in list.split(';').map(str::trim) {
            match name.to_ascii_lowercase().as_str() {
                "type" => f.kind = true,
                "size" => f.size = true,
                "modify" => f.modify = true,
                "perm" => f.perm = true,
                _ => {}
            }
        }
        f
    }

    fn names(&self) -> [(&'static str, bool); 4] {
        [
            ("type", self.kind),
            ("size", self.size),
            ("modify", self.modify),
            ("perm", self.perm),
        ]
    }

    /// The `FEAT` form: every supported fact, the enabled ones starred (`type*;size;...`).
    pub fn feat(&self) -> String {
        self.names()
            .iter()
            .map(|(n, on)| format!("{n}{};", if *on { "*" } else { "" }))
            .collect()
    }

    /// The enabled facts as `type;size;` (the `OPTS MLST` reply).
    pub fn enabled(&self) -> String {
        self.names()
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| format!("{n};"))
            .collect()
    }
}

/// One `MLST`/`MLSD` entry without CRLF: `type=file;size=N;modify=YYYYMMDDHHMMSS;perm=r; name`.
pub fn facts_line(name: &str, meta: &Metadata, facts: Facts, writable: bool) -> String {
    let mut out = String::new();
    let is_dir = meta.is_dir();
    if facts.kind {
        out.push_str(if is_dir { "type=dir;" } else { "type=file;" });
    }
    if facts.size {
        out.push_str(&format!("size={};", meta.len()));
    }
    if facts.modify {
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        out.push_str(&format!("modify={};", mlsx_time(mtime)));
    }
    if facts.perm {
        let perm = match (is_dir, writable) {
            (true, true) => "elcmp",
            (true, false) => "el",
            (false, true) => "radfw",
            (false, false) => "r",
        };
        out.push_str(&format!("perm={perm};"));
    }
    format!("{out} {name}")
}

/// `MLSD` data for the directory `dir` (a real directory `jail` resolved): one CRLF-terminated
/// facts line per entry shown as for `LIST`, with the same facts.
pub fn mlsd(jail: &Jail, dir: &Path, facts: Facts, writable: bool) -> io::Result<Vec<u8>> {
    let mut out = String::new();
    for entry in shown(jail, dir)? {
        out.push_str(&facts_line(&entry.name, &entry.meta, facts, writable));
        out.push_str("\r\n");
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::jail::tests::TempDir;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_088), (2024, 12, 31));
        assert_eq!(mlsx_time(at(1_747_748_745)), "20250520134545");
        assert_eq!(mlsx_time(at(0)), "19700101000000");
    }

    #[test]
    fn facts_and_mlsd() {
        let f = Facts::parse("Size;modify;bogus;");
        assert_eq!(f.enabled(), "size;modify;");
        assert_eq!(f.feat(), "type;size*;modify*;perm;");
        assert_eq!(Facts::default().feat(), "type*;size*;modify*;perm*;");
        let dir = TempDir::new("mlsd");
        let jail = Jail::new(&dir.0).unwrap();
        std::fs::write(dir.0.join("b.txt"), b"hello").unwrap();
        std::fs::create_dir(dir.0.join("d")).unwrap();
        std::fs::write(dir.0.join(".hidden"), b"x").unwrap();
        let text =
            String::from_utf8(mlsd(&jail, &dir.0, Facts::default(), false).unwrap()).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("type=file;size=5;modify="), "{text}");
        assert!(lines[0].ends_with(";perm=r; b.txt"), "{text}");
        assert!(lines[1].starts_with("type=dir;") && lines[1].ends_with("perm=el; d"));
        let only = String::from_utf8(mlsd(&jail, &dir.0, f, false).unwrap()).unwrap();
        assert!(only.starts_with("size=5;modify="), "{only}");
    }

    #[test]
    fn line_format() {
        // 2024-01-01 00:00:00 UTC = 1704067200; now = 2025-06-01 = 1748736000.
        let now = at(1_748_736_000);
        assert_eq!(
            format_line("readme.txt", 0o100_644, 4231, at(1_704_067_200), now),
            "-rw-r--r--    1 ftp      ftp          4231 Jan 01  2024 readme.txt\r\n"
        );
        // Recent: 2025-05-20 13:45:00 UTC.
        assert_eq!(
            format_line("pub", 0o040_755, 4096, at(1_747_748_700), now),
            "drwxr-xr-x    1 ftp      ftp          4096 May 20 13:45 pub\r\n"
        );
        // In the future: year style.
        assert_eq!(format_date(at(1_748_736_060), now), "Jun 01  2025");
        // Exactly 183 days old is still recent; one second more is old.
        assert_eq!(
            format_date(at(1_748_736_000 - 183 * 86_400), now),
            "Nov 30 00:00"
        );
        assert_eq!(
            format_date(at(1_748_736_000 - 183 * 86_400 - 1), now),
            "Nov 29  2024"
        );
        assert_eq!(mode_string(0o104_755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o041_777), "drwxrwxrwt");
        assert_eq!(mode_string(0o102_640), "-rw-r-S---");
        assert_eq!(mode_string(0o120_777), "lrwxrwxrwx");
    }

    #[test]
    fn list_directory_and_file() {
        let dir = TempDir::new("listing");
        let jail = Jail::new(&dir.0).unwrap();
        std::fs::write(dir.0.join("b.txt"), b"hello").unwrap();
        std::fs::write(dir.0.join("a.bin"), b"").unwrap();
        std::fs::write(dir.0.join(".hidden"), b"x").unwrap();
        std::fs::create_dir(dir.0.join("c")).unwrap();
        let now = SystemTime::now() + Duration::from_secs(60);
        let text = String::from_utf8(list(&jail, &dir.0, "x", now).unwrap()).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with(" a.bin") && lines[0].starts_with('-'));
        assert!(lines[1].contains("        5 ") && lines[1].ends_with(" b.txt"));
        assert!(lines[2].starts_with('d') && lines[2].ends_with(" c"));
        assert!(text.ends_with("\r\n"));
        assert_eq!(
            nlst(&jail, &dir.0, "x").unwrap(),
            b"a.bin\r\nb.txt\r\nc\r\n"
        );
        let one =
            String::from_utf8(list(&jail, &dir.0.join("b.txt"), "b.txt", now).unwrap()).unwrap();
        assert!(one.ends_with(" b.txt\r\n") && one.lines().count() == 1);
        assert_eq!(
            nlst(&jail, &dir.0.join("b.txt"), "b.txt").unwrap(),
            b"b.txt\r\n"
        );
        assert!(list(&jail, &dir.0.join("missing"), "m", now).is_err());
    }
}
