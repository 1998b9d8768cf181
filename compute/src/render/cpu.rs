//! CPU reference path tracer (rayon over rows). `docs/KERNELS.md` § Render is the spec; the
//! CUDA kernel in `cuda/render.cu` is a line-by-line transliteration of this file.

// `!(a > b)` is deliberate: it is also true for NaN, and the CUDA kernel uses the same test.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use rayon::prelude::*;

use super::math::{clamp01, f, min, rand01, sincos_turns, V3};
use super::scene::{kind, CompiledScene, MAT_STRIDE, OBJ_STRIDE};

/// Rays start this far along the direction (1e-3).
pub const T_MIN: f32 = f(0x3a83126f);
/// Initial "closest hit" distance (1e30).
pub const T_MAX: f32 = f(0x7149f2ca);
/// Planes nearly parallel to the ray are ignored (1e-8).
pub const EPS_PLANE: f32 = f(0x322bcc77);
/// Triangle determinant threshold (1e-9).
pub const EPS_TRI: f32 = f(0x3089705f);
/// Near-zero scatter direction threshold (1e-6).
pub const EPS_ZERO: f32 = f(0x358637bd);

struct Hit {
    t: f32,
    p: V3,
    n: V3,
    front: bool,
    mat: usize,
}

#[inline(always)]
fn absf(x: f32) -> f32 {
    super::math::abs(x)
}

/// Closest intersection in `(T_MIN, closest)`, objects tested in index order, strict `<`.
fn hit_scene(s: &CompiledScene, o: V3, d: V3) -> Option<Hit> {
    let mut closest = T_MAX;
    let mut found: Option<(usize, f32)> = None;
    let n_obj = s.num_objects();
    for i in 0..n_obj {
        let k = s.obj_kind[2 * i];
        let od = &s.obj_data[i * OBJ_STRIDE..(i + 1) * OBJ_STRIDE];
        let t = match k {
            kind::SPHERE => {
                let c = V3::from_slice(&od[0..3]);
                let r = od[3];
                let oc = o - c;
                let a = d.dot(d);
                let half_b = oc.dot(d);
                let cc = oc.dot(oc) - r * r;
                let disc = half_b * half_b - a * cc;
                if disc < 0.0 {
                    continue;
                }
                let sq = disc.sqrt();
                let mut t = (-half_b - sq) / a;
                if !(t > T_MIN && t < closest) {
                    t = (-half_b + sq) / a;
                    if !(t > T_MIN && t < closest) {
                        continue;
                    }
                }
                t
            }
            kind::PLANE => {
                let p0 = V3::from_slice(&od[0..3]);
                let n = V3::from_slice(&od[3..6]);
                let denom = n.dot(d);
                if absf(denom) < EPS_PLANE {
                    continue;
                }
                let t = (p0 - o).dot(n) / denom;
                if !(t > T_MIN && t < closest) {
                    continue;
                }
                t
            }
            _ => {
                let v0 = V3::from_slice(&od[0..3]);
                let e1 = V3::from_slice(&od[3..6]);
                let e2 = V3::from_slice(&od[6..9]);
                let pvec = d.cross(e2);
                let det = e1.dot(pvec);
                if absf(det) < EPS_TRI {
                    continue;
                }
                let inv = 1.0 / det;
                let tvec = o - v0;
                let u = tvec.dot(pvec) * inv;
                if u < 0.0 || u > 1.0 {
                    continue;
                }
                let qvec = tvec.cross(e1);
                let v = d.dot(qvec) * inv;
                if v < 0.0 || u + v > 1.0 {
                    continue;
                }
                let t = e2.dot(qvec) * inv;
                if !(t > T_MIN && t < closest) {
                    continue;
                }
                t
            }
        };
        closest = t;
        found = Some((i, t));
    }
    let (i, t) = found?;
    let od = &s.obj_data[i * OBJ_STRIDE..(i + 1) * OBJ_STRIDE];
    let p = o + d * t;
    let outward = match s.obj_kind[2 * i] {
        kind::SPHERE => (p - V3::from_slice(&od[0..3])).div_s(od[3]),
        kind::PLANE => V3::from_slice(&od[3..6]),
        _ => V3::from_slice(&od[9..12]),
    };
    let front = d.dot(outward) < 0.0;
    let n = if front { outward } else { -outward };
    Some(Hit {
        t,
        p,
        n,
        front,
        mat: s.obj_kind[2 * i + 1] as usize,
    })
}

