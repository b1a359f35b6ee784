//! # TUN device health
//!
//! Layer: device (phy). What went wrong with a [`super::Tun`]'s I/O: error counts, rate-limited
//! logs of repeating errors, and the error that means the interface is gone.

use std::io;

use crate::link::ratelog::RateLog;

/// What went wrong with a device's I/O: counts, rate-limited logs, and a fatal error.
#[derive(Debug)]
pub(super) struct Health {
    pub(super) errors: u64,
    /// The error that made the device unusable.
    pub(super) fatal: Option<io::Error>,
    read_log: RateLog,
    write_log: RateLog,
}

impl Health {
    pub(super) fn new(name: &str) -> Self {
        Health {
            errors: 0,
            fatal: None,
            read_log: RateLog::new(format!("{name}: read error"), log::Level::Warn),
            write_log: RateLog::new(format!("{name}: write error"), log::Level::Warn),
        }
    }

    /// Counts an I/O error; one that means the device is gone makes it broken.
    pub(super) fn failed(&mut self, e: io::Error, write: bool) {
        self.errors += 1;
        if self.fatal.is_some() {
            return;
        }
        if is_fatal(&e) {
            log::error!("{}", describe_fatal(&e));
            self.fatal = Some(e);
        } else if write {
            self.write_log.hit(&e);
        } else {
            self.read_log.hit(&e);
        }
    }
}

/// Whether an I/O error on a TUN descriptor means the interface is gone for good.
pub(super) fn is_fatal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADFD | libc::ENODEV | libc::ENXIO | libc::EIO | libc::EBADF)
    )
}

/// The message for a device that is gone.
pub(super) fn describe_fatal(e: &io::Error) -> String {
    format!("the TUN device is gone ({e}): was the interface deleted or taken down for good?")
}
