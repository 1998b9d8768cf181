//! CPU GEMM: cache-blocked, rayon over row blocks, AVX2/FMA micro-kernels on x86-64 with a
//! portable fallback, plus naive references.
//!
//! f32 order: for each output element the accumulator starts at `+0.0` and receives
//! `fma(a[i][k], b[k][j], acc)` for k ascending. K is cut into blocks processed in ascending
//! order; between blocks the accumulator is stored to C and reloaded, which is exact. So the
//! blocked kernel, the naive reference and the GPU kernel agree bit for bit.

use rayon::prelude::*;

/// Rows per micro-tile.
const MR: usize = 6;
/// Columns per micro-tile.
const NR: usize = 16;
/// K block (f32).
const KC_F32: usize = 256;
/// K block (int8, even).
const KC_I8: usize = 512;
/// N block.
const NC: usize = 2048;

/// Naive f32 reference: `acc = fma(a[i][k], b[k][j], acc)`, k ascending, `acc0 = +0.0`.
pub fn gemm_f32_naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
    assert_eq!(a.len(), m * k);
    assert_eq!(b.len(), k * n);
    let mut c = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for kk in 0..k {
                acc = a[i * k + kk].mul_add(b[kk * n + j], acc);
            }
            c[i * n + j] = acc;
        }
    }
    c
}

/// Naive int8 reference with wrapping int32 accumulation.
pub fn gemm_i8_naive(m: usize, n: usize, k: usize, a: &[i8], b: &[i8]) -> Vec<i32> {
    assert_eq!(a.len(), m * k);
    assert_eq!(b.len(), k * n);
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0i32;
            for kk in 0..k {
                acc = acc.wrapping_add(a[i * k + kk] as i32 * b[kk * n + j] as i32);
            }
            c[i * n + j] = acc;
        }
    }
    c
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx2_fma() -> bool {
    false
}

/// Packs `B[pc..pc+kc][jc..jc+nc]` into strips of `W` columns (zero padded), each strip
/// `kc × W` contiguous.
fn pack_b_f32<const W: usize>(
    b: &[f32],
    n: usize,
    pc: usize,
    kc: usize,
    jc: usize,
    nc: usize,
    out: &mut [f32],
) {
    out[..nc.div_ceil(W) * kc * W]
        .par_chunks_mut(kc * W)
        .enumerate()
        .for_each(|(s, dst)| {
            let j0 = jc + s * W;
            let cols = W.min(jc + nc - j0);
            for kk in 0..kc {
                let row = &b[(pc + kk) * n + j0..(pc + kk) * n + j0 + cols];
                let d = &mut dst[kk * W..kk * W + W];
                d[..cols].copy_from_slice(row);
                d[cols..].fill(0.0);
            }
        });
}

/// A micro-kernel: `acc[r][c] = fma(a_r[kk], bp[kk][c], acc[r][c])`, kk ascending.
type MicroF32<const W: usize> = unsafe fn(&mut [[f32; W]; MR], &[&[f32]; MR], &[f32], usize);

/// Portable micro-kernel.
///
/// # Safety
/// None needed (safe code); `unsafe` only to share [`MicroF32`]'s type.
unsafe fn micro_f32_portable<const W: usize>(
    acc: &mut [[f32; W]; MR],
    a_rows: &[&[f32]; MR],
    bp: &[f32],
    kc: usize,
) {
    for kk in 0..kc {
        let bk = &bp[kk * W..kk * W + W];
        for r in 0..MR {
            let av = a_rows[r][kk];
            for c in 0..W {
                acc[r][c] = av.mul_add(bk[c], acc[r][c]);
            }
        }
    }
}

