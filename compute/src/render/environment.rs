//! The environment of render spec 3: an equirectangular map of linear radiance around the
//! scene (Blender's world "Environment Texture": an HDRI, or one texel for a constant colour),
//! seen by rays that leave the scene and sampled as a light (next-event estimation with the
//! map's own importance, combined with BSDF sampling by the power heuristic).
//!
//! Mapping (glTF's Y-up world, Blender's equirectangular convention after its Z-up → Y-up
//! export): a unit direction `d` reads column `⌊(½ + atan2(d_z, d_x)/2π)·w⌋` and row
//! `⌊(½ − atan2(d_y, √(d_x² + d_z²))/π)·h⌋` (row 0 at the top, the zenith), each clamped into
//! the map: nearest texel, no filtering (Blender's "Closest" interpolation).
//!
//! Importance (host, at compilation, f64 rounded once to f32): texel weight = luminance
//! (`0.2126 r + 0.7152 g + 0.0722 b`) × `sin θ` of its row's centre; a row is picked by the
//! cumulative row weights, a column by the row's cumulative weights, then a uniform point in
//! the texel. The solid-angle density of a direction in texel `i` is
//! `pdf_i / sin θ` with `pdf_i = p_i · w · h / (2π²)` stored per texel (and already multiplied
//! by the probability of choosing the environment over the emissive triangles).
//!
//! Kernel arithmetic as the tracer's: binary32 `+ − × ÷ √`, [`atan2`] and `sincos_turns`.
//! `m_env_*` in `cuda/render_mesh.cu` transliterates it.

// `!(a > b)` is deliberate: it is also true for NaN, and the CUDA kernel uses the same tests.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::math::{atan2, sincos_turns, V3};
use super::mesh::EnvMap;

/// 1/(2π).
pub const INV_TWO_PI: f32 = super::math::f(0x3e22f983);
/// 1/π.
pub const INV_PI: f32 = super::math::f(0x3ea2f983);

/// A compiled environment: the map and its sampling tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompiledEnv {
    /// Width in texels (0: no environment; rays that leave see the background colour).
    pub width: u32,
    /// Height in texels.
    pub height: u32,
    /// `w × h` linear RGB, rows top to bottom.
    pub rgb: Vec<f32>,
    /// Per row: cumulative probability of picking rows up to it (the last is 1).
    pub row_cdf: Vec<f32>,
    /// Per texel: cumulative probability of the columns up to it within its row.
    pub col_cdf: Vec<f32>,
    /// Per texel: `p_select · p_i · w · h / (2π²)`: divided by `sin θ`, the solid-angle
    /// density with which next-event estimation picks a direction in it.
    pub pdf: Vec<f32>,
    /// Probability that next-event estimation samples the environment (0 when its map is
    /// black, 1 without emissive triangles, else ½).
    pub select: f32,
}

