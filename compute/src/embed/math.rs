//! Deterministic f32 building blocks of the encoder: every reduction runs in one fixed order
//! (index 0 upwards), and only correctly rounded operations are used (`+ - * /`, `sqrt`, fused
//! multiply-add), with the crate's own polynomial for `exp` (`render::math::exp`) and `erf`
//! below. A CUDA kernel that performs the same operations in the same order gets the same bits.
use crate::render::math::{exp, fma};

/// A&S 7.1.26 coefficients (|error| <= 1.5e-7 on the real line).
const P: f32 = 0.327_591_1;
const A1: f32 = 0.254_829_6;
const A2: f32 = -0.284_496_74;
const A3: f32 = 1.421_413_7;
const A4: f32 = -1.453_152_1;
const A5: f32 = 1.061_405_4;

/// `erf(x)`: Abramowitz & Stegun 7.1.26, `1 − t·(a1 + t·(a2 + …))·e^(−x²)` with
/// `t = 1 / (1 + p·|x|)`, Horner with fused multiply-adds, odd symmetry. NaN stays NaN.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    if x.is_nan() || x == 0.0 {
        return x; // NaN stays NaN; erf(±0) = ±0 exactly
    }
    let ax = if x < 0.0 { -x } else { x };
    if ax > 10.0 {
        return if x < 0.0 { -1.0 } else { 1.0 };
    }
    let t = 1.0 / fma(P, ax, 1.0);
    let mut poly = A5;
    poly = fma(poly, t, A4);
    poly = fma(poly, t, A3);
    poly = fma(poly, t, A2);
    poly = fma(poly, t, A1);
    poly *= t;
    let y = 1.0 - poly * exp(-(ax * ax));
    if x < 0.0 {
        -y
    } else {
        y
    }
}

/// 1/√2.
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// GELU, the exact (erf) form BERT uses: `x · 0.5 · (1 + erf(x / √2))`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    x * (0.5 * (1.0 + erf(x * FRAC_1_SQRT_2)))
}

/// Sum in index order.
#[inline(always)]
pub fn sum(xs: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for &x in xs {
        s += x;
    }
    s
}

/// Dot product, one fused multiply-add per term in index order.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        s = fma(*x, *y, s);
    }
    s
}

/// LayerNorm of one row in place: mean and (biased) variance by ordered sums, then
/// `(x − mean) / sqrt(var + eps) · weight + bias`.
#[inline(always)]
pub fn layer_norm(row: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let mut var = 0.0f32;
    for &x in row.iter() {
        let d = x - mean;
        var = fma(d, d, var);
    }
    let var = var / n;
    let denom = (var + eps).sqrt();
    for ((x, w), b) in row.iter_mut().zip(weight).zip(bias) {
        *x = fma((*x - mean) / denom, *w, *b);
    }
}

/// Softmax of one row in place: maximum, `exp(x − max)`, ordered sum, division.
#[inline(always)]
pub fn softmax(row: &mut [f32]) {
    let mut m = f32::NEG_INFINITY;
    for &x in row.iter() {
        if x > m {
            m = x;
        }
    }
    let mut s = 0.0f32;
    for x in row.iter_mut() {
        *x = exp(*x - m);
        s += *x;
    }
    for x in row.iter_mut() {
        *x /= s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf to 1e-6 of a high-precision reference (Taylor series in f64 for |x| ≤ 3,
    /// continued fraction beyond), over a fine grid.
    #[test]
    fn erf_is_accurate_and_odd() {
        fn erf64(x: f64) -> f64 {
            if x.abs() > 3.0 {
                // erfc continued fraction (Lentz), then 1 − erfc
                let ax = x.abs();
                let mut f = ax;
                let mut c = ax;
                let mut d = 0.0f64;
                for k in 1..200 {
                    let a = k as f64 / 2.0;
                    d = 1.0 / (ax + a * d);
                    c = ax + a / c;
                    f *= c * d;
                }
                let erfc = (-ax * ax).exp() / (f * std::f64::consts::PI.sqrt());
                return (1.0 - erfc).copysign(x);
            }
            let mut term = x;
            let mut s = x;
            for n in 1..200 {
                term *= -x * x / n as f64;
                s += term / (2 * n + 1) as f64;
            }
            s * 2.0 / std::f64::consts::PI.sqrt()
        }
        let mut worst = 0.0f64;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let e = (erf(x) as f64 - erf64(x as f64)).abs();
            worst = worst.max(e);
            assert_eq!(erf(-x).to_bits(), (-erf(x)).to_bits(), "odd at {x}");
        }
        assert!(worst < 1e-6, "worst erf error {worst}");
        assert!(erf(f32::NAN).is_nan());
        assert_eq!(erf(20.0), 1.0);
        // GELU: ~0 far left, ~x far right, 0 at 0
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(10.0) - 10.0).abs() < 1e-5);
        assert!(gelu(-10.0).abs() < 1e-5);
    }

    #[test]
    fn softmax_and_layer_norm_are_normalised() {
        let mut r = [1.0f32, 2.0, 3.0, -50.0];
        softmax(&mut r);
        assert!((sum(&r) - 1.0).abs() < 1e-6);
        assert!(r[2] > r[1] && r[1] > r[0] && r[3] < 1e-20);
        let mut x = [1.0f32, 2.0, 3.0, 4.0];
        layer_norm(&mut x, &[1.0; 4], &[0.0; 4], 1e-12);
        assert!(sum(&x).abs() < 1e-6);
        assert!((dot(&x, &x) / 4.0 - 1.0).abs() < 1e-5);
    }
}