/// AVX2+FMA micro-kernel (6×16, 12 accumulators). `_mm256_fmadd_ps` is a fused multiply-add
/// with one rounding, identical to `f32::mul_add`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn micro_f32_avx2(acc: &mut [[f32; 16]; MR], a_rows: &[&[f32]; MR], bp: &[f32], kc: usize) {
    use std::arch::x86_64::*;
    debug_assert!(bp.len() >= kc * 16);
    for r in a_rows.iter() {
        debug_assert!(r.len() >= kc);
    }
    let p0 = a_rows[0].as_ptr();
    let p1 = a_rows[1].as_ptr();
    let p2 = a_rows[2].as_ptr();
    let p3 = a_rows[3].as_ptr();
    let p4 = a_rows[4].as_ptr();
    let p5 = a_rows[5].as_ptr();
    let mut c00 = _mm256_loadu_ps(acc[0].as_ptr());
    let mut c01 = _mm256_loadu_ps(acc[0].as_ptr().add(8));
    let mut c10 = _mm256_loadu_ps(acc[1].as_ptr());
    let mut c11 = _mm256_loadu_ps(acc[1].as_ptr().add(8));
    let mut c20 = _mm256_loadu_ps(acc[2].as_ptr());
    let mut c21 = _mm256_loadu_ps(acc[2].as_ptr().add(8));
    let mut c30 = _mm256_loadu_ps(acc[3].as_ptr());
    let mut c31 = _mm256_loadu_ps(acc[3].as_ptr().add(8));
    let mut c40 = _mm256_loadu_ps(acc[4].as_ptr());
    let mut c41 = _mm256_loadu_ps(acc[4].as_ptr().add(8));
    let mut c50 = _mm256_loadu_ps(acc[5].as_ptr());
    let mut c51 = _mm256_loadu_ps(acc[5].as_ptr().add(8));
    let mut pb = bp.as_ptr();
    for kk in 0..kc {
        let b0 = _mm256_loadu_ps(pb);
        let b1 = _mm256_loadu_ps(pb.add(8));
        pb = pb.add(16);
        let a0 = _mm256_set1_ps(*p0.add(kk));
        c00 = _mm256_fmadd_ps(a0, b0, c00);
        c01 = _mm256_fmadd_ps(a0, b1, c01);
        let a1 = _mm256_set1_ps(*p1.add(kk));
        c10 = _mm256_fmadd_ps(a1, b0, c10);
        c11 = _mm256_fmadd_ps(a1, b1, c11);
        let a2 = _mm256_set1_ps(*p2.add(kk));
        c20 = _mm256_fmadd_ps(a2, b0, c20);
        c21 = _mm256_fmadd_ps(a2, b1, c21);
        let a3 = _mm256_set1_ps(*p3.add(kk));
        c30 = _mm256_fmadd_ps(a3, b0, c30);
        c31 = _mm256_fmadd_ps(a3, b1, c31);
        let a4 = _mm256_set1_ps(*p4.add(kk));
        c40 = _mm256_fmadd_ps(a4, b0, c40);
        c41 = _mm256_fmadd_ps(a4, b1, c41);
        let a5 = _mm256_set1_ps(*p5.add(kk));
        c50 = _mm256_fmadd_ps(a5, b0, c50);
        c51 = _mm256_fmadd_ps(a5, b1, c51);
    }
    _mm256_storeu_ps(acc[0].as_mut_ptr(), c00);
    _mm256_storeu_ps(acc[0].as_mut_ptr().add(8), c01);
    _mm256_storeu_ps(acc[1].as_mut_ptr(), c10);
    _mm256_storeu_ps(acc[1].as_mut_ptr().add(8), c11);
    _mm256_storeu_ps(acc[2].as_mut_ptr(), c20);
    _mm256_storeu_ps(acc[2].as_mut_ptr().add(8), c21);
    _mm256_storeu_ps(acc[3].as_mut_ptr(), c30);
    _mm256_storeu_ps(acc[3].as_mut_ptr().add(8), c31);
    _mm256_storeu_ps(acc[4].as_mut_ptr(), c40);
    _mm256_storeu_ps(acc[4].as_mut_ptr().add(8), c41);
    _mm256_storeu_ps(acc[5].as_mut_ptr(), c50);
    _mm256_storeu_ps(acc[5].as_mut_ptr().add(8), c51);
}

