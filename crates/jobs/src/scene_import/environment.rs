//! The world around a rendered scene (`--environment`): what Blender calls the world — a
//! constant colour, or an equirectangular HDR image (Radiance `.hdr`, the format HDRI sites
//! and Blender write). glTF carries no environment, so a scene exported from Blender and lit by
//! its world needs it given again. It becomes render spec 3's environment map, which escaping
//! rays see and the tracer samples as a light (`tessera_compute::render::environment`).
use std::io::BufReader;
use std::path::{Path, PathBuf};

use tessera_compute::render::mesh::{EnvMap, MAX_ENV_TEXELS};

use super::ImportError;

/// An `--environment` argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Environment {
    /// Linear RGB radiance (`r,g,b`, or one value for grey).
    Color([f32; 3]),
    /// An equirectangular Radiance HDR file.
    Hdr(PathBuf),
}

impl Environment {
    /// `"0.05,0.08,0.12"`, `"1"` (grey) or a path to a `.hdr` file.
    pub fn parse(s: &str) -> Result<Environment, ImportError> {
        let bad = |why: &str| ImportError::Malformed(format!("--environment {s}: {why}"));
        let looks_numeric = s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | ' ' | 'e' | 'E' | '-' | '+'));
        if looks_numeric && !s.trim().is_empty() {
            let v: Vec<f32> = s
                .split(',')
                .map(|p| p.trim().parse::<f32>())
                .collect::<Result<_, _>>()
                .map_err(|e| bad(&format!("not a colour ({e})")))?;
            let rgb = match v[..] {
                [g] => [g; 3],
                [r, g, b] => [r, g, b],
                _ => return Err(bad("a colour is r,g,b or one grey value")),
            };
            if !rgb.iter().all(|c| c.is_finite() && *c >= 0.0) {
                return Err(bad("colour values must be finite and ≥ 0"));
            }
            return Ok(Environment::Color(rgb));
        }
        let p = PathBuf::from(s);
        let hdr = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("hdr"));
        if !hdr {
            return Err(bad("expected r,g,b or an equirectangular .hdr file"));
        }
        Ok(Environment::Hdr(p))
    }

    /// The map the render job carries.
    pub fn load(&self) -> Result<EnvMap, ImportError> {
        match self {
            Environment::Color(c) => Ok(EnvMap::constant(*c)),
            Environment::Hdr(p) => load_hdr(p),
        }
    }
}

/// Reads a Radiance HDR (RGBE) file into linear RGB, rows top to bottom.
pub fn load_hdr(path: &Path) -> Result<EnvMap, ImportError> {
    let what = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dec = image::codecs::hdr::HdrDecoder::new(BufReader::new(file))
        .map_err(|e| ImportError::Malformed(format!("{what}: not a Radiance HDR image ({e})")))?;
    let meta = dec.metadata();
    let (w, h) = (meta.width, meta.height);
    if w == 0 || h == 0 {
        return Err(ImportError::Malformed(format!("{what}: image is {w}×{h}")));
    }
    if w as u64 * h as u64 > MAX_ENV_TEXELS {
        return Err(ImportError::TooLarge(format!(
            "{what}: environment is {w}×{h} (at most {MAX_ENV_TEXELS} texels)"
        )));
    }
    let img = image::DynamicImage::from_decoder(dec)
        .map_err(|e| ImportError::Malformed(format!("{what}: {e}")))?;
    let rgb = img.to_rgb32f().into_raw();
    if let Some(i) = rgb.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(ImportError::NonFinite(format!(
            "{what}: texel {} has {}",
            i / 3,
            rgb[i]
        )));
    }
    Ok(EnvMap {
        width: w,
        height: h,
        rgb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_into_colours_or_hdr_files() {
        assert_eq!(
            Environment::parse("0.05, 0.08,0.12").unwrap(),
            Environment::Color([0.05, 0.08, 0.12])
        );
        assert_eq!(
            Environment::parse("1").unwrap(),
            Environment::Color([1.0; 3])
        );
        assert_eq!(
            Environment::parse("studio.HDR").unwrap(),
            Environment::Hdr("studio.HDR".into())
        );
        for bad in ["1,2", "-1,0,0", "sky.png", "", "nan"] {
            assert!(
                matches!(Environment::parse(bad), Err(ImportError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    /// Writes a Radiance HDR with `image`'s encoder and reads it back.
    #[test]
    fn hdr_files_load_as_linear_rows_top_to_bottom() {
        let dir = std::env::temp_dir().join(format!("tessera-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("sky.hdr");
        let (w, h) = (4u32, 2u32);
        let px: Vec<image::Rgb<f32>> = (0..w * h)
            .map(|i| {
                if i < w {
                    image::Rgb([2.0, 1.0, 0.5])
                } else {
                    image::Rgb([0.25, 0.25, 0.25])
                }
            })
            .collect();
        image::codecs::hdr::HdrEncoder::new(std::fs::File::create(&p).unwrap())
            .encode(&px, w as usize, h as usize)
            .unwrap();
        let m = Environment::parse(p.to_str().unwrap())
            .unwrap()
            .load()
            .unwrap();
        assert_eq!((m.width, m.height), (4, 2));
        assert_eq!(&m.rgb[..3], &[2.0, 1.0, 0.5]);
        assert_eq!(&m.rgb[12..15], &[0.25, 0.25, 0.25]);
        // not an HDR: a named error, and a missing file names its path
        std::fs::write(dir.join("junk.hdr"), b"#?RADIANCE\nnothing").unwrap();
        assert!(matches!(
            load_hdr(&dir.join("junk.hdr")),
            Err(ImportError::Malformed(_))
        ));
        assert!(matches!(
            load_hdr(&dir.join("none.hdr")),
            Err(ImportError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