impl CompiledEnv {
    /// Compiles `map` (validated) with emissive triangles present or not.
    pub fn compile(map: Option<&EnvMap>, have_lights: bool) -> Self {
        let Some(map) = map else {
            return CompiledEnv::default();
        };
        let (w, h) = (map.width as usize, map.height as usize);
        let mut weights = vec![0.0f64; w * h];
        for r in 0..h {
            let sin_t = (std::f64::consts::PI * (r as f64 + 0.5) / h as f64).sin();
            for c in 0..w {
                let t = &map.rgb[3 * (r * w + c)..3 * (r * w + c) + 3];
                let lum = 0.2126 * t[0] as f64 + 0.7152 * t[1] as f64 + 0.0722 * t[2] as f64;
                weights[r * w + c] = lum.max(0.0) * sin_t;
            }
        }
        let row_sum: Vec<f64> = weights.chunks(w).map(|row| row.iter().sum()).collect();
        let total: f64 = row_sum.iter().sum();
        let select = if !(total > 0.0) || !total.is_finite() {
            0.0
        } else if have_lights {
            0.5
        } else {
            1.0
        };
        let mut row_cdf = Vec::with_capacity(h);
        let mut col_cdf = Vec::with_capacity(w * h);
        let mut pdf = vec![0.0f32; w * h];
        let mut acc = 0.0f64;
        for r in 0..h {
            acc += row_sum[r];
            row_cdf.push(if total > 0.0 {
                (acc / total) as f32
            } else {
                1.0
            });
            let mut racc = 0.0f64;
            for c in 0..w {
                racc += weights[r * w + c];
                col_cdf.push(if row_sum[r] > 0.0 {
                    (racc / row_sum[r]) as f32
                } else {
                    1.0
                });
                if select > 0.0 {
                    let p = weights[r * w + c] / total;
                    pdf[r * w + c] = (select as f64 * p * (w * h) as f64
                        / (2.0 * std::f64::consts::PI * std::f64::consts::PI))
                        as f32;
                }
            }
            if let Some(last) = col_cdf.last_mut() {
                *last = 1.0;
            }
        }
        if let Some(last) = row_cdf.last_mut() {
            *last = 1.0;
        }
        CompiledEnv {
            width: map.width,
            height: map.height,
            rgb: map.rgb.clone(),
            row_cdf,
            col_cdf,
            pdf,
            select: select as f32,
        }
    }

    /// The one buffer the CUDA kernel reads: `select, width, height` (the sides as exact
    /// f32 integers), then the map, the row cdf, the column cdfs and the densities.
    pub fn device_buffer(&self) -> Vec<f32> {
        let mut b =
            Vec::with_capacity(3 + self.rgb.len() + self.row_cdf.len() + 2 * self.pdf.len());
        b.extend_from_slice(&[self.select, self.width as f32, self.height as f32]);
        b.extend_from_slice(&self.rgb);
        b.extend_from_slice(&self.row_cdf);
        b.extend_from_slice(&self.col_cdf);
        b.extend_from_slice(&self.pdf);
        b
    }

    /// Whether there is a map.
    #[inline(always)]
    pub fn present(&self) -> bool {
        self.width > 0
    }

    /// The texel the unit direction `d` reads.
    #[inline(always)]
    pub fn texel_of(&self, d: V3) -> usize {
        let u = 0.5 + atan2(d.z, d.x) * INV_TWO_PI;
        let s = (d.x * d.x + d.z * d.z).sqrt();
        let v = 0.5 - atan2(d.y, s) * INV_PI;
        let col = clamp_index(u * self.width as f32, self.width);
        let row = clamp_index(v * self.height as f32, self.height);
        row as usize * self.width as usize + col as usize
    }

    /// Radiance of texel `i`.
    #[inline(always)]
    pub fn radiance(&self, i: usize) -> V3 {
        V3::from_slice(&self.rgb[3 * i..3 * i + 3])
    }

    /// The solid-angle density with which next-event estimation picks the unit direction `d`
    /// in texel `i` (0 where `sin θ` is 0).
    #[inline(always)]
    pub fn density(&self, i: usize, d: V3) -> f32 {
        let s = (d.x * d.x + d.z * d.z).sqrt();
        if s > 0.0 {
            self.pdf[i] / s
        } else {
            0.0
        }
    }

    /// A direction picked by the map's importance: row by `u0`, column by `u1`, the point in
    /// the texel by `(j1, j2)`. `(direction, texel)`.
    #[inline(always)]
    pub fn sample(&self, u0: f32, u1: f32, j1: f32, j2: f32) -> (V3, usize) {
        let w = self.width as usize;
        let row = search(&self.row_cdf, u0);
        let col = search(&self.col_cdf[row * w..(row + 1) * w], u1);
        let u = (col as f32 + j1) / self.width as f32;
        let v = (row as f32 + j2) / self.height as f32;
        let (s2, c2) = sincos_turns(u);
        let (st, ct) = sincos_turns(v * 0.5);
        (V3::new(-(st * c2), ct, -(st * s2)), row * w + col)
    }
}

