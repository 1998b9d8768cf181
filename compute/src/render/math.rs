//! Deterministic math used identically by the CPU reference and the CUDA kernels.
//!
//! Only correctly rounded IEEE-754 binary32 operations are used: `+ - * /`, `sqrt`,
//! `mul_add` (fused, single rounding), comparisons and exact conversions. Rust never contracts
//! `a * b + c` into an FMA, and the CUDA side is compiled with `--fmad=false` and calls
//! `__fmaf_rn` exactly where this file calls `mul_add`, so every value is bit-identical.
//! Constants are given by their bit patterns (the CUDA source uses the same patterns through
//! `__int_as_float`) so no decimal-literal parsing is involved.

use std::ops::{Add, Mul, Neg, Sub};

/// `f32` from an IEEE-754 bit pattern (usable in consts).
pub const fn f(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// -1/6
pub const S3: f32 = f(0xbe2aaaab);
/// 1/120
pub const S5: f32 = f(0x3c088889);
/// -1/5040
pub const S7: f32 = f(0xb9500d01);
/// 1/362880
pub const S9: f32 = f(0x3638ef1d);
/// -1/39916800
pub const S11: f32 = f(0xb2d7322b);
/// -1/2
pub const C2: f32 = f(0xbf000000);
/// 1/24
pub const C4: f32 = f(0x3d2aaaab);
/// -1/720
pub const C6: f32 = f(0xbab60b61);
/// 1/40320
pub const C8: f32 = f(0x37d00d01);
/// -1/3628800
pub const C10: f32 = f(0xb493f27e);
/// 1/479001600
pub const C12: f32 = f(0x310f76c7);
/// pi / 2
pub const HALF_PI: f32 = f(0x3fc90fdb);
/// ln 2
pub const LN2: f32 = f(0x3f317218);
/// 1 / ln 2
pub const INV_LN2: f32 = f(0x3fb8aa3b);

/// Fused multiply-add with a single rounding (`__fmaf_rn` on the GPU).
#[inline(always)]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}

/// `a < b ? a : b` (explicit; NaN handling identical on both sides).
#[inline(always)]
pub fn min(a: f32, b: f32) -> f32 {
    if a < b {
        a
    } else {
        b
    }
}

/// `a > b ? a : b`.
#[inline(always)]
pub fn max(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// `x < 0 ? -x : x`.
#[inline(always)]
pub fn abs(x: f32) -> f32 {
    if x < 0.0 {
        -x
    } else {
        x
    }
}

/// Clamp to `[0, 1]`; NaN maps to 0.
#[inline(always)]
pub fn clamp01(x: f32) -> f32 {
    if x > 0.0 {
        if x < 1.0 {
            x
        } else {
            1.0
        }
    } else {
        0.0
    }
}

/// `(sin(2πu), cos(2πu))` for `u` in `[0, 1)` (other values are clamped into range).
///
/// Quadrant reduction is exact (`4u`, truncation, subtraction); the remainder `r` in `[0,1)`
/// becomes `t = r·π/2` and degree-11/12 Taylor polynomials are evaluated with Horner/FMA.
/// Maximum error ≈ 1e-7; what matters is that both sides compute the very same bits.
pub fn sincos_turns(u: f32) -> (f32, f32) {
    let u = if u >= 0.0 { u } else { 0.0 };
    let u4 = u * 4.0;
    let mut q = if u4 < 4.0 { u4 as u32 } else { 3 };
    if q > 3 {
        q = 3;
    }
    let r = u4 - q as f32;
    let t = r * HALF_PI;
    let t2 = t * t;
    let mut ps = S11;
    ps = fma(ps, t2, S9);
    ps = fma(ps, t2, S7);
    ps = fma(ps, t2, S5);
    ps = fma(ps, t2, S3);
    ps = fma(ps, t2, 1.0);
    let s = t * ps;
    let mut pc = C12;
    pc = fma(pc, t2, C10);
    pc = fma(pc, t2, C8);
    pc = fma(pc, t2, C6);
    pc = fma(pc, t2, C4);
    pc = fma(pc, t2, C2);
    let c = fma(pc, t2, 1.0);
    match q {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// Coefficients of `atan(a) ≈ a·P(a²)` on `[0, 1]` (a least-squares minimax fit; error below
/// 1.4e-7 rad in binary32 Horner).
const ATAN: [f32; 8] = [
    f(0x3f7ffff5),
    f(0xbeaaa61d),
    f(0x3e4c40ba),
    f(0xbe0e6ca3),
    f(0x3dc578df),
    f(0xbd650449),
    f(0x3cb319e3),
    f(0xbb84dc1b),
];
/// π/2.
pub const HALF_PI_F: f32 = f(0x3fc90fdb);
/// π.
pub const PI_F: f32 = f(0x40490fdb);

/// Deterministic `atan2(y, x)` in `[−π, π]` (0 for the origin): the octant reduced to
/// `a = min/max ∈ [0, 1]`, the polynomial [`ATAN`] by Horner (no fused operations), then
/// `π/2 − r`, `π − r` and the sign by comparisons. Error below 3e-7 rad.
#[inline(always)]
#[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN reads as the origin, as in the CUDA kernel
pub fn atan2(y: f32, x: f32) -> f32 {
    let ax = abs(x);
    let ay = abs(y);
    let (mx, mn) = if ay > ax { (ay, ax) } else { (ax, ay) };
    if !(mx > 0.0) {
        return 0.0;
    }
    let a = mn / mx;
    let t = a * a;
    let mut p = ATAN[7];
    p = p * t + ATAN[6];
    p = p * t + ATAN[5];
    p = p * t + ATAN[4];
    p = p * t + ATAN[3];
    p = p * t + ATAN[2];
    p = p * t + ATAN[1];
    p = p * t + ATAN[0];
    let mut r = a * p;
    if ay > ax {
        r = HALF_PI_F - r;
    }
    if x < 0.0 {
        r = PI_F - r;
    }
    if y < 0.0 {
        -r
    } else {
        r
    }
}

/// Deterministic `e^x` (host-side only: model training and calibration). Exact range
/// reduction `x = n·ln2 + r`, degree-7 Taylor polynomial, scaling by `2^n` through the
/// exponent bits. Inputs are clamped to `[-80, 80]`.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let x = min(max(x, -80.0), 80.0);
    let nf = x * INV_LN2;
    let n = if nf < 0.0 {
        -((-nf + 0.5) as i32)
    } else {
        (nf + 0.5) as i32
    };
    let r = fma(-(n as f32), LN2, x);
    let mut p = 1.0 / 5040.0f32;
    p = fma(p, r, 1.0 / 720.0);
    p = fma(p, r, 1.0 / 120.0);
    p = fma(p, r, 1.0 / 24.0);
    p = fma(p, r, 1.0 / 6.0);
    p = fma(p, r, 0.5);
    p = fma(p, r, 1.0);
    p = fma(p, r, 1.0);
    let scale = f32::from_bits(((n + 127) as u32) << 23);
    p * scale
}

/// Three-component f32 vector. Every operation is component-wise with a fixed evaluation
/// order (see [`V3::dot`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct V3 {
    /// x
    pub x: f32,
    /// y
    pub y: f32,
    /// z
    pub z: f32,
}

impl V3 {
    /// Builds a vector.
    #[inline(always)]
    pub const fn new(x: f32, y: f32, z: f32) -> Self {
        Self { x, y, z }
    }

    /// From an array.
    #[inline(always)]
    pub fn from_slice(s: &[f32]) -> Self {
        Self::new(s[0], s[1], s[2])
    }

    /// `(x*x' + y*y') + z*z'` — no FMA.
    #[inline(always)]
    pub fn dot(self, o: V3) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    /// Cross product, each component `a*b - c*d`.
    #[inline(always)]
    pub fn cross(self, o: V3) -> V3 {
        V3::new(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }

    /// Multiplies every component by `s`.
    #[inline(always)]
    pub fn scale(self, s: f32) -> V3 {
        V3::new(self.x * s, self.y * s, self.z * s)
    }

    /// Divides every component by `s` (three correctly rounded divisions).
    #[inline(always)]
    pub fn div_s(self, s: f32) -> V3 {
        V3::new(self.x / s, self.y / s, self.z / s)
    }

    /// `v / sqrt(dot(v, v))`.
    #[inline(always)]
    pub fn normalize(self) -> V3 {
        let len = self.dot(self).sqrt();
        self.div_s(len)
    }

    /// Component-wise product.
    #[inline(always)]
    pub fn hadamard(self, o: V3) -> V3 {
        V3::new(self.x * o.x, self.y * o.y, self.z * o.z)
    }

    /// Components as an array.
    pub fn to_array(self) -> [f32; 3] {
        [self.x, self.y, self.z]
    }
}

impl Add for V3 {
    type Output = V3;
    #[inline(always)]
    fn add(self, o: V3) -> V3 {
        V3::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl Sub for V3 {
    type Output = V3;
    #[inline(always)]
    fn sub(self, o: V3) -> V3 {
        V3::new(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Neg for V3 {
    type Output = V3;
    #[inline(always)]
    fn neg(self) -> V3 {
        V3::new(-self.x, -self.y, -self.z)
    }
}

impl Mul<f32> for V3 {
    type Output = V3;
    #[inline(always)]
    fn mul(self, s: f32) -> V3 {
        self.scale(s)
    }
}

/// PCG hash (Jarzynski & Olano 2020), all arithmetic modulo 2^32.
#[inline(always)]
pub fn pcg(v: u32) -> u32 {
    let s = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let w = ((s >> ((s >> 28) + 4)) ^ s).wrapping_mul(277_803_737);
    (w >> 22) ^ w
}

/// Counter-based random number in `[0, 1)`:
/// `h = pcg(pcg(pcg(pcg(pcg(seed) ^ pixel) ^ sample) ^ stage) ^ dim)`,
/// `u = (h >> 8) * 2^-24` (both steps exact).
#[inline(always)]
pub fn rand01(seed: u32, pixel: u32, sample: u32, stage: u32, dim: u32) -> f32 {
    let h = pcg(pcg(pcg(pcg(pcg(seed) ^ pixel) ^ sample) ^ stage) ^ dim);
    (h >> 8) as f32 * f(0x33800000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atan2_is_accurate_in_every_octant() {
        let mut worst = 0.0f64;
        for i in 0..20_000u32 {
            let a = i as f64 / 20_000.0 * std::f64::consts::TAU - std::f64::consts::PI;
            for r in [1e-3f64, 1.0, 250.0] {
                let (y, x) = ((a.sin() * r) as f32, (a.cos() * r) as f32);
                let want = (y as f64).atan2(x as f64);
                worst = worst.max((atan2(y, x) as f64 - want).abs());
            }
        }
        assert!(worst < 3e-7, "{worst}");
        assert_eq!(atan2(0.0, 0.0), 0.0);
        assert_eq!(atan2(0.0, 1.0), 0.0);
        assert_eq!(atan2(1.0, 0.0), HALF_PI_F);
        assert_eq!(atan2(0.0, -1.0), PI_F);
    }

    #[test]
    fn sincos_is_accurate() {
        for i in 0..4096u32 {
            let u = i as f32 / 4096.0;
            let (s, c) = sincos_turns(u);
            let a = (u as f64) * std::f64::consts::TAU;
            assert!((s as f64 - a.sin()).abs() < 4e-7, "sin {u}");
            assert!((c as f64 - a.cos()).abs() < 4e-7, "cos {u}");
        }
    }

    #[test]
    fn exp_is_accurate() {
        for i in -400..400 {
            let x = i as f32 / 10.0;
            let e = exp(x) as f64;
            let r = (x as f64).exp();
            assert!(((e - r) / r).abs() < 1e-6, "exp {x}: {e} vs {r}");
        }
    }

    #[test]
    fn rand_in_unit_interval() {
        for i in 0..10_000 {
            let u = rand01(1, i, 2, 3, 4);
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(f(0x33800000), 1.0 / 16_777_216.0);
    }
}
