//! CPU reference tracer of render spec 2 (mesh scenes): BVH traversal in a fixed order,
//! next-event estimation of emissive triangles with multiple importance sampling, Russian
//! roulette with a fixed rule. `docs/KERNELS.md` § "Render, spec 2" is the spec; the CUDA
//! kernel in `cuda/render_mesh.cu` is a line-by-line transliteration of this file.
//!
//! Only IEEE-754 binary32 `+ − × ÷ √` (each correctly rounded; no fused operations anywhere in
//! this file), comparisons and exact conversions, in the order written here.

// `!(a > b)` is deliberate: it is also true for NaN, and the CUDA kernel uses the same tests.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use rayon::prelude::*;

use super::cpu::{dielectric, near_zero, pinhole_ray, random_unit_vector, reflect};
use super::math::{f, min, rand01, V3};
use super::mesh_blob::{mat_kind, CompiledMesh, MAT_STRIDE, NO_TEXTURE, TRI_STRIDE};
use super::principled::{self, Surface};
use crate::gemm::canonicalize_f32;

/// Initial closest-hit distance (1e30).
pub const T_FAR: f32 = f(0x7149f2ca);
/// `1 + 2γ₃` (γ₃ = 3u/(1 − 3u), u = 2⁻²⁴), rounded up: the slab test's far distances are
/// scaled by it so that rounding never culls a box a ray touches (pbrt's robust traversal).
pub const ROBUST: f32 = f(0x3f800003);
/// 1/π.
pub const INV_PI: f32 = f(0x3ea2f983);
/// Russian roulette starts after this many bounces.
pub const RR_START: u32 = 3;
/// Highest survival probability of Russian roulette.
pub const RR_MAX: f32 = f(0x3f733333); // 0.95
/// No triangle.
pub const NONE: u32 = u32::MAX;
/// Traversal stack depth (= `bvh::MAX_DEPTH`).
pub const STACK: usize = 64;

#[inline(always)]
fn absf(x: f32) -> f32 {
    super::math::abs(x)
}

/// The arrays traversal reads, as fixed-size records (the same values): one bounds check per
/// node or triangle visited and no index arithmetic.
struct Walk<'a> {
    /// Per node: box min xyz, max xyz.
    boxes: &'a [[f32; 6]],
    /// Per node: `a`, `meta`.
    meta: &'a [[u32; 2]],
    /// Per triangle: [`TRI_STRIDE`] floats.
    tris: &'a [[f32; TRI_STRIDE]],
}

impl<'a> Walk<'a> {
    #[inline(always)]
    fn new(m: &'a CompiledMesh) -> Self {
        debug_assert!(
            m.node_box.len().is_multiple_of(6) && m.node_meta.len() == m.node_box.len() / 3
        );
        debug_assert!(m.tri.len() == m.num_triangles() * TRI_STRIDE);
        Walk {
            boxes: m.node_box.as_chunks::<6>().0,
            meta: m.node_meta.as_chunks::<2>().0,
            tris: m.tri.as_chunks::<TRI_STRIDE>().0,
        }
    }
}

/// What traversal needs of a ray, computed once: origin, `1/d` per component, which
/// components of `d` are zero (and whether any is), and which are negative, by split axis
/// (`neg[3] = neg[2]`: an axis above 1 reads as z).
struct RayK {
    o: [f32; 3],
    inv: [f32; 3],
    flat: [bool; 3],
    any_flat: bool,
    neg: [bool; 4],
}

impl RayK {
    #[inline(always)]
    fn new(o: V3, d: V3) -> Self {
        let inv = inverse(d);
        let flat = [d.x == 0.0, d.y == 0.0, d.z == 0.0];
        RayK {
            o: o.to_array(),
            inv: inv.to_array(),
            flat,
            any_flat: flat[0] || flat[1] || flat[2],
            neg: [d.x < 0.0, d.y < 0.0, d.z < 0.0, d.z < 0.0],
        }
    }
}

