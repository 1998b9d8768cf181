//! Rotary position embeddings: the cosine and sine of every (position, frequency) pair, made
//! on the host in f64 from IEEE operations only — own `exp`, `ln`, `sin` and `cos`, no libm —
//! and rounded once to f32, so every machine builds the same table bits.
//!
//! Frequencies as Hugging Face's `rope_init_fn`s make them: `inv_freq[i] = θ^(−2i/d)`, scaled
//! per `rope_scaling` (`linear`: divided by the factor; `llama3`: Llama 3.1's banded rule).
//! The rotation is the "rotate half" layout: pair `(x[i], x[i + d/2])`.
use super::config::RopeScaling;

/// ln 2 in two parts (Cody–Waite): `LN2_HI` has 32 trailing zero bits, so `k · LN2_HI` is
/// exact for |k| < 2²⁰.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const LN2: f64 = std::f64::consts::LN_2;

/// `round(x)` to the nearest integer, halves away from zero (exact; |x| < 2⁵²).
fn round(x: f64) -> f64 {
    let t = x.trunc();
    if (x - t).abs() >= 0.5 {
        t + x.signum()
    } else {
        t
    }
}

/// `eˣ` for |x| ≤ 700: `x = k ln 2 + r`, |r| ≤ ln 2 / 2, Taylor to r¹⁶ (error ≪ 1 ulp of f32).
pub fn exp(x: f64) -> f64 {
    let x = x.clamp(-700.0, 700.0);
    let k = round(x / LN2);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0;
    for n in (1..=16).rev() {
        p = 1.0 + p * r / n as f64;
    }
    p * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// `ln x` for finite x > 0: `x = 2ᵉ m`, m in [√½, √2), `ln m = 2 atanh((m − 1)/(m + 1))`.
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut p = 0.0;
    for n in (0..=14).rev() {
        p = 1.0 / (2 * n + 1) as f64 + s2 * p;
    }
    e as f64 * LN2 + 2.0 * s * p
}

/// π/2 in three parts: the first two have 33 trailing zero bits, so `k · part` is exact for
/// k < 2²⁰ (angles below about 1.6 · 10⁶).
const PIO2_1: f64 = f64::from_bits(0x3ff9_21fb_5440_0000);
const PIO2_2: f64 = f64::from_bits(0x3dd0_b461_1a60_0000);
const PIO2_3: f64 = f64::from_bits(0x3ba3_198a_2e03_7073);

/// Largest angle [`cos_sin`] takes.
pub const MAX_ANGLE: f64 = 1.5e6;

/// `(cos x, sin x)` for 0 ≤ x ≤ [`MAX_ANGLE`]: `x = k π/2 + r`, |r| ≤ π/4, Taylor series.
pub fn cos_sin(x: f64) -> (f64, f64) {
    let k = round(x / (PIO2_1 + PIO2_2));
    let r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
    let r2 = r * r;
    let (mut s, mut c) = (0.0, 0.0);
    // sin r = r Σ (−r²)ⁿ / (2n+1)!, cos r = Σ (−r²)ⁿ / (2n)!, n ≤ 11
    for n in (0..=11).rev() {
        s = 1.0 - s * r2 / ((2 * n + 2) * (2 * n + 3)) as f64;
        c = 1.0 - c * r2 / ((2 * n + 1) * (2 * n + 2)) as f64;
    }
    let s = s * r;
    match (k as i64).rem_euclid(4) {
        0 => (c, s),
        1 => (-s, c),
        2 => (-c, -s),
        _ => (s, -c),
    }
}

