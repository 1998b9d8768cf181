//! A training run's loss curve as a PNG: the loss of every step as a line, link boundaries as
//! light vertical lines, the axes labelled with the steps and the loss range in a small
//! built-in pixel font (no font file needed).
use std::path::Path;

use anyhow::{Context, Result};

const W: u32 = 720;
const H: u32 = 400;
const LEFT: i64 = 70;
const RIGHT: i64 = 20;
const TOP: i64 = 30;
const BOTTOM: i64 = 50;

/// 3×5 glyphs, one row of 3 bits per line, top first.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        'e' => [7, 5, 7, 4, 7],
        'l' => [4, 4, 4, 4, 7],
        'o' => [0, 7, 5, 5, 7],
        's' => [7, 4, 7, 1, 7],
        't' => [4, 7, 4, 4, 7],
        'p' => [7, 5, 7, 4, 4],
        ' ' => [0, 0, 0, 0, 0],
        _ => return None,
    })
}

struct Canvas(image::RgbImage);

impl Canvas {
    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as u32) < W && (y as u32) < H {
            self.0.put_pixel(x as u32, y as u32, image::Rgb(c));
        }
    }

    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3], thick: i64) {
        let n = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for i in 0..=n {
            let x = x0 + (x1 - x0) * i / n;
            let y = y0 + (y1 - y0) * i / n;
            for dx in 0..thick {
                for dy in 0..thick {
                    self.put(x + dx, y + dy, c);
                }
            }
        }
    }

    /// Text at (x, y), each font pixel drawn as a `scale`-wide square.
    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64) {
        for (i, ch) in s.chars().enumerate() {
            let Some(g) = glyph(ch) else { continue };
            for (row, bits) in g.iter().enumerate() {
                for col in 0..3 {
                    if bits & (4 >> col) != 0 {
                        for dx in 0..scale {
                            for dy in 0..scale {
                                self.put(
                                    x + (i as i64 * 4 + col) * scale + dx,
                                    y + row as i64 * scale + dy,
                                    [40, 40, 40],
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Writes the curve of `losses` (step 1 first) with vertical lines after the steps in
/// `link_ends`.
pub fn write_png(path: &Path, losses: &[f32], link_ends: &[usize]) -> Result<()> {
    let mut c = Canvas(image::RgbImage::from_pixel(
        W,
        H,
        image::Rgb([255, 255, 255]),
    ));
    let finite: Vec<f32> = losses.iter().copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = finite
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo < hi {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let (pw, ph) = (W as i64 - LEFT - RIGHT, H as i64 - TOP - BOTTOM);
    let n = losses.len().max(2);
    let px = |i: usize| LEFT + (i as i64 * pw) / (n as i64 - 1);
    let py = |v: f32| TOP + ((hi - v) / (hi - lo) * ph as f32).round() as i64;
    for &e in link_ends {
        if e > 0 && e < losses.len() {
            let x = (px(e - 1) + px(e)) / 2;
            c.line((x, TOP), (x, TOP + ph), [200, 210, 230], 1);
        }
    }
    c.line((LEFT, TOP), (LEFT, TOP + ph), [90, 90, 90], 2);
    c.line((LEFT, TOP + ph), (LEFT + pw, TOP + ph), [90, 90, 90], 2);
    let pts: Vec<(i64, i64)> = losses
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, &v)| (px(i), py(v)))
        .collect();
    for w in pts.windows(2) {
        c.line(w[0], w[1], [30, 90, 200], 2);
    }
    if pts.len() == 1 {
        c.line(pts[0], pts[0], [30, 90, 200], 4);
    }
    c.text(8, TOP - 5, &format!("{hi:.3}"), 2);
    c.text(8, TOP + ph - 5, &format!("{lo:.3}"), 2);
    c.text(LEFT - 4, TOP + ph + 10, "1", 2);
    let last = losses.len().to_string();
    c.text(LEFT + pw - last.len() as i64 * 8, TOP + ph + 10, &last, 2);
    c.text(LEFT + pw / 2 - 16, TOP + ph + 28, "step", 2);
    c.text(8, TOP + ph / 2, "loss", 2);
    c.0.save(path)
        .with_context(|| format!("writing {}", path.display()))
}