/// One slab of the box test: narrows `[t0, t1]` to where the ray is between `lo` and `hi` on an
/// axis along which it moves (`inv = 1/d` of that axis).
#[inline(always)]
fn slab(lo: f32, hi: f32, o: f32, inv: f32, t0: &mut f32, t1: &mut f32) {
    let a = (lo - o) * inv;
    let c = (hi - o) * inv;
    // `if tn > tf { swap }`
    let (tn, tf) = if a > c { (c, a) } else { (a, c) };
    let tf = tf * ROBUST;
    if tn > *t0 {
        *t0 = tn;
    }
    if tf < *t1 {
        *t1 = tf;
    }
}

/// Does the ray `o + t·d` (with `inv = 1/d` per component) meet node `n`'s box for some
/// `t ∈ [tmin, tmax]`? Conservative: rounding may let a ray in, never keep one out.
///
/// Axis by axis in x, y, z order: an axis along which the ray does not move keeps it out when
/// its origin is outside the slab; the others narrow `[t0, t1]`. `t0` only grows and `t1`
/// only shrinks, so testing `t0 > t1` once at the end answers as testing it after every axis
/// (what `m_hit_box` in `cuda/render_mesh.cu` does) would: NaN slab distances change neither.
#[inline(always)]
fn hit_box(b: &[f32; 6], r: &RayK, tmin: f32, tmax: f32) -> bool {
    let mut t0 = tmin;
    let mut t1 = tmax;
    if r.any_flat {
        for k in 0..3 {
            if r.flat[k] {
                if r.o[k] < b[k] || r.o[k] > b[3 + k] {
                    return false;
                }
            } else {
                slab(b[k], b[3 + k], r.o[k], r.inv[k], &mut t0, &mut t1);
            }
        }
    } else {
        slab(b[0], b[3], r.o[0], r.inv[0], &mut t0, &mut t1);
        slab(b[1], b[4], r.o[1], r.inv[1], &mut t0, &mut t1);
        slab(b[2], b[5], r.o[2], r.inv[2], &mut t0, &mut t1);
    }
    !(t0 > t1)
}

/// Möller–Trumbore against a stored triangle's record: `(t, u, v)` when the ray meets it (its
/// barycentrics in `[0, 1]`, their sum ≤ 1, NaN never). Degenerate triangles are never hit:
/// their stored normal is `(0, 0, 0)`, which no other triangle's is (`mesh_blob::compile`
/// divides a non-zero cross product by its length), so the flag word that `m_hit_tri` in
/// `cuda/render_mesh.cu` reads need not be: the same answer without touching `tri_info`.
#[inline(always)]
fn hit_tri(td: &[f32; TRI_STRIDE], o: V3, d: V3) -> Option<(f32, f32, f32)> {
    if td[9] == 0.0 && td[10] == 0.0 && td[11] == 0.0 {
        return None;
    }
    let v0 = V3::new(td[0], td[1], td[2]);
    let e1 = V3::new(td[3], td[4], td[5]);
    let e2 = V3::new(td[6], td[7], td[8]);
    let pvec = d.cross(e2);
    let det = e1.dot(pvec);
    if det == 0.0 {
        return None;
    }
    let inv = 1.0 / det;
    let tvec = o - v0;
    let u = tvec.dot(pvec) * inv;
    if !(u >= 0.0 && u <= 1.0) {
        return None;
    }
    let qvec = tvec.cross(e1);
    let v = d.dot(qvec) * inv;
    if !(v >= 0.0 && u + v <= 1.0) {
        return None;
    }
    let t = e2.dot(qvec) * inv;
    Some((t, u, v))
}

/// `1/d` per component.
#[inline(always)]
fn inverse(d: V3) -> V3 {
    V3::new(1.0 / d.x, 1.0 / d.y, 1.0 / d.z)
}

