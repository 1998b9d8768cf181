//! The Principled BSDF of render spec 3: what Blender's "Principled BSDF" (version 1, Blender
//! 2.8–3.6) renders in Cycles, for the glTF metallic-roughness parameters the importers carry,
//! so a scene exported from Blender renders as bright as Cycles renders it.
//!
//! An opaque surface (base colour `C`, metallic `m`, roughness `r`, ior `η`) is the sum of
//! - **diffuse** (weight `1 − m`), Burley's with Cycles' split retro-reflection:
//!   `C/π · cosθl · ((1 − FV/2)(1 − FL/2) + RR·(FL + FV + FL·FV·(RR − 1)))`,
//!   `FL = (1 − cosθl)⁵`, `FV = (1 − cosθv)⁵`, `RR = r·(1 + l·v)`;
//! - **specular**, single-scattering GGX (`α = r²`, at least [`ALPHA_MIN`]) with the
//!   separable Smith shadowing `G1(v)·G1(l)` and Cycles' Principled Fresnel: the colour
//!   `cspec0 = F0·(1 − m) + C·m` blended to white by `FH = (F(l·h, η) − F0)/(1 − F0)`, where
//!   `F` is the exact dielectric Fresnel and `F0 = F(1, η)` (`η` = 1.5, glTF's default, is
//!   Blender's default specular 0.5).
//!
//! Cycles adds the two without energy compensation, and so does this. Sampling picks the
//! diffuse lobe with probability `p_d = mean(C)(1 − m) / (mean(C)(1 − m) + 1)` (Cycles' closure
//! weights), the cosine-distributed direction, else a GGX visible normal (Heitz 2018); the
//! density of a direction is the mixture of both, so next-event estimation and BSDF sampling
//! combine with the power heuristic. Glass (transmission) is a smooth dielectric with the exact
//! Fresnel about the shading normal and the refraction tinted by `C`.
//!
//! Only IEEE-754 binary32 `+ − × ÷ √` (each correctly rounded; no fused operations), the
//! shared polynomial `sincos_turns`, comparisons, in the order written here. `m_principled_*`
//! in `cuda/render_mesh.cu` is its line-by-line transliteration.

// `!(a > b)` is deliberate: it is also true for NaN, and the CUDA kernel uses the same tests.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::math::{clamp01, f, sincos_turns, V3};

/// π.
pub const PI: f32 = f(0x40490fdb);
/// 1/π.
pub const INV_PI: f32 = f(0x3ea2f983);
/// The smallest GGX `α` (roughness ≈ 0.032): a smoother surface would be a mirror, whose
/// density no float holds; this one is a mirror to the eye.
pub const ALPHA_MIN: f32 = f(0x3a83126f); // 1e-3

/// GGX `α` of a roughness: `max(r², ALPHA_MIN)` (host side, at compilation).
pub fn alpha(roughness: f32) -> f32 {
    let a = roughness * roughness;
    if a > ALPHA_MIN {
        a
    } else {
        ALPHA_MIN
    }
}

/// The exact Fresnel reflectance of an unpolarised ray meeting a dielectric interface with
/// relative ior `eta` at `|cosi|`; 1 under total internal reflection.
#[inline(always)]
pub fn fresnel_dielectric(cosi: f32, eta: f32) -> f32 {
    let c = if cosi < 0.0 { -cosi } else { cosi };
    let g = ((eta * eta) - 1.0) + c * c;
    if g > 0.0 {
        let g = g.sqrt();
        let a = (g - c) / (g + c);
        let b = (c * (g + c) - 1.0) / (c * (g - c) + 1.0);
        ((0.5 * a) * a) * (1.0 + b * b)
    } else {
        1.0
    }
}

/// `(1 − clamp(c))⁵`.
#[inline(always)]
fn schlick_weight(c: f32) -> f32 {
    let m = clamp01(1.0 - c);
    let m2 = m * m;
    (m2 * m2) * m
}

/// Smith's `G1` of GGX for a direction at `cos` to the normal (`cos > 0`).
#[inline(always)]
fn smith_g1(a2: f32, cos: f32) -> f32 {
    let c2 = cos * cos;
    2.0 / (1.0 + (1.0 + (a2 * (1.0 - c2)) / c2).sqrt())
}

