//! # Port ranges
//!
//! Layer: network (plain data, no sockets). A [`PortRange`] is the set of local ports a server
//! offers for passive-mode data connections (`PASV`/`EPSV`), `FIRST-LAST` as on the command line
//! (`--passive-ports 50000-50999`). It can only hold a valid range: both ends unprivileged
//! (1024..=65535; below are the privileged ports, FTP's own 20 and 21 among them), the first not
//! above the last. Parsing says what is wrong with the text.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// The lowest port a range may include: ports below are privileged (and hold FTP's own 20, 21).
pub const LOWEST: u16 = 1024;

/// A non-empty range of unprivileged local ports, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    first: u16,
    last: u16,
}

/// Why a range was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRangeError {
    /// The text is not `FIRST-LAST` or `PORT`.
    Format(String),
    /// A bound is not a number from 0 to 65535.
    NotAPort(String),
    /// A port is below [`LOWEST`].
    Privileged(u16),
    /// The first port is above the last.
    Reversed(u16, u16),
}

impl fmt::Display for PortRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRangeError::Format(s) if s.trim().is_empty() => {
                write!(f, "expected FIRST-LAST or PORT, e.g. 50000-50999")
            }
            PortRangeError::Format(s) => {
                write!(
                    f,
                    "expected FIRST-LAST or PORT, e.g. 50000-50999, not `{s}`"
                )
            }
            PortRangeError::NotAPort(s) => {
                write!(f, "`{s}` is not a port number ({LOWEST}-65535)")
            }
            PortRangeError::Privileged(p) => {
                write!(
                    f,
                    "port {p} is privileged: use ports from {LOWEST} to 65535"
                )
            }
            PortRangeError::Reversed(first, last) => write!(
                f,
                "the first port {first} is above the last {last}: write {last}-{first}"
            ),
        }
    }
}

impl std::error::Error for PortRangeError {}

impl PortRange {
    /// The passive range of a server unless told otherwise: 50000-50999.
    pub const PASSIVE_DEFAULT: PortRange = PortRange {
        first: 50000,
        last: 50999,
    };

    /// `first..=last`, both from [`LOWEST`] to 65535, `first <= last`.
    pub fn new(first: u16, last: u16) -> Result<PortRange, PortRangeError> {
        if let Some(low) = [first, last].into_iter().find(|p| *p < LOWEST) {
            return Err(PortRangeError::Privileged(low));
        }
        if first > last {
            return Err(PortRangeError::Reversed(first, last));
        }
        Ok(PortRange { first, last })
    }

    /// The range of the one port `port`.
    pub fn single(port: u16) -> Result<PortRange, PortRangeError> {
        PortRange::new(port, port)
    }

    /// The first port.
    pub fn first(&self) -> u16 {
        self.first
    }

    /// The last port (included).
    pub fn last(&self) -> u16 {
        self.last
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// The ports, first to last.
    pub fn ports(&self) -> RangeInclusive<u16> {
        self.first..=self.last
    }
}

impl Default for PortRange {
    /// [`PortRange::PASSIVE_DEFAULT`].
    fn default() -> Self {
        PortRange::PASSIVE_DEFAULT
    }
}

impl fmt::Display for PortRange {
    /// `FIRST-LAST`, e.g. `50000-50999` (also for one port: `40000-40000`), as parsed back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    /// `FIRST-LAST` (`50000-50999`) or one `PORT` (`40000`, meaning `40000-40000`); spaces
    /// around the numbers are allowed.
    fn from_str(s: &str) -> Result<PortRange, PortRangeError> {
        let port = |t: &str| -> Result<u16, PortRangeError> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PortRangeError::Format(s.to_string()));
            }
            t.parse()
                .map_err(|_| PortRangeError::NotAPort(t.to_string()))
        };
        match s.split_once('-') {
            Some((first, last)) => PortRange::new(port(first)?, port(last)?),
            None => PortRange::single(port(s)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<PortRange, PortRangeError> {
        s.parse()
    }

    #[test]
    fn ranges_and_single_ports_parse() {
        assert_eq!(parse("50000-50999"), Ok(PortRange::PASSIVE_DEFAULT));
        assert_eq!(parse("40000-40001"), PortRange::new(40000, 40001));
        assert_eq!(parse(" 40000 - 40001 "), PortRange::new(40000, 40001));
        assert_eq!(parse("40000"), PortRange::new(40000, 40000));
        assert_eq!(parse("1024-65535"), PortRange::new(1024, 65535));
        assert_eq!(parse("65535"), PortRange::new(65535, 65535));
        assert_eq!(parse("01024"), PortRange::new(1024, 1024));
    }

    #[test]
    fn display_parses_back() {
        for r in [
            PortRange::PASSIVE_DEFAULT,
            PortRange::single(40000).unwrap(),
            PortRange::new(1024, 65535).unwrap(),
        ] {
            assert_eq!(parse(&r.to_string()), Ok(r));
        }
        assert_eq!(PortRange::default().to_string(), "50000-50999");
        assert_eq!(PortRange::single(40000).unwrap().to_string(), "40000-40000");
    }

    #[test]
    fn bad_text_is_refused_with_what_to_write() {
        for bad in [
            "-",
            "abc",
            "50000-",
            "-50999",
            "50000-50999-51000",
            "+5000",
            "5e4",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err, PortRangeError::Format(bad.to_string()), "{bad:?}");
            assert_eq!(
                err.to_string(),
                format!("expected FIRST-LAST or PORT, e.g. 50000-50999, not `{bad}`")
            );
        }
        for empty in ["", " "] {
            assert_eq!(
                parse(empty).unwrap_err().to_string(),
                "expected FIRST-LAST or PORT, e.g. 50000-50999"
            );
        }
    }

    #[test]
    fn numbers_that_are_not_ports_are_refused() {
        let err = parse("50000-70000").unwrap_err();
        assert_eq!(err, PortRangeError::NotAPort("70000".into()));
        assert_eq!(err.to_string(), "`70000` is not a port number (1024-65535)");
        assert_eq!(
            parse("99999999999"),
            Err(PortRangeError::NotAPort("99999999999".into()))
        );
    }

    #[test]
    fn privileged_ports_are_refused() {
        assert_eq!(parse("21"), Err(PortRangeError::Privileged(21)));
        assert_eq!(parse("0-2000"), Err(PortRangeError::Privileged(0)));
        assert_eq!(parse("1023-2000"), Err(PortRangeError::Privileged(1023)));
        assert_eq!(
            parse("1023-2000").unwrap_err().to_string(),
            "port 1023 is privileged: use ports from 1024 to 65535"
        );
        assert_eq!(
            PortRange::new(2000, 20),
            Err(PortRangeError::Privileged(20))
        );
    }

    #[test]
    fn a_reversed_range_is_refused() {
        let err = parse("50999-50000").unwrap_err();
        assert_eq!(err, PortRangeError::Reversed(50999, 50000));
        assert_eq!(
            err.to_string(),
            "the first port 50999 is above the last 50000: write 50000-50999"
        );
    }

    #[test]
    fn membership_and_ports() {
        let r = PortRange::new(40000, 40001).unwrap();
        assert!(r.contains(40000) && r.contains(40001));
        assert!(!r.contains(39999) && !r.contains(40002));
        assert_eq!(r.ports().collect::<Vec<_>>(), vec![40000, 40001]);
        assert_eq!(PortRange::new(1024, 65535).unwrap().ports().count(), 64512);
        assert_eq!(PortRange::single(1024).unwrap().ports().count(), 1);
    }
}
