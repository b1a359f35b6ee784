//! # Rate-limited logging
//!
//! Layer: support for devices (and anything above them). An error that repeats on every frame
//! (a full kernel queue, a device gone) must not flood the log: a [`RateLog`] logs the first
//! occurrence at once, then at most one line per period saying how many more there were, and
//! the last count when it is dropped. It knows nothing but messages and time.

use std::time::{Duration, Instant};

/// How often a repeating error is told again (with its count).
pub const PERIOD: Duration = Duration::from_secs(10);

/// One kind of repeating message, logged once and then counted.
#[derive(Debug)]
pub struct RateLog {
    /// Prefix of every line, e.g. `tun0: write error`.
    what: String,
    level: log::Level,
    /// Occurrences not yet told.
    untold: u64,
    /// Occurrences in all.
    total: u64,
    last_told: Option<Instant>,
    last_message: String,
}

impl RateLog {
    /// A log for messages about `what` at `level`.
    pub fn new(what: impl Into<String>, level: log::Level) -> Self {
        RateLog {
            what: what.into(),
            level,
            untold: 0,
            total: 0,
            last_told: None,
            last_message: String::new(),
        }
    }

    /// Counts one occurrence of `message`; logs it if it is the first, or if [`PERIOD`] has
    /// passed since the last line (then with the count of those in between). Returns whether a
    /// line was written.
    pub fn hit(&mut self, message: impl std::fmt::Display) -> bool {
        self.hit_at(Instant::now(), message)
    }

    /// [`RateLog::hit`] at `now`.
    pub fn hit_at(&mut self, now: Instant, message: impl std::fmt::Display) -> bool {
        self.total += 1;
        let due = self
            .last_told
            .is_none_or(|t| now.saturating_duration_since(t) >= PERIOD);
        if !due {
            self.untold += 1;
            if self.untold == 1 || self.untold.is_power_of_two() {
                self.last_message = message.to_string();
            }
            return false;
        }
        if self.untold > 0 {
            log::log!(
                self.level,
                "{}: {message} (and {} more like it since the last report)",
                self.what,
                self.untold
            );
        } else {
            log::log!(self.level, "{}: {message}", self.what);
        }
        self.untold = 0;
        self.last_told = Some(now);
        true
    }

    /// Occurrences counted in all.
    pub fn total(&self) -> u64 {
        self.total
    }
}

impl Drop for RateLog {
    fn drop(&mut self) {
        if self.untold > 0 {
            log::log!(
                self.level,
                "{}: {} more like \"{}\" were not logged",
                self.what,
                self.untold,
                self.last_message
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_told_then_one_line_per_period_with_a_count() {
        let mut log = RateLog::new("tun0: read error", log::Level::Warn);
        let t0 = Instant::now();
        assert!(log.hit_at(t0, "boom"), "the first is told");
        let told = (1..10_000u64)
            .filter(|i| log.hit_at(t0 + Duration::from_micros(*i), "boom"))
            .count();
        assert_eq!(told, 0, "repeats within the period are only counted");
        assert!(
            log.hit_at(t0 + PERIOD, "boom"),
            "told again after the period"
        );
        assert_eq!(log.total(), 10_001);
        assert_eq!(log.untold, 0, "the count went out with that line");
    }
}