/// A shaded point of an opaque Principled surface.
#[derive(Clone, Copy, Debug)]
pub struct Surface {
    /// Base colour (texture applied).
    pub base: V3,
    /// Metallic.
    pub metallic: f32,
    /// Roughness (the diffuse retro-reflection).
    pub roughness: f32,
    /// GGX α.
    pub alpha: f32,
    /// The ior (the Fresnel curve's shape).
    pub eta: f32,
    /// `F0` of `eta`.
    pub f0: f32,
    /// `1 / (1 − F0)`.
    pub inv_1mf0: f32,
}

impl Surface {
    /// The surface of compiled material record `md` ([`super::mesh_blob::MAT_STRIDE`] floats)
    /// with base colour `base`.
    #[inline(always)]
    pub fn new(md: &[f32], base: V3) -> Self {
        Surface {
            base,
            metallic: md[8],
            roughness: md[3],
            alpha: md[9],
            eta: md[7],
            f0: md[10],
            inv_1mf0: md[11],
        }
    }

    /// Probability of sampling the diffuse lobe.
    #[inline(always)]
    pub fn p_diffuse(&self) -> f32 {
        let mean = ((self.base.x + self.base.y) + self.base.z) / 3.0;
        let wd = mean * (1.0 - self.metallic);
        wd / (wd + 1.0)
    }

    /// `f(wo, wi)·cos θi` (rgb) and the sampling density of `wi` (solid angle) about the
    /// shading normal `n`; `wo` points away from the surface (to the viewer). Zero when `wi`
    /// is below `n`.
    #[inline(always)]
    pub fn eval(&self, n: V3, wo: V3, wi: V3) -> (V3, f32) {
        let zero = V3::new(0.0, 0.0, 0.0);
        let nl = n.dot(wi);
        if !(nl > 0.0) {
            return (zero, 0.0);
        }
        let nv = n.dot(wo);
        let pd = self.p_diffuse();
        // diffuse
        let fl = schlick_weight(nl);
        let fv = schlick_weight(nv);
        let rr = self.roughness * (wi.dot(wo) + 1.0);
        let lambert = (1.0 - 0.5 * fv) * (1.0 - 0.5 * fl);
        let retro = rr * ((fl + fv) + (fl * fv) * (rr - 1.0));
        let fd = (INV_PI * nl) * (lambert + retro);
        let mut value = self.base * ((1.0 - self.metallic) * fd);
        let mut pdf = pd * (nl * INV_PI);
        // specular
        if nv > 0.0 {
            let h = (wi + wo).normalize();
            let nh = n.dot(h);
            if nh > 0.0 {
                let a2 = self.alpha * self.alpha;
                let nh2 = nh * nh;
                let tan2 = (1.0 - nh2) / nh2;
                let den = a2 + tan2;
                let d = a2 / (((PI * (nh2 * nh2)) * den) * den);
                let g1o = smith_g1(a2, nv);
                let g1i = smith_g1(a2, nl);
                let common = (d * 0.25) / nv;
                let fh = (fresnel_dielectric(wi.dot(h), self.eta) - self.f0) * self.inv_1mf0;
                let m = self.metallic;
                let c0 = V3::new(self.f0, self.f0, self.f0) * (1.0 - m) + self.base * m;
                let fc = c0 * (1.0 - fh) + V3::new(fh, fh, fh);
                value = value + fc * ((g1o * g1i) * common);
                pdf += (1.0 - pd) * (g1o * common);
            }
        }
        (value, pdf)
    }

    /// A direction sampled about the shading normal `n` from `wo` with `u0, u1` (direction)
    /// and `u2` (lobe choice); `None` when the GGX sample leaves below `n`.
    #[inline(always)]
    pub fn sample(&self, n: V3, wo: V3, u0: f32, u1: f32, u2: f32) -> Option<V3> {
        if u2 < self.p_diffuse() {
            let sd = n + super::cpu::random_unit_vector(u0, u1);
            return Some(if super::cpu::near_zero(sd) {
                n
            } else {
                sd.normalize()
            });
        }
        let (t, b) = basis(n);
        let wl = V3::new(wo.dot(t), wo.dot(b), wo.dot(n));
        if !(wl.z > 0.0) {
            return None;
        }
        let hl = vndf(wl, self.alpha, u0, u1);
        let h = (t * hl.x + b * hl.y) + n * hl.z;
        let wi = h * (2.0 * wo.dot(h)) - wo;
        (n.dot(wi) > 0.0).then_some(wi)
    }
}

