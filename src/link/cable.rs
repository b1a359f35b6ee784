//! # The cable of a lab
//!
//! Layer: link. What the in-process cable between a lab's two hosts is: its MTU, one-way delay
//! and jitter, bit rate and queue, and the impairments in front of the tapped host. Each
//! default is written once, in [`CableConfig::default`]; [`CableConfig::wire`] makes the
//! [`WireConfig`] of the cable itself.

use std::time::Duration;

use crate::link::impair::ImpairPlan;
use crate::link::{WireConfig, smol_duration};

/// The cable between a lab's hosts.
#[derive(Clone, Debug)]
pub struct CableConfig {
    /// IP MTU of the cable (1500).
    pub mtu: usize,
    /// One-way delay of the cable (1 ms).
    pub delay: Duration,
    /// Bit rate of each direction of the cable, bit/s (`None`: none).
    pub rate: Option<u64>,
    /// Frames that may wait for the link in each direction (`None`: no limit).
    pub queue: Option<usize>,
    /// Jitter of the one-way delay, either way (seeded; frames stay in order).
    pub jitter: Duration,
    /// Loss, duplication, reordering, corruption and targeted drops on the cable.
    pub impair: ImpairPlan,
}

impl Default for CableConfig {
    fn default() -> Self {
        CableConfig {
            mtu: 1500,
            delay: Duration::from_millis(1),
            rate: None,
            queue: None,
            jitter: Duration::ZERO,
            impair: ImpairPlan::default(),
        }
    }
}

impl CableConfig {
    /// The wire of this cable (its jitter seeded from the impairments' seed).
    pub fn wire(&self) -> WireConfig {
        WireConfig {
            mtu: self.mtu,
            delay: smol_duration(self.delay),
            rate: self.rate,
            queue: self.queue,
            jitter: smol_duration(self.jitter),
            seed: self.impair.seed ^ 0x7177,
        }
    }

    /// Whether anything but the plain delay acts on the cable (impairments or a bit rate).
    pub fn is_impaired(&self) -> bool {
        !self.impair.is_none() || self.rate.is_some()
    }
}