/// The inverse frequencies of a head of width `d` (`d / 2` of them).
pub fn inv_freq(d: usize, theta: f64, scaling: &RopeScaling) -> Vec<f64> {
    let base: Vec<f64> = (0..d / 2)
        .map(|i| exp(-((2 * i) as f64 / d as f64) * ln(theta)))
        .collect();
    match *scaling {
        RopeScaling::None => base,
        RopeScaling::Linear { factor } => base.iter().map(|f| f / factor).collect(),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_positions,
        } => {
            // transformers' `_compute_llama3_parameters`
            let old = original_max_positions as f64;
            let low_wavelen = old / low_freq_factor;
            let high_wavelen = old / high_freq_factor;
            let two_pi = 2.0 * std::f64::consts::PI;
            base.iter()
                .map(|&f| {
                    let wavelen = two_pi / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor
                    } else {
                        let smooth = (old / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect()
        }
    }
}

/// The table of positions `0 .. n`: `cos[p · d/2 + i]` and `sin[…]` in f32.
#[derive(Debug, Clone)]
pub struct Rope {
    /// Half the head width.
    pub half: usize,
    /// Cosines, position-major.
    pub cos: Vec<f32>,
    /// Sines.
    pub sin: Vec<f32>,
}

impl Rope {
    /// The table for positions `0 .. n` of heads of width `d`.
    pub fn new(d: usize, theta: f64, scaling: &RopeScaling, n: usize) -> Self {
        let f = inv_freq(d, theta, scaling);
        let half = d / 2;
        let (mut cos, mut sin) = (Vec::with_capacity(n * half), Vec::with_capacity(n * half));
        for p in 0..n {
            for &fi in &f {
                let (c, s) = cos_sin(p as f64 * fi);
                cos.push(c as f32);
                sin.push(s as f32);
            }
        }
        Self { half, cos, sin }
    }

    /// Rotates one head's `x` (width `2 · half`) to position `p` in place:
    /// `(a, b) ← (a·cos − b·sin, b·cos + a·sin)` for `a = x[i]`, `b = x[i + half]`, each
    /// product rounded, then the sum (no fused multiply-add).
    #[inline]
    pub fn rotate(&self, x: &mut [f32], p: usize) {
        let (cos, sin) = (
            &self.cos[p * self.half..(p + 1) * self.half],
            &self.sin[p * self.half..(p + 1) * self.half],
        );
        let (lo, hi) = x.split_at_mut(self.half);
        for i in 0..self.half {
            let (a, b) = (lo[i], hi[i]);
            lo[i] = a * cos[i] - b * sin[i];
            hi[i] = b * cos[i] + a * sin[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_functions_match_std_closely() {
        for i in 0..2000 {
            let x = -30.0 + i as f64 * 0.031;
            let want = x.exp();
            assert!(((exp(x) - want) / want).abs() < 1e-14, "exp({x})");
        }
        for i in 1..2000 {
            let x = i as f64 * 0.37 + 1e-3;
            assert!(
                (ln(x) - x.ln()).abs() < 1e-14 * x.ln().abs().max(1.0),
                "ln({x})"
            );
        }
        assert!((ln(1e6) - 1e6f64.ln()).abs() < 1e-13);
        for i in 0..20_000 {
            let x = i as f64 * 71.3 + 0.123;
            let (c, s) = cos_sin(x);
            assert!(
                (c - x.cos()).abs() < 1e-11 && (s - x.sin()).abs() < 1e-11,
                "{x}"
            );
        }
    }

    #[test]
    fn frequencies_follow_transformers() {
        // θ = 10 000, d = 64: inv_freq[i] = 10000^(-2i/64)
        let f = inv_freq(64, 10_000.0, &RopeScaling::None);
        for (i, v) in f.iter().enumerate() {
            let want = 10_000f64.powf(-(2.0 * i as f64) / 64.0);
            assert!(((v - want) / want).abs() < 1e-13);
        }
        let lin = inv_freq(64, 10_000.0, &RopeScaling::Linear { factor: 4.0 });
        assert!(lin.iter().zip(&f).all(|(a, b)| (a * 4.0 - b).abs() < 1e-18));
        // llama3: the highest frequencies kept, the lowest divided by the factor
        let l3 = inv_freq(
            64,
            500_000.0,
            &RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_positions: 8192,
            },
        );
        let base = inv_freq(64, 500_000.0, &RopeScaling::None);
        assert_eq!(l3[0], base[0]);
        assert!((l3[31] * 8.0 - base[31]).abs() < 1e-18);
    }
}