/// AVX-512 micro-kernel (6×32, 12 accumulators of 16 lanes). `_mm512_fmadd_ps` is a fused
/// multiply-add with one rounding (no flush to zero: MXCSR is left as Rust sets it), identical
/// to `f32::mul_add`.
///
/// # Safety
/// The CPU has AVX-512F; `bp` holds `kc × 32` values and every row of `a_rows` `kc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn micro_f32_avx512(
    acc: &mut [[f32; 32]; MR],
    a_rows: &[&[f32]; MR],
    bp: &[f32],
    kc: usize,
) {
    use std::arch::x86_64::*;
    debug_assert!(bp.len() >= kc * 32);
    let p: [*const f32; MR] = std::array::from_fn(|r| a_rows[r].as_ptr());
    let mut c0: [__m512; MR] = std::array::from_fn(|r| _mm512_loadu_ps(acc[r].as_ptr()));
    let mut c1: [__m512; MR] = std::array::from_fn(|r| _mm512_loadu_ps(acc[r].as_ptr().add(16)));
    let mut pb = bp.as_ptr();
    for kk in 0..kc {
        let b0 = _mm512_loadu_ps(pb);
        let b1 = _mm512_loadu_ps(pb.add(16));
        pb = pb.add(32);
        for r in 0..MR {
            let a = _mm512_set1_ps(*p[r].add(kk));
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
    }
    for r in 0..MR {
        _mm512_storeu_ps(acc[r].as_mut_ptr(), c0[r]);
        _mm512_storeu_ps(acc[r].as_mut_ptr().add(16), c1[r]);
    }
}

/// Rows of A a task takes at most (its `kc` columns stay in L2 while every strip of the
/// packed B panel passes through L1 once).
const MC_MAX: usize = 96;

/// Rows per task for `m` rows: about two tasks per thread, a multiple of [`MR`].
fn mc_for(m: usize) -> usize {
    let tasks = 2 * rayon::current_num_threads().max(1);
    (m.div_ceil(tasks).div_ceil(MR) * MR).clamp(MR, MC_MAX)
}

/// Blocked, parallel f32 GEMM (bit-identical to [`gemm_f32_naive`]) with the widest
/// micro-kernel the CPU runs: AVX-512 (strips of 32 columns), AVX2 + FMA (16), or portable.
pub fn gemm_f32(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return gemm_f32_with::<32>(m, n, k, a, b, micro_f32_avx512);
        }
        if has_avx2_fma() {
            return gemm_f32_with::<16>(m, n, k, a, b, micro_f32_avx2);
        }
    }
    gemm_f32_with::<16>(m, n, k, a, b, micro_f32_portable::<16>)
}

/// [`gemm_f32`] on the portable micro-kernel of width `W` (tests: every kernel gives the
/// naive reference's bits).
pub fn gemm_f32_portable<const W: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
) -> Vec<f32> {
    gemm_f32_with::<W>(m, n, k, a, b, micro_f32_portable::<W>)
}

