//! The run's randomness: one seed, and named sub-streams forked from it.
//!
//! Every component that needs random draws (a link's jitter and loss, later a NAT's port
//! choice) asks for a stream by a stable label such as `link/wan-a`. The stream depends only
//! on the seed and the label, so adding a link to a topology leaves every other draw
//! unchanged. Distributions are sampled here, in our own code, so results do not shift when
//! a dependency changes its algorithms.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The seed used when the user gives none. Printed in every output so a run can be repeated.
pub const DEFAULT_SEED: u64 = 1;

/// The root of a run's randomness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimRng {
    seed: u64,
}

/// One component's independent random stream.
///
/// The ChaCha state (about 300 bytes with its block buffer) is made on the first draw:
/// most links never draw (no loss, no jitter), and a topology of 100,000 hosts should not
/// carry 30 MB of generators it never uses. The draws are the same either way.
#[derive(Clone, Debug)]
pub struct RngStream(Stream);

#[derive(Clone, Debug)]
enum Stream {
    /// No draw yet.
    Lazy { seed: u64, stream: u64 },
    /// Drawing: `next` is the index of the next unused word of `block.words`. The index
    /// lives here, beside the owner's other state, rather than in the generator's buffer
    /// (where `rand_core` keeps it, a line away from most of the words), so a draw reads
    /// one line of the block: that of its two words.
    Ready { next: u32, block: Box<Block> },
}

/// The next words of a stream, taken from the ChaCha generator a line at a time.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct Block {
    words: [u32; WORDS],
    rng: ChaCha8Rng,
}

/// Words per refill of `Block::words`: one cache line.
const WORDS: usize = 16;

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng { seed }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The stream for `label`: the ChaCha key is the seed, the ChaCha stream number a stable
    /// 64-bit FNV-1a hash of the label (stable across Rust versions, unlike `DefaultHasher`).
    pub fn fork(&self, label: &str) -> RngStream {
        self.stream(fnv1a64(label.as_bytes()))
    }

    /// The same stream as `fork` with the formatted label, hashed as it is formatted (no
    /// string is built): `fork_fmt(format_args!("nat/{name}"))` equals `fork(&format!(..))`.
    pub fn fork_fmt(&self, label: std::fmt::Arguments<'_>) -> RngStream {
        struct Fnv(u64);
        impl std::fmt::Write for Fnv {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                self.0 = fnv1a64_from(self.0, s.as_bytes());
                Ok(())
            }
        }
        let mut h = Fnv(FNV_OFFSET);
        std::fmt::write(&mut h, label).expect("hashing a label cannot fail");
        self.stream(h.0)
    }

    /// The stream numbered `stream`; its ChaCha state is made on the first draw.
    fn stream(&self, stream: u64) -> RngStream {
        RngStream(Stream::Lazy { seed: self.seed, stream })
    }
}

impl RngStream {
    /// The next 64 bits: two consecutive words of the ChaCha stream, the first the low half,
    /// exactly as `ChaCha8Rng::next_u64` would give them (checked against it by a test).
    pub fn next_u64(&mut self) -> u64 {
        if let Stream::Lazy { seed, stream } = self.0 {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&seed.to_le_bytes());
            let mut rng = ChaCha8Rng::from_seed(key);
            rng.set_stream(stream);
            let block = Box::new(Block { words: [0; WORDS], rng });
            self.0 = Stream::Ready { next: WORDS as u32, block };
        }
        let Stream::Ready { next, block } = &mut self.0 else { unreachable!("made ready above") };
        let mut i = *next as usize;
        if i >= WORDS {
            // Whole words, in order: `fill_bytes` discards none of a fill that is a
            // multiple of four bytes (rand_core's `BlockRng`), so the words continue the
            // stream exactly. WORDS is even, so a draw's two words never straddle a refill.
            let mut bytes = [0u8; 4 * WORDS];
            block.rng.fill_bytes(&mut bytes);
            for (w, b) in block.words.iter_mut().zip(bytes.chunks_exact(4)) {
                *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            i = 0;
        }
        *next = (i + 2) as u32;
        u64::from(block.words[i + 1]) << 32 | u64::from(block.words[i])
    }

    /// A uniform draw in [0, 1) with 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform draw in (0, 1], safe to take the logarithm of.
    pub fn unit_open_low(&mut self) -> f64 {
        1.0 - self.unit()
    }

    /// True with probability `p` (clamped to [0, 1]).
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// A standard normal draw (Box-Muller; the second value is discarded so every call
    /// consumes exactly two words, which keeps streams easy to reason about).
    pub fn standard_normal(&mut self) -> f64 {
        let u1 = self.unit_open_low();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A Pareto draw with scale `x_m` and shape `alpha` (inverse transform).
    pub fn pareto(&mut self, x_m: f64, alpha: f64) -> f64 {
        x_m / self.unit_open_low().powf(1.0 / alpha)
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_from(FNV_OFFSET, bytes)
}

/// FNV-1a continued from `h` over `bytes` (hashing a string in pieces gives the hash of
/// the whole).
fn fnv1a64_from(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_label_give_the_same_stream() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut s = SimRng::new(7).fork("link/a");
                move |_| s.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut s = SimRng::new(7).fork("link/a");
                move |_| s.next_u64()
            })
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn labels_and_seeds_separate_streams() {
        let x = SimRng::new(7).fork("link/a").next_u64();
        assert_ne!(x, SimRng::new(7).fork("link/b").next_u64());
        assert_ne!(x, SimRng::new(8).fork("link/a").next_u64());
    }

    #[test]
    fn formatted_labels_give_the_stream_of_the_formatted_string() {
        let (name, n) = ("wan-a", 3);
        let mut a = SimRng::new(7).fork_fmt(format_args!("link/{name}/{n}"));
        let mut b = SimRng::new(7).fork(&format!("link/{name}/{n}"));
        assert_eq!((a.next_u64(), a.next_u64()), (b.next_u64(), b.next_u64()));
    }

    proptest::proptest! {
        /// The stream's own buffering gives exactly ChaCha8's `next_u64` sequence for the
        /// same key and stream number, across many refills of its line of words.
        #[test]
        fn draws_are_chacha8s(seed: u64, stream: u64, n in 1usize..200) {
            let mut ours = SimRng::new(seed).stream(stream);
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&seed.to_le_bytes());
            let mut theirs = ChaCha8Rng::from_seed(key);
            theirs.set_stream(stream);
            for _ in 0..n {
                proptest::prop_assert_eq!(ours.next_u64(), theirs.next_u64());
            }
        }
    }

    #[test]
    fn fnv_matches_reference_vector() {
        // FNV-1a 64 of "a" from the reference test suite (draft-eastlake-fnv).
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn draws_have_plausible_moments() {
        let mut s = SimRng::new(1).fork("moments");
        let n = 20_000;
        let mean_u: f64 = (0..n).map(|_| s.unit()).sum::<f64>() / n as f64;
        assert!((mean_u - 0.5).abs() < 0.01, "uniform mean {mean_u}");
        let mean_n: f64 = (0..n).map(|_| s.standard_normal()).sum::<f64>() / n as f64;
        assert!(mean_n.abs() < 0.03, "normal mean {mean_n}");
        // Pareto(x_m = 1, alpha = 3) has mean alpha / (alpha - 1) = 1.5.
        let mean_p: f64 = (0..n).map(|_| s.pareto(1.0, 3.0)).sum::<f64>() / n as f64;
        assert!((mean_p - 1.5).abs() < 0.05, "pareto mean {mean_p}");
    }
}
