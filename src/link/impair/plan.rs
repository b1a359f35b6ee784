//! # What to impair, as the command line says it
//!
//! Layer: device middleware support (phy). An [`ImpairPlan`] holds the impairment flags of a run
//! (`--loss`, `--duplicate`, `--reorder`, `--corrupt`, `--drop`, `--impair-dir`, `--seed`) and
//! says which [`Rates`] apply to frames going to the server and to the client.

use super::{DropSpec, Rates};

/// Which directions the random faults act on (`--impair-dir`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImpairDir {
    /// Both ways.
    #[default]
    Both,
    /// Frames travelling to the FTP server only.
    ToServer,
    /// Frames travelling to the FTP client only.
    ToClient,
}

/// The impairments of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImpairPlan {
    /// Chances of the random faults.
    pub rates: Rates,
    /// Where they act.
    pub dir: ImpairDir,
    /// Frames to drop, whichever way they go.
    pub drops: Vec<DropSpec>,
    /// Seed of the faults' random numbers (each direction has its own stream, apart from the
    /// hosts' own random numbers).
    pub seed: u64,
}

impl ImpairPlan {
    /// True if nothing is impaired.
    pub fn is_none(&self) -> bool {
        self.rates.is_none() && self.drops.is_empty()
    }

    /// The rates of frames going to the server.
    pub fn to_server(&self) -> Rates {
        match self.dir {
            ImpairDir::ToClient => Rates::default(),
            _ => self.rates,
        }
    }

    /// The rates of frames going to the client.
    pub fn to_client(&self) -> Rates {
        match self.dir {
            ImpairDir::ToServer => Rates::default(),
            _ => self.rates,
        }
    }
}

/// Parses a percentage, `5`, `0.5` or `5%`, from 0 to 100.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    s.trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or(format!(
            "{s} is not a percentage from 0 to 100 (e.g. 5, 0.5 or 5%)"
        ))
}

/// Parses a bit rate in bit/s with an optional k, M or G suffix (powers of 1000): `10M`.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let err = || format!("{s} is not a bit rate from 1k to 100G bit/s (e.g. 512k, 10M, 1G)");
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1e3),
        Some((i, 'm' | 'M')) => (&s[..i], 1e6),
        Some((i, 'g' | 'G')) => (&s[..i], 1e9),
        _ => (s, 1.0),
    };
    let v = num.parse::<f64>().map_err(|_| err())? * mult;
    if !(1e3..=1e11).contains(&v) {
        return Err(err());
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_percentages_parse() {
        assert_eq!(parse_rate("10M"), Ok(10_000_000));
        assert_eq!(parse_rate("512k"), Ok(512_000));
        assert_eq!(parse_rate("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_rate("64000"), Ok(64_000));
        assert!(parse_rate("10X").is_err() && parse_rate("0").is_err());
        assert_eq!(parse_percent("5%"), Ok(5.0));
        assert_eq!(parse_percent("0.5"), Ok(0.5));
        assert!(parse_percent("101").is_err() && parse_percent("-1").is_err());
        let plan = ImpairPlan {
            rates: Rates {
                loss: 3.0,
                ..Rates::default()
            },
            dir: ImpairDir::ToClient,
            ..ImpairPlan::default()
        };
        assert!(plan.to_server().is_none() && plan.to_client().loss == 3.0);
    }
}