/// The blocked GEMM on `micro`: B packed per `kc × NC` panel (`kc` = 256 · 16 / `W`) (strips of `W` columns),
/// then tasks of up to [`MC_MAX`] rows each run every strip over all their `MR`-row blocks,
/// so a strip is loaded once per task and reused from L1. Each element's chain still runs k
/// ascending from +0.0: the k blocks are taken in order and the accumulators stored and
/// reloaded between them.
fn gemm_f32_with<const W: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    micro: MicroF32<W>,
) -> Vec<f32> {
    assert_eq!(a.len(), m * k);
    assert_eq!(b.len(), k * n);
    let mut c = vec![0.0f32; m * n];
    if m == 0 || n == 0 || k == 0 {
        return c;
    }
    let mc = mc_for(m);
    // a strip of kc × W values fits L1 with the A rows it meets: 16 KiB
    let kc_max = KC_F32 * 16 / W;
    let mut packed = vec![0.0f32; kc_max * NC.min(n.div_ceil(W) * W)];
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - pc);
            pack_b_f32::<W>(b, n, pc, kc, jc, nc, &mut packed);
            let packed = &packed[..];
            c.par_chunks_mut(mc * n).enumerate().for_each(|(ti, ct)| {
                let t0 = ti * mc;
                let task_rows = ct.len() / n;
                for s in 0..nc.div_ceil(W) {
                    let j0 = jc + s * W;
                    let cols = W.min(jc + nc - j0);
                    let bp = &packed[s * kc * W..(s + 1) * kc * W];
                    for r0 in (0..task_rows).step_by(MR) {
                        let rows = MR.min(task_rows - r0);
                        let cb = &mut ct[r0 * n..(r0 + rows) * n];
                        // Rows past the end reuse the last valid row; their results are
                        // discarded.
                        let a_rows: [&[f32]; MR] = std::array::from_fn(|r| {
                            let i = t0 + r0 + r.min(rows - 1);
                            &a[i * k + pc..i * k + pc + kc]
                        });
                        let mut acc = [[0.0f32; W]; MR];
                        for r in 0..rows {
                            acc[r][..cols].copy_from_slice(&cb[r * n + j0..r * n + j0 + cols]);
                        }
                        // SAFETY: `micro` is the kernel `gemm_f32` chose for this CPU's
                        // features; the strip holds kc × W values and each A row kc.
                        unsafe { micro(&mut acc, &a_rows, bp, kc) };
                        for r in 0..rows {
                            cb[r * n + j0..r * n + j0 + cols].copy_from_slice(&acc[r][..cols]);
                        }
                    }
                }
            });
        }
    }
    c
}

/// Packs B for the int8 kernel: per strip of `NR` columns, per k pair, `NR` interleaved i16
/// pairs `(b[k][j], b[k+1][j])` (zero padded in k and j).
fn pack_b_i8(b: &[i8], n: usize, pc: usize, kc: usize, jc: usize, nc: usize, out: &mut [i16]) {
    let pairs = kc.div_ceil(2);
    let strips = nc.div_ceil(NR);
    for s in 0..strips {
        let j0 = jc + s * NR;
        let cols = NR.min(jc + nc - j0);
        let dst = &mut out[s * pairs * 2 * NR..(s + 1) * pairs * 2 * NR];
        for p in 0..pairs {
            let d = &mut dst[p * 2 * NR..(p + 1) * 2 * NR];
            d.fill(0);
            let k0 = pc + 2 * p;
            for c in 0..cols {
                d[2 * c] = b[k0 * n + j0 + c] as i16;
                if 2 * p + 1 < kc {
                    d[2 * c + 1] = b[(k0 + 1) * n + j0 + c] as i16;
                }
            }
        }
    }
}

fn micro_i8_portable(acc: &mut [[i32; NR]; MR], a_rows: &[&[i8]; MR], bp: &[i16], kc: usize) {
    let pairs = kc.div_ceil(2);
    for p in 0..pairs {
        let bk = &bp[p * 2 * NR..(p + 1) * 2 * NR];
        for r in 0..MR {
            let a0 = a_rows[r][2 * p] as i32;
            let a1 = if 2 * p + 1 < kc {
                a_rows[r][2 * p + 1] as i32
            } else {
                0
            };
            for c in 0..NR {
                let v = a0 * bk[2 * c] as i32 + a1 * bk[2 * c + 1] as i32;
                acc[r][c] = acc[r][c].wrapping_add(v);
            }
        }
    }
}