/// The closest hit with `tmin < t`, ignoring triangle `skip`: `(triangle, t, u, v)`. Among hits
/// at the same `t` the lowest triangle index wins, so the answer is that of testing every
/// triangle (the brute-force reference in the tests), whatever the traversal order.
pub fn closest(
    m: &CompiledMesh,
    o: V3,
    d: V3,
    tmin: f32,
    skip: u32,
) -> Option<(u32, f32, f32, f32)> {
    if m.num_triangles() == 0 {
        return None;
    }
    let w = Walk::new(m);
    let r = RayK::new(o, d);
    let mut stack = [0u32; STACK];
    let mut sp = 0usize;
    let mut node = 0usize;
    let mut best_t = T_FAR;
    let mut best = NONE;
    let (mut bu, mut bv) = (0.0f32, 0.0f32);
    loop {
        if hit_box(&w.boxes[node], &r, tmin, best_t) {
            let [a, meta] = w.meta[node];
            let count = meta >> 2;
            if count == 0 {
                let second = a as usize;
                if r.neg[(meta & 3) as usize] {
                    stack[sp] = (node + 1) as u32;
                    node = second;
                } else {
                    stack[sp] = second as u32;
                    node += 1;
                }
                sp += 1;
                continue;
            }
            let leaf = &w.tris[a as usize..a as usize + count as usize];
            for (i, td) in (a..).zip(leaf) {
                if i == skip {
                    continue;
                }
                if let Some((t, u, v)) = hit_tri(td, o, d) {
                    if t > tmin && (t < best_t || (t == best_t && i < best)) {
                        best_t = t;
                        best = i;
                        bu = u;
                        bv = v;
                    }
                }
            }
        }
        if sp == 0 {
            break;
        }
        sp -= 1;
        node = stack[sp] as usize;
    }
    (best != NONE).then_some((best, best_t, bu, bv))
}

/// Is anything (other than triangles `skip_a`, `skip_b`) hit with `tmin < t < tmax`?
pub fn occluded(
    m: &CompiledMesh,
    o: V3,
    d: V3,
    tmin: f32,
    tmax: f32,
    skip_a: u32,
    skip_b: u32,
) -> bool {
    if m.num_triangles() == 0 {
        return false;
    }
    let w = Walk::new(m);
    let r = RayK::new(o, d);
    let mut stack = [0u32; STACK];
    let mut sp = 0usize;
    let mut node = 0usize;
    loop {
        if hit_box(&w.boxes[node], &r, tmin, tmax) {
            let [a, meta] = w.meta[node];
            let count = meta >> 2;
            if count == 0 {
                let second = a as usize;
                if r.neg[(meta & 3) as usize] {
                    stack[sp] = (node + 1) as u32;
                    node = second;
                } else {
                    stack[sp] = second as u32;
                    node += 1;
                }
                sp += 1;
                continue;
            }
            let leaf = &w.tris[a as usize..a as usize + count as usize];
            for (i, td) in (a..).zip(leaf) {
                if i == skip_a || i == skip_b {
                    continue;
                }
                if let Some((t, _, _)) = hit_tri(td, o, d) {
                    if t > tmin && t < tmax {
                        return true;
                    }
                }
            }
        }
        if sp == 0 {
            return false;
        }
        sp -= 1;
        node = stack[sp] as usize;
    }
}

/// The brute-force reference of [`closest`]: every triangle in index order.
pub fn closest_brute(
    m: &CompiledMesh,
    o: V3,
    d: V3,
    tmin: f32,
    skip: u32,
) -> Option<(u32, f32, f32, f32)> {
    let mut best: Option<(u32, f32, f32, f32)> = None;
    for (i, td) in (0u32..).zip(m.tri.as_chunks::<TRI_STRIDE>().0) {
        if i == skip {
            continue;
        }
        if let Some((t, u, v)) = hit_tri(td, o, d) {
            if t > tmin && best.is_none_or(|b| t < b.1) {
                best = Some((i, t, u, v));
            }
        }
    }
    best
}

