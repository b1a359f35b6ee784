//! # Picking connections (analysis layer)
//!
//! Layer: analysis, offline. Job: `--conn PORT|N` of the ladder and the graphs: which
//! connections of a classified capture to draw.

use super::Analysis;

/// Why `--conn` picks nothing; the message starts with `--conn TEXT: `.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    /// Neither a number nor `#` and a number.
    #[error("--conn {0}: expected a port or a connection number")]
    NotANumber(String),
    /// No connection has the port, and there is no connection of that number.
    #[error(
        "--conn {text}: no connection uses port {n} and there are {connections} connections \
         (numbered from 1)"
    )]
    NoSuch {
        /// `--conn`'s value as given.
        text: String,
        /// Its number.
        n: u64,
        /// How many connections the capture holds.
        connections: usize,
    },
}

/// Which connections `--conn` draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnPick {
    /// Those with this port at either end.
    Port(u16),
    /// The n-th connection (1-based, in order of first frame).
    Nth(usize),
}

impl ConnPick {
    /// Parses `PORT|N` against the capture: a number that is a port of some connection picks
    /// by port, else (from 1 up to the number of connections) the n-th connection; `#N`
    /// always means the n-th. An error names what was wrong.
    pub fn parse(text: &str, a: &Analysis) -> Result<ConnPick, PickError> {
        let (nth_only, digits) = match text.strip_prefix('#') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| PickError::NotANumber(text.to_string()))?;
        let has_port = |p: u64| {
            a.connections
                .iter()
                .any(|c| u64::from(c.initiator.port()) == p || u64::from(c.responder.port()) == p)
        };
        if !nth_only && has_port(n) {
            // A port of some connection: it fits in 16 bits.
            if let Ok(port) = u16::try_from(n) {
                return Ok(ConnPick::Port(port));
            }
        }
        match usize::try_from(n) {
            Ok(k) if (1..=a.connections.len()).contains(&k) => Ok(ConnPick::Nth(k)),
            _ => Err(PickError::NoSuch {
                text: text.to_string(),
                n,
                connections: a.connections.len(),
            }),
        }
    }

    /// True if connection `index` (0-based) of `a` is picked.
    pub fn picks(&self, a: &Analysis, index: usize) -> bool {
        match *self {
            ConnPick::Nth(k) => index + 1 == k,
            ConnPick::Port(p) => a
                .connections
                .get(index)
                .is_some_and(|c| c.initiator.port() == p || c.responder.port() == p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::analyze;

    /// The words `--conn` mistakes were told in before the type existed.
    #[test]
    fn mistakes_keep_their_words() {
        let a = analyze(&[]);
        let e = ConnPick::parse("x", &a).unwrap_err();
        assert_eq!(e, PickError::NotANumber("x".into()));
        assert_eq!(
            e.to_string(),
            "--conn x: expected a port or a connection number"
        );
        assert_eq!(
            ConnPick::parse("#3", &a).unwrap_err().to_string(),
            "--conn #3: no connection uses port 3 and there are 0 connections (numbered from 1)"
        );
    }
}
