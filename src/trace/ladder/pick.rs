//! # Picking connections (analysis layer)
//!
//! Layer: analysis, offline. Job: `--conn PORT|N` of the ladder and the graphs: which
//! connections of a classified capture to draw.

use super::Analysis;

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
    pub fn parse(text: &str, a: &Analysis) -> Result<ConnPick, String> {
        let (nth_only, digits) = match text.strip_prefix('#') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("--conn {text}: expected a port or a connection number"))?;
        let has_port = |p: u64| {
            a.connections
                .iter()
                .any(|c| u64::from(c.initiator.port()) == p || u64::from(c.responder.port()) == p)
        };
        if !nth_only && has_port(n) {
            return Ok(ConnPick::Port(n as u16));
        }
        match usize::try_from(n) {
            Ok(k) if (1..=a.connections.len()).contains(&k) => Ok(ConnPick::Nth(k)),
            _ => Err(format!(
                "--conn {text}: no connection uses port {n} and there are {} connections \
                 (numbered from 1)",
                a.connections.len()
            )),
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