/// `⌊x⌋` clamped into `0 .. n` (`x` NaN → 0).
#[inline(always)]
fn clamp_index(x: f32, n: u32) -> u32 {
    let i = if x > 0.0 { x as u32 } else { 0 };
    if i < n {
        i
    } else {
        n - 1
    }
}

/// The first index whose cumulative probability exceeds `u` (binary search).
#[inline(always)]
fn search(cdf: &[f32], u: f32) -> usize {
    let (mut lo, mut hi) = (0usize, cdf.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if u < cdf[mid] {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::math::rand01;

    fn map(w: u32, h: u32, f: impl Fn(u32, u32) -> [f32; 3]) -> EnvMap {
        let mut rgb = Vec::new();
        for r in 0..h {
            for c in 0..w {
                rgb.extend_from_slice(&f(r, c));
            }
        }
        EnvMap {
            width: w,
            height: h,
            rgb,
        }
    }

    #[test]
    fn directions_map_as_blender_maps_them() {
        let e = CompiledEnv::compile(Some(&map(8, 4, |_, _| [1.0; 3])), false);
        // zenith (+Y) is the top row, nadir the bottom row
        assert_eq!(e.texel_of(V3::new(0.0, 1.0, 0.0)) / 8, 0);
        assert_eq!(e.texel_of(V3::new(0.0, -1.0, 0.0)) / 8, 3);
        // Blender's +X (glTF +X) is the centre column of an equirectangular image, Blender's
        // +Y (glTF −Z) a quarter to the left, Blender's −X the seam
        assert_eq!(e.texel_of(V3::new(1.0, 0.0, 0.0)) % 8, 4);
        assert_eq!(e.texel_of(V3::new(0.0, 0.0, -1.0)) % 8, 2);
        assert_eq!(e.texel_of(V3::new(0.0, 0.0, 1.0)) % 8, 6);
        // a sampled direction lies in the texel it names
        for i in 0..2000 {
            let r = |d| rand01(1, i, 0, 0, d);
            let (d, t) = e.sample(r(0), r(1), r(2), r(3));
            assert!((d.dot(d) - 1.0).abs() < 1e-5);
            assert_eq!(e.texel_of(d), t, "{d:?}");
        }
    }

    #[test]
    fn the_density_integrates_to_one_and_follows_the_map() {
        // a dim sky with one bright texel (the "sun")
        let e = CompiledEnv::compile(
            Some(&map(16, 8, |r, c| {
                if (r, c) == (2, 5) {
                    [500.0; 3]
                } else {
                    [0.5, 0.6, 0.9]
                }
            })),
            true,
        );
        assert_eq!(e.select, 0.5);
        let n = 400_000u32;
        let (mut pint, mut hits) = (0.0f64, 0u32);
        for i in 0..n {
            let d = crate::render::cpu::random_unit_vector(
                rand01(9, i, 0, 0, 0),
                rand01(9, i, 0, 0, 1),
            );
            let t = e.texel_of(d);
            pint += e.density(t, d) as f64;
            let (_, ts) = e.sample(rand01(5, i, 0, 0, 0), rand01(5, i, 0, 0, 1), 0.5, 0.5);
            hits += (ts == 2 * 16 + 5) as u32;
        }
        // over the sphere the density integrates to p_select = ½
        let integral = pint * 4.0 * std::f64::consts::PI / n as f64;
        assert!((integral - 0.5).abs() < 0.01, "{integral}");
        // the sun holds nearly all of the weight and is sampled that often
        let share = hits as f64 / n as f64;
        assert!(share > 0.85, "{share}");
    }

    #[test]
    fn a_black_map_is_never_sampled() {
        let e = CompiledEnv::compile(Some(&map(4, 2, |_, _| [0.0; 3])), false);
        assert_eq!(e.select, 0.0);
        assert!(e.pdf.iter().all(|&p| p == 0.0));
        assert!(!CompiledEnv::compile(None, true).present());
    }
}
