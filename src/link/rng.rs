//! # Seeded random numbers for the cable
//!
//! Layer: device middleware support (phy). SplitMix64: tiny, fast, and the same sequence on
//! every machine, so that an impaired run gives a byte-identical capture for the same seed.

/// A SplitMix64 generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`, made distinct for each `stream` (e.g. one per direction).
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: f64) -> bool {
        let draw = self.next_u64();
        percent > 0.0 && (draw as f64) < percent / 100.0 * (u64::MAX as f64)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_other_stream_other_numbers() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7, 0);
                move |_| r.next_u64()
            })
            .collect();
        let mut b = Rng::new(7, 0);
        let mut c = Rng::new(7, 1);
        assert_eq!(a, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(a[0], c.next_u64());
        let hits = (0..10_000).filter(|_| b.chance(10.0)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert!(!b.chance(0.0));
        assert!((0..100).all(|_| b.below(5) < 5));
    }
}