/// `(x, y, z)` uniformly on the unit sphere from two uniforms.
#[inline(always)]
pub(super) fn random_unit_vector(u1: f32, u2: f32) -> V3 {
    let z = 1.0 - 2.0 * u1;
    let r2 = 1.0 - z * z;
    let r = if r2 > 0.0 { r2.sqrt() } else { 0.0 };
    let (s, c) = sincos_turns(u2);
    V3::new(r * c, r * s, z)
}

#[inline(always)]
pub(super) fn reflect(v: V3, n: V3) -> V3 {
    v - n * (2.0 * v.dot(n))
}

#[inline(always)]
pub(super) fn near_zero(v: V3) -> bool {
    absf(v.x) < EPS_ZERO && absf(v.y) < EPS_ZERO && absf(v.z) < EPS_ZERO
}

/// The smooth dielectric (both specs' glass): direction `d` meets a surface with normal `n`
/// facing it, from outside when `front`; Schlick's reflectance against `u3` chooses between
/// reflection (always under total internal reflection) and refraction.
#[inline(always)]
pub(super) fn dielectric(d: V3, n: V3, front: bool, ior: f32, u3: f32) -> V3 {
    let ri = if front { 1.0 / ior } else { ior };
    let cos_t = min(-d.dot(n), 1.0);
    let sin2 = 1.0 - cos_t * cos_t;
    let sin_t = if sin2 > 0.0 { sin2.sqrt() } else { 0.0 };
    let cannot = ri * sin_t > 1.0;
    let r0a = (1.0 - ri) / (1.0 + ri);
    let r0 = r0a * r0a;
    let x = 1.0 - cos_t;
    let x2 = x * x;
    let x5 = x2 * x2 * x;
    let refl = r0 + (1.0 - r0) * x5;
    if cannot || refl > u3 {
        reflect(d, n)
    } else {
        let perp = (d + n * cos_t) * ri;
        let k = 1.0 - perp.dot(perp);
        let ka = absf(k);
        let par = n * (-ka.sqrt());
        (perp + par).normalize()
    }
}

/// Radiance along one camera path and the number of ray segments traced.
fn trace(s: &CompiledScene, pixel: u32, sample: u32, mut o: V3, mut d: V3) -> (V3, u32) {
    let bg = V3::from_slice(&s.camera[12..15]);
    let mut throughput = V3::new(1.0, 1.0, 1.0);
    let mut radiance = V3::new(0.0, 0.0, 0.0);
    let mut bounce = 0u32;
    let mut segments = 0u32;
    loop {
        segments += 1;
        let Some(h) = hit_scene(s, o, d) else {
            radiance = radiance + throughput.hadamard(bg);
            break;
        };
        let _ = h.t;
        let mk = s.mat_kind[h.mat];
        let md = &s.mat_data[h.mat * MAT_STRIDE..(h.mat + 1) * MAT_STRIDE];
        let color = V3::from_slice(&md[0..3]);
        if mk == kind::EMISSIVE {
            radiance = radiance + throughput.hadamard(color);
            break;
        }
        if bounce >= s.max_bounces {
            break;
        }
        let stage = bounce + 1;
        let u1 = rand01(s.seed, pixel, sample, stage, 0);
        let u2 = rand01(s.seed, pixel, sample, stage, 1);
        let u3 = rand01(s.seed, pixel, sample, stage, 2);
        let new_d = match mk {
            kind::DIFFUSE => {
                let sd = h.n + random_unit_vector(u1, u2);
                if near_zero(sd) {
                    h.n
                } else {
                    sd.normalize()
                }
            }
            kind::METAL => {
                let r = reflect(d, h.n);
                let sd = (r + random_unit_vector(u1, u2) * md[3]).normalize();
                if !(sd.dot(h.n) > 0.0) {
                    break;
                }
                sd
            }
            _ => dielectric(d, h.n, h.front, md[3], u3),
        };
        throughput = throughput.hadamard(color);
        o = h.p;
        d = new_d;
        bounce += 1;
    }
    (radiance, segments)
}