/// AVX2 int8 micro-kernel: `vpmaddwd` of (a[k], a[k+1]) pairs with packed B pairs, wrapping
/// 32-bit adds (exact modulo 2^32, like every other int8 path).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn micro_i8_avx2(acc: &mut [[i32; NR]; MR], a_rows: &[&[i8]; MR], bp: &[i16], kc: usize) {
    use std::arch::x86_64::*;
    let pairs = kc.div_ceil(2);
    debug_assert!(bp.len() >= pairs * 2 * NR);
    let mut c: [[__m256i; 2]; MR] = [[_mm256_setzero_si256(); 2]; MR];
    for r in 0..MR {
        c[r][0] = _mm256_loadu_si256(acc[r].as_ptr() as *const __m256i);
        c[r][1] = _mm256_loadu_si256(acc[r].as_ptr().add(8) as *const __m256i);
    }
    let full = kc / 2;
    let mut pb = bp.as_ptr();
    for p in 0..pairs {
        let b0 = _mm256_loadu_si256(pb as *const __m256i);
        let b1 = _mm256_loadu_si256(pb.add(16) as *const __m256i);
        pb = pb.add(2 * NR);
        for r in 0..MR {
            let row = a_rows[r];
            let lo = *row.get_unchecked(2 * p) as i16 as u16 as u32;
            let hi = if p < full {
                *row.get_unchecked(2 * p + 1) as i16 as u16 as u32
            } else {
                0
            };
            let av = _mm256_set1_epi32((lo | (hi << 16)) as i32);
            c[r][0] = _mm256_add_epi32(c[r][0], _mm256_madd_epi16(av, b0));
            c[r][1] = _mm256_add_epi32(c[r][1], _mm256_madd_epi16(av, b1));
        }
    }
    for r in 0..MR {
        _mm256_storeu_si256(acc[r].as_mut_ptr() as *mut __m256i, c[r][0]);
        _mm256_storeu_si256(acc[r].as_mut_ptr().add(8) as *mut __m256i, c[r][1]);
    }
}

/// Blocked, parallel int8 GEMM (identical to [`gemm_i8_naive`]).
pub fn gemm_i8(m: usize, n: usize, k: usize, a: &[i8], b: &[i8]) -> Vec<i32> {
    assert_eq!(a.len(), m * k);
    assert_eq!(b.len(), k * n);
    let mut c = vec![0i32; m * n];
    if m == 0 || n == 0 || k == 0 {
        return c;
    }
    #[cfg(target_arch = "x86_64")]
    let simd = std::is_x86_feature_detected!("avx2");
    let mut packed = vec![0i16; KC_I8 * NC.min(n.div_ceil(NR) * NR)];
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC_I8) {
            let kc = KC_I8.min(k - pc);
            pack_b_i8(b, n, pc, kc, jc, nc, &mut packed);
            let packed = &packed[..];
            let strip_len = kc.div_ceil(2) * 2 * NR;
            c.par_chunks_mut(MR * n).enumerate().for_each(|(bi, cb)| {
                let i0 = bi * MR;
                let rows = cb.len() / n;
                let a_rows: [&[i8]; MR] = std::array::from_fn(|r| {
                    let i = i0 + r.min(rows - 1);
                    &a[i * k + pc..i * k + pc + kc]
                });
                for s in 0..nc.div_ceil(NR) {
                    let j0 = jc + s * NR;
                    let cols = NR.min(jc + nc - j0);
                    let mut acc = [[0i32; NR]; MR];
                    for r in 0..rows {
                        acc[r][..cols].copy_from_slice(&cb[r * n + j0..r * n + j0 + cols]);
                    }
                    let bp = &packed[s * strip_len..(s + 1) * strip_len];
                    #[cfg(target_arch = "x86_64")]
                    {
                        if simd {
                            // SAFETY: AVX2 detected at run time; each A row has kc elements
                            // and reads stop at index kc-1; the strip holds all pairs.
                            unsafe { micro_i8_avx2(&mut acc, &a_rows, bp, kc) };
                        } else {
                            micro_i8_portable(&mut acc, &a_rows, bp, kc);
                        }
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    micro_i8_portable(&mut acc, &a_rows, bp, kc);
                    for r in 0..rows {
                        cb[r * n + j0..r * n + j0 + cols].copy_from_slice(&acc[r][..cols]);
                    }
                }
            });
        }
    }
    c
}