/// Tangent and bitangent completing the unit `n` to an orthonormal basis (Duff et al. 2017).
#[inline(always)]
pub fn basis(n: V3) -> (V3, V3) {
    let sign = if n.z >= 0.0 { 1.0f32 } else { -1.0f32 };
    let a = -1.0 / (sign + n.z);
    let b = (n.x * n.y) * a;
    let t = V3::new(1.0 + ((sign * n.x) * n.x) * a, sign * b, -(sign * n.x));
    let bt = V3::new(b, sign + (n.y * n.y) * a, -n.y);
    (t, bt)
}

/// A GGX visible normal for the local view direction `v` (`v.z > 0`), Heitz 2018.
#[inline(always)]
pub fn vndf(v: V3, alpha: f32, u0: f32, u1: f32) -> V3 {
    let vh = V3::new(alpha * v.x, alpha * v.y, v.z).normalize();
    let lensq = vh.x * vh.x + vh.y * vh.y;
    let t1 = if lensq > 0.0 {
        V3::new(-vh.y, vh.x, 0.0).div_s(lensq.sqrt())
    } else {
        V3::new(1.0, 0.0, 0.0)
    };
    let t2 = vh.cross(t1);
    let r = u0.sqrt();
    let (s, c) = sincos_turns(u1);
    let p1 = r * c;
    let p2 = r * s;
    let sw = 0.5 * (1.0 + vh.z);
    let q = 1.0 - p1 * p1;
    let q = if q > 0.0 { q.sqrt() } else { 0.0 };
    let p2 = (1.0 - sw) * q + sw * p2;
    let k = (1.0 - p1 * p1) - p2 * p2;
    let k = if k > 0.0 { k.sqrt() } else { 0.0 };
    let nh = (t1 * p1 + t2 * p2) + vh * k;
    let z = if nh.z > 0.0 { nh.z } else { 0.0 };
    V3::new(alpha * nh.x, alpha * nh.y, z).normalize()
}