/// Camera ray through pixel `(px, py)` (row 0 at the top) with jitter `(j1, j2)`.
#[inline(always)]
fn camera_ray(s: &CompiledScene, px: u32, py: u32, j1: f32, j2: f32) -> (V3, V3) {
    pinhole_ray(&s.camera, s.width, s.height, px, py, j1, j2)
}

/// The ray of both specs' pinhole camera (`camera`: origin, lower-left corner, horizontal,
/// vertical) through pixel `(px, py)` of a `width × height` frame, jittered by `(j1, j2)`.
#[inline(always)]
pub(super) fn pinhole_ray(
    camera: &[f32],
    width: u32,
    height: u32,
    px: u32,
    py: u32,
    j1: f32,
    j2: f32,
) -> (V3, V3) {
    let origin = V3::from_slice(&camera[0..3]);
    let llc = V3::from_slice(&camera[3..6]);
    let horiz = V3::from_slice(&camera[6..9]);
    let vert = V3::from_slice(&camera[9..12]);
    let sx = (px as f32 + j1) / width as f32;
    let ty = ((height - 1 - py) as f32 + j2) / height as f32;
    let dir = llc + horiz * sx + vert * ty - origin;
    (origin, dir.normalize())
}

/// Final RGBA8 of a pixel from its radiance sum.
#[inline(always)]
pub fn encode_pixel(sum: V3, spp: u32) -> [u8; 4] {
    let n = spp as f32;
    let ch = |c: f32| -> u8 {
        let avg = c / n;
        let tm = avg / (1.0 + avg);
        let g = clamp01(tm).sqrt();
        (g * 255.0 + 0.5) as u32 as u8
    };
    [ch(sum.x), ch(sum.y), ch(sum.z), 255]
}

/// Renders one pixel: returns RGBA8 and ray segments traced.
pub fn render_pixel(s: &CompiledScene, px: u32, py: u32) -> ([u8; 4], u32) {
    let pixel = py.wrapping_mul(s.width).wrapping_add(px);
    let mut sum = V3::new(0.0, 0.0, 0.0);
    let mut segs = 0u32;
    for sample in 0..s.spp {
        let j1 = rand01(s.seed, pixel, sample, 0, 0);
        let j2 = rand01(s.seed, pixel, sample, 0, 1);
        let (o, d) = camera_ray(s, px, py, j1, j2);
        let (l, n) = trace(s, pixel, sample, o, d);
        sum = sum + l;
        segs = segs.wrapping_add(n);
    }
    (encode_pixel(sum, s.spp), segs)
}

/// Renders the whole image on all cores. Returns RGBA8 (rows top to bottom) and the number of
/// ray segments traced.
pub fn render(s: &CompiledScene) -> (Vec<u8>, u64) {
    let w = s.width as usize;
    let mut rgba = vec![0u8; w * s.height as usize * 4];
    let rays: u64 = rgba
        .par_chunks_mut(w * 4)
        .enumerate()
        .map(|(py, row)| {
            let mut rays = 0u64;
            for px in 0..w {
                let (c, n) = render_pixel(s, px as u32, py as u32);
                row[px * 4..px * 4 + 4].copy_from_slice(&c);
                rays += n as u64;
            }
            rays
        })
        .sum();
    (rgba, rays)
}