/// `floor(a)` for `|a| < 2²³` (exact).
#[inline(always)]
fn floor_small(a: f32) -> f32 {
    let t = a as i32 as f32;
    if t > a {
        t - 1.0
    } else {
        t
    }
}

/// `a − floor(a)` in `[0, 1)`; 0 when `|a| ≥ 2²³` (such a float is an integer) or NaN.
#[inline(always)]
fn frac(a: f32) -> f32 {
    if !(absf(a) < 8_388_608.0) {
        return 0.0;
    }
    let r = a - floor_small(a);
    if r < 1.0 {
        r
    } else {
        0.0
    }
}

/// Texel `(x, y)` of texture `t`, decoded: `(c / 255)²` per channel.
#[inline(always)]
fn texel(m: &CompiledMesh, t: usize, x: u32, y: u32) -> V3 {
    let (off, w) = (m.tex_info[3 * t], m.tex_info[3 * t + 1]);
    let i = 4 * (off as usize + y as usize * w as usize + x as usize);
    let dec = |c: u8| {
        let v = c as f32 / 255.0;
        v * v
    };
    V3::new(dec(m.texels[i]), dec(m.texels[i + 1]), dec(m.texels[i + 2]))
}

/// Bilinear, repeating lookup of texture `t` at `(u, v)` (v = 0 is the top row).
fn sample_texture(m: &CompiledMesh, t: usize, u: f32, v: f32) -> V3 {
    let (w, h) = (m.tex_info[3 * t + 1], m.tex_info[3 * t + 2]);
    let x = frac(u) * w as f32 - 0.5;
    let y = frac(v) * h as f32 - 0.5;
    let (x0, fx) = if x < 0.0 {
        (-1i64, x + 1.0)
    } else {
        (x as i64, x - (x as i64) as f32)
    };
    let (y0, fy) = if y < 0.0 {
        (-1i64, y + 1.0)
    } else {
        (y as i64, y - (y as i64) as f32)
    };
    let wrap = |i: i64, n: u32| -> u32 {
        if i < 0 {
            n - 1
        } else if i >= n as i64 {
            (i - n as i64) as u32
        } else {
            i as u32
        }
    };
    let (xa, xb) = (wrap(x0, w), wrap(x0 + 1, w));
    let (ya, yb) = (wrap(y0, h), wrap(y0 + 1, h));
    let top = texel(m, t, xa, ya) * (1.0 - fx) + texel(m, t, xb, ya) * fx;
    let bottom = texel(m, t, xa, yb) * (1.0 - fx) + texel(m, t, xb, yb) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// The light chosen by `u ∈ [0, 1)`: the first whose cumulative probability exceeds `u`
/// (binary search).
#[inline(always)]
fn pick_light(m: &CompiledMesh, u: f32) -> usize {
    let (mut lo, mut hi) = (0usize, m.light_cdf.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if u < m.light_cdf[mid] {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The power heuristic's weight of a strategy with density `a` against one with `b`.
#[inline(always)]
fn power_weight(a: f32, b: f32) -> f32 {
    let a2 = a * a;
    a2 / (a2 + b * b)
}

/// A point sampled on the lights for next-event estimation from `p`, when it can light `p`.
struct LightSample {
    /// The light's triangle.
    tri: u32,
    /// Unit direction to the point.
    wn: V3,
    /// Distance to the point.
    dist: f32,
    /// `n_s · wn`.
    cos_x: f32,
    /// Density of `wn` (solid angle).
    pl: f32,
    /// The light's emission.
    le: V3,
}

/// Light `i` = the first with `u3 < cdf_i`, the point `v0 + e1·(√u4·(1 − u5)) + e2·(√u4·u5)`;
/// `None` unless it lies above both normals (`n_s·ω > 0`, `n_g·ω > 0`), faces `p`
/// (`|n_l·ω| > 0`) and is further than `eps`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn light_sample(
    m: &CompiledMesh,
    p: V3,
    ns: V3,
    ng: V3,
    eps: f32,
    u3: f32,
    u4: f32,
    u5: f32,
) -> Option<LightSample> {
    if m.light_tri.is_empty() {
        return None;
    }
    let li = pick_light(m, u3);
    let lt = m.light_tri[li] as usize;
    let ld = &m.tri[lt * TRI_STRIDE..(lt + 1) * TRI_STRIDE];
    let su = u4.sqrt();
    let b1 = su * (1.0 - u5);
    let b2 = su * u5;
    let q =
        V3::from_slice(&ld[0..3]) + V3::from_slice(&ld[3..6]) * b1 + V3::from_slice(&ld[6..9]) * b2;
    let wi = q - p;
    let dist2 = wi.dot(wi);
    let dist = dist2.sqrt();
    let wn = wi.div_s(dist);
    let cos_x = ns.dot(wn);
    let cos_g = ng.dot(wn);
    let cos_l = absf(V3::from_slice(&ld[9..12]).dot(wn));
    if !(cos_x > 0.0 && cos_g > 0.0 && cos_l > 0.0 && dist > eps) {
        return None;
    }
    let pl = m.light_pdf[lt] * dist2 / cos_l;
    let lmi = m.tri_info[5 * lt] as usize;
    let le = V3::from_slice(&m.mat[lmi * MAT_STRIDE + 4..lmi * MAT_STRIDE + 7]);
    Some(LightSample {
        tri: lt as u32,
        wn,
        dist,
        cos_x,
        pl,
        le,
    })
}

/// A direction sampled on the environment for next-event estimation (row `u0`, column
/// `u1`, the point in the texel `(j1, j2)`), when it lies above both normals and has density.
#[inline(always)]
fn env_sample(
    m: &CompiledMesh,
    ns: V3,
    ng: V3,
    u0: f32,
    u1: f32,
    j1: f32,
    j2: f32,
) -> Option<LightSample> {
    let (wn, k) = m.env.sample(u0, u1, j1, j2);
    let cos_x = ns.dot(wn);
    let cos_g = ng.dot(wn);
    if !(cos_x > 0.0 && cos_g > 0.0) {
        return None;
    }
    let pl = m.env.density(k, wn);
    if !(pl > 0.0) {
        return None;
    }
    Some(LightSample {
        tri: NONE,
        wn,
        dist: T_FAR,
        cos_x,
        pl,
        le: m.env.radiance(k),
    })
}

/// Radiance along one camera path and the ray segments traced.
pub fn trace(m: &CompiledMesh, pixel: u32, sample: u32, mut o: V3, mut d: V3) -> (V3, u32) {
    let bg = V3::from_slice(&m.camera[12..15]);
    let eps = m.ray_eps;
    let mut throughput = V3::new(1.0, 1.0, 1.0);
    let mut radiance = V3::new(0.0, 0.0, 0.0);
    let mut bounce = 0u32;
    let mut segments = 0u32;
    let mut from = NONE;
    // density of the last diffuse bounce's direction (solid angle); 0: the camera or a
    // specular bounce (emission then counts fully)
    let mut bsdf_pdf = 0.0f32;
    loop {
        segments += 1;
        let Some((ti, t, bu, bv)) = closest(m, o, d, eps, from) else {
            if m.env.present() {
                let k = m.env.texel_of(d);
                let w = if bsdf_pdf > 0.0 {
                    power_weight(bsdf_pdf, m.env.density(k, d))
                } else {
                    1.0
                };
                radiance = radiance + throughput.hadamard(m.env.radiance(k)) * w;
            } else {
                radiance = radiance + throughput.hadamard(bg);
            }
            break;
        };
        let i = ti as usize;
        let td = &m.tri[i * TRI_STRIDE..(i + 1) * TRI_STRIDE];
        let ng0 = V3::from_slice(&td[9..12]);
        let mi = m.tri_info[5 * i] as usize;
        let md = &m.mat[mi * MAT_STRIDE..(mi + 1) * MAT_STRIDE];
        let lp = m.light_pdf[i];
        if lp > 0.0 {
            let emission = V3::from_slice(&md[4..7]);
            let w = if bsdf_pdf > 0.0 {
                let cos_l = absf(ng0.dot(d));
                let pl = lp * (t * t) / cos_l;
                power_weight(bsdf_pdf, pl)
            } else {
                1.0
            };
            radiance = radiance + throughput.hadamard(emission) * w;
        }
        if bounce >= m.max_bounces {
            break;
        }
        let p = o + d * t;
        let front = ng0.dot(d) < 0.0;
        let ng = if front { ng0 } else { -ng0 };
        let bw = 1.0 - bu - bv;
        let mut ns = ng;
        if !m.normals.is_empty() {
            let vi = |k: usize| m.tri_info[5 * i + 1 + k] as usize * 3;
            let n0 = V3::from_slice(&m.normals[vi(0)..vi(0) + 3]);
            let n1 = V3::from_slice(&m.normals[vi(1)..vi(1) + 3]);
            let n2 = V3::from_slice(&m.normals[vi(2)..vi(2) + 3]);
            let sn = n0 * bw + n1 * bu + n2 * bv;
            let len2 = sn.dot(sn);
            if len2 > 0.0 && len2 < f32::INFINITY {
                let sn = sn.div_s(len2.sqrt());
                ns = if sn.dot(ng) < 0.0 { -sn } else { sn };
            }
        }
        let mut albedo = V3::from_slice(&md[0..3]);
        let tex = m.mat_tex[mi];
        if tex != NO_TEXTURE && !m.uvs.is_empty() {
            let vi = |k: usize| m.tri_info[5 * i + 1 + k] as usize * 2;
            let u = m.uvs[vi(0)] * bw + m.uvs[vi(1)] * bu + m.uvs[vi(2)] * bv;
            let v = m.uvs[vi(0) + 1] * bw + m.uvs[vi(1) + 1] * bu + m.uvs[vi(2) + 1] * bv;
            albedo = albedo.hadamard(sample_texture(m, tex as usize, u, v));
        }
        let stage = bounce + 1;
        let r = |dim: u32| rand01(m.seed, pixel, sample, stage, dim);
        let kind = m.mat_kind[mi];
        let (new_d, weight) = match kind {
            mat_kind::DIFFUSE => {
                if let Some(l) = light_sample(m, p, ns, ng, eps, r(3), r(4), r(5)) {
                    segments += 1; // the shadow ray
                    if !occluded(m, p, l.wn, eps, l.dist, ti, l.tri) {
                        let pb = l.cos_x * INV_PI;
                        let w = power_weight(l.pl, pb);
                        let k = (l.cos_x * INV_PI) * w / l.pl;
                        radiance = radiance + throughput.hadamard(albedo).hadamard(l.le) * k;
                    }
                }
                let sd = ns + random_unit_vector(r(0), r(1));
                let sd = if near_zero(sd) { ns } else { sd.normalize() };
                if !(ng.dot(sd) > 0.0) {
                    break;
                }
                bsdf_pdf = ns.dot(sd) * INV_PI;
                (sd, albedo)
            }
            mat_kind::METAL => {
                let rf = reflect(d, ns);
                let sd = (rf + random_unit_vector(r(0), r(1)) * md[3]).normalize();
                if !(sd.dot(ng) > 0.0) {
                    break;
                }
                bsdf_pdf = 0.0;
                (sd, albedo)
            }
            mat_kind::PRINCIPLED => {
                let s = Surface::new(md, albedo);
                let wo = -d;
                let l = if m.env.select > 0.0 && r(7) < m.env.select {
                    env_sample(m, ns, ng, r(3), r(4), r(8), r(9))
                } else {
                    light_sample(m, p, ns, ng, eps, r(3), r(4), r(5))
                };
                if let Some(l) = l {
                    segments += 1; // the shadow ray
                    if !occluded(m, p, l.wn, eps, l.dist, ti, l.tri) {
                        let (f, pb) = s.eval(ns, wo, l.wn);
                        let w = power_weight(l.pl, pb);
                        let k = w / l.pl;
                        radiance = radiance + throughput.hadamard(f).hadamard(l.le) * k;
                    }
                }
                let Some(sd) = s.sample(ns, wo, r(0), r(1), r(2)) else {
                    break;
                };
                if !(ng.dot(sd) > 0.0) {
                    break;
                }
                let (f, pdf) = s.eval(ns, wo, sd);
                if !(pdf > 0.0) {
                    break;
                }
                bsdf_pdf = pdf;
                (sd, f.div_s(pdf))
            }
            mat_kind::PRINCIPLED_GLASS => {
                bsdf_pdf = 0.0;
                let (sd, refracted) = principled::glass(d, ns, front, md[7], r(2));
                let side = ng.dot(sd);
                if refracted {
                    if !(side < 0.0) {
                        break;
                    }
                    (sd, albedo)
                } else {
                    if !(side > 0.0) {
                        break;
                    }
                    (sd, V3::new(1.0, 1.0, 1.0))
                }
            }
            _ => {
                bsdf_pdf = 0.0;
                (dielectric(d, ng, front, md[7], r(2)), albedo)
            }
        };
        throughput = throughput.hadamard(weight);
        if bounce >= RR_START {
            let mut q = throughput.x;
            if throughput.y > q {
                q = throughput.y;
            }
            if throughput.z > q {
                q = throughput.z;
            }
            let q = min(q, RR_MAX);
            if !(r(6) < q) {
                break;
            }
            throughput = throughput.div_s(q);
        }
        o = p;
        d = new_d;
        from = ti;
        bounce += 1;
    }
    (radiance, segments)
}

/// Camera ray through pixel `(px, py)` of the full frame (row 0 at the top), jitter `(j1, j2)`.
#[inline(always)]
fn camera_ray(m: &CompiledMesh, px: u32, py: u32, j1: f32, j2: f32) -> (V3, V3) {
    pinhole_ray(&m.camera, m.width, m.height, px, py, j1, j2)
}

/// The mean radiance of pixel `(px, py)` of the frame over its samples (NaN canonical) and the
/// segments traced.
pub fn render_pixel(m: &CompiledMesh, px: u32, py: u32) -> ([f32; 3], u32) {
    let pixel = py.wrapping_mul(m.width).wrapping_add(px);
    let mut sum = V3::new(0.0, 0.0, 0.0);
    let mut segs = 0u32;
    for sample in 0..m.spp {
        let j1 = rand01(m.seed, pixel, sample, 0, 0);
        let j2 = rand01(m.seed, pixel, sample, 0, 1);
        let (o, d) = camera_ray(m, px, py, j1, j2);
        let (l, n) = trace(m, pixel, sample, o, d);
        sum = sum + l;
        segs = segs.wrapping_add(n);
    }
    let n = m.spp as f32;
    let avg = |c: f32| canonicalize_f32(c / n);
    ([avg(sum.x), avg(sum.y), avg(sum.z)], segs)
}

/// Renders the job's tile on all cores: `w × h × 3` f32 (linear radiance, rows top to bottom)
/// and the segments traced.
pub fn render(m: &CompiledMesh) -> (Vec<f32>, u64) {
    let t = m.tile;
    let w = t.w as usize;
    let mut out = vec![0.0f32; w * t.h as usize * 3];
    let rays: u64 = out
        .par_chunks_mut(w * 3)
        .enumerate()
        .map(|(row, px_out)| {
            let mut rays = 0u64;
            for c in 0..w {
                let (rgb, n) = render_pixel(m, t.x0 + c as u32, t.y0 + row as u32);
                px_out[3 * c..3 * c + 3].copy_from_slice(&rgb);
                rays += n as u64;
            }
            rays
        })
        .sum();
    (out, rays)
}