/// The smooth dielectric of spec 3: direction `d` meets a surface whose shading normal `n`
/// faces it (entering when `front`); reflects with the exact Fresnel probability against
/// `u`, else refracts. `(direction, refracted)`.
#[inline(always)]
pub fn glass(d: V3, n: V3, front: bool, ior: f32, u: f32) -> (V3, bool) {
    let eta = if front { ior } else { 1.0 / ior };
    let c = -d.dot(n);
    let c = if c < 0.0 { 0.0 } else { c };
    let fr = fresnel_dielectric(c, eta);
    if u < fr {
        return (super::cpu::reflect(d, n), false);
    }
    let e = 1.0 / eta;
    let k = 1.0 - (e * e) * (1.0 - c * c);
    let k = if k > 0.0 { k.sqrt() } else { 0.0 };
    ((d * e + n * (e * c - k)).normalize(), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::math::rand01;

    fn surface(base: f32, metallic: f32, roughness: f32) -> Surface {
        let f0 = fresnel_dielectric(1.0, 1.5);
        Surface {
            base: V3::new(base, base, base),
            metallic,
            roughness,
            alpha: alpha(roughness),
            eta: 1.5,
            f0,
            inv_1mf0: 1.0 / (1.0 - f0),
        }
    }

    #[test]
    fn fresnel_matches_the_closed_form() {
        // normal incidence: ((η − 1)/(η + 1))²
        assert!((fresnel_dielectric(1.0, 1.5) - 0.04).abs() < 1e-6);
        assert_eq!(fresnel_dielectric(0.0, 1.5), 1.0);
        // total internal reflection leaving glass past the critical angle
        assert_eq!(fresnel_dielectric(0.5, 1.0 / 1.5), 1.0);
        // Brewster-free check against the s/p formulas at 45°
        let (ci, eta) = (std::f64::consts::FRAC_1_SQRT_2, 1.5f64);
        let ct = (1.0 - (1.0 - ci * ci) / (eta * eta)).sqrt();
        let rs = ((ci - eta * ct) / (ci + eta * ct)).powi(2);
        let rp = ((eta * ci - ct) / (eta * ci + ct)).powi(2);
        let exact = 0.5 * (rs + rp);
        assert!((fresnel_dielectric(ci as f32, 1.5) as f64 - exact).abs() < 1e-6);
    }

    /// The directional albedo `∫ f cos dωi` from `wo` estimated twice, by sampling the BSDF
    /// (`f/pdf`) and by uniform directions over the sphere (`4π·f`), and the share of samples
    /// that leave above the surface against the density's integral over the hemisphere: they
    /// agree only if `eval`'s density is the density `sample` draws from.
    fn check(s: &Surface, cos_o: f32) -> (f64, f64, f64, f64) {
        let n = V3::new(0.0, 0.0, 1.0);
        let wo = V3::new((1.0 - cos_o * cos_o).sqrt(), 0.0, cos_o);
        let k = 1_000_000u32;
        let (mut by_bsdf, mut taken) = (0.0f64, 0u32);
        for i in 0..k {
            let r = |d| rand01(7, i, 0, 1, d);
            if let Some(wi) = s.sample(n, wo, r(0), r(1), r(2)) {
                let (v, pdf) = s.eval(n, wo, wi);
                assert!(pdf > 0.0, "a sampled direction has density");
                by_bsdf += v.y as f64 / pdf as f64;
                taken += 1;
            }
        }
        let (mut by_sphere, mut pint) = (0.0f64, 0.0f64);
        let four_pi = 4.0 * std::f64::consts::PI;
        for i in 0..k {
            let wi = crate::render::cpu::random_unit_vector(
                rand01(3, i, 0, 0, 0),
                rand01(3, i, 0, 0, 1),
            );
            let (v, pdf) = s.eval(n, wo, wi);
            by_sphere += v.y as f64 * four_pi;
            pint += pdf as f64 * four_pi;
        }
        let k = k as f64;
        (by_bsdf / k, by_sphere / k, taken as f64 / k, pint / k)
    }

    #[test]
    fn sampling_and_density_agree() {
        for (base, metallic, rough) in [
            (0.5, 0.0, 1.0),
            (0.8, 0.0, 0.5),
            (1.0, 1.0, 0.5),
            (0.2, 0.5, 0.7),
        ] {
            let s = surface(base, metallic, rough);
            for cos_o in [0.9f32, 0.5, 0.2] {
                let (a, b, taken, pint) = check(&s, cos_o);
                let what = format!("base {base} metallic {metallic} roughness {rough} at {cos_o}");
                assert!(
                    (taken - pint).abs() < 0.01,
                    "{what}: {taken} of samples above, density {pint}"
                );
                assert!(
                    (a - b).abs() < 0.02 * b.max(0.1),
                    "{what}: albedo {a} by sampling, {b} uniformly"
                );
                // bounded: a metal reflects at most all, a white diffuse with the specular layer
                // on top a little more than Lambert (Cycles adds them)
                assert!(a > 0.0 && a < 1.3, "{what}: albedo {a}");
            }
        }
    }

    #[test]
    fn a_rough_grey_dielectric_is_brighter_than_lambert_at_grazing_view() {
        // Cycles' Principled floor (base 0.5, roughness 1) renders 12 % above a Lambertian one
        // under an overhead light (measured with Blender 3.4): the specular layer and the
        // retro-reflection. Overhead light, view at 68° from the normal.
        let s = surface(0.5, 0.0, 1.0);
        let n = V3::new(0.0, 0.0, 1.0);
        let wo = V3::new(0.927, 0.0, 0.375).normalize();
        let wi = V3::new(0.0, 0.0, 1.0);
        let (v, _) = s.eval(n, wo, wi);
        let lambert = 0.5 * INV_PI;
        let ratio = v.y / lambert;
        assert!(ratio > 1.05 && ratio < 1.3, "{ratio}");
    }

    #[test]
    fn glass_refracts_by_snell_and_reflects_under_tir() {
        let n = V3::new(0.0, 0.0, 1.0);
        let d = V3::new(0.6, 0.0, -0.8);
        let (t, refr) = glass(d, n, true, 1.5, 0.99);
        assert!(refr);
        // sin θt = sin θi / 1.5
        assert!((t.x - 0.4).abs() < 1e-6, "{t:?}");
        // leaving glass at 60° from the normal: total internal reflection whatever u
        let d = V3::new(0.866_025_4, 0.0, -0.5);
        let (r, refr) = glass(d, n, false, 1.5, 0.999);
        assert!(!refr && r.z > 0.0);
    }
}
