//! The decoder model blob (`TSLM`): a Hugging Face model directory's files in one
//! content-addressed object. Little-endian:
//!
//! ```text
//! "TSLM"  u16 format (1)  u16 flags
//! u32 n, config.json (n bytes)
//! [u32 n, tokenizer.json]            flag 1
//! [u32 n, tokenizer_config.json]     flag 2 (the chat template)
//! [u32 n, generation_config.json]    flag 4
//! model.safetensors (the rest)
//! ```
use crate::error::{ComputeError, Result};
use crate::format::Reader;

/// Magic of a decoder blob.
pub const DECODER_MAGIC: [u8; 4] = *b"TSLM";
/// Format version.
pub const DECODER_FORMAT: u16 = 1;
const MAX_JSON_BYTES: usize = 32 << 20;

/// The optional files, in blob order, with their flag bits.
const OPTIONAL: [(&str, u16); 3] = [
    ("tokenizer.json", 1),
    ("tokenizer_config.json", 2),
    ("generation_config.json", 4),
];

/// The sections of a decoder blob.
#[derive(Debug, Clone, Copy)]
pub struct DecoderFiles<'a> {
    /// `config.json`.
    pub config: &'a [u8],
    /// `tokenizer.json`.
    pub tokenizer: Option<&'a [u8]>,
    /// `tokenizer_config.json`.
    pub tokenizer_config: Option<&'a [u8]>,
    /// `generation_config.json`.
    pub generation_config: Option<&'a [u8]>,
    /// `model.safetensors`.
    pub weights: &'a [u8],
}

impl<'a> DecoderFiles<'a> {
    fn optional(&self) -> [Option<&'a [u8]>; 3] {
        [
            self.tokenizer,
            self.tokenizer_config,
            self.generation_config,
        ]
    }

    /// The blob (not checked: [`super::DecoderModel::parse`] checks it).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut flags = 0u16;
        let mut n = 16 + self.config.len() + self.weights.len();
        for ((name, bit), f) in OPTIONAL.iter().zip(self.optional()) {
            if let Some(f) = f {
                flags |= bit;
                n += 4 + f.len();
                if f.len() > MAX_JSON_BYTES {
                    return Err(ComputeError::TooLarge(format!(
                        "{name} is {} bytes, at most {MAX_JSON_BYTES}",
                        f.len()
                    )));
                }
            }
        }
        if self.config.len() > MAX_JSON_BYTES {
            return Err(ComputeError::TooLarge(format!(
                "config.json is {} bytes, at most {MAX_JSON_BYTES}",
                self.config.len()
            )));
        }
        let mut out = Vec::with_capacity(n);
        out.extend_from_slice(&DECODER_MAGIC);
        out.extend_from_slice(&DECODER_FORMAT.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        for f in std::iter::once(Some(self.config))
            .chain(self.optional())
            .flatten()
        {
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(f);
        }
        out.extend_from_slice(self.weights);
        Ok(out)
    }

    /// Splits a blob into its files.
    pub fn split(blob: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(blob);
        let magic = r.array::<4>("decoder magic")?;
        if magic != DECODER_MAGIC {
            return Err(ComputeError::BadMagic {
                found: magic,
                expected: "TSLM",
            });
        }
        let version = r.u16("decoder format")?;
        if version != DECODER_FORMAT {
            return Err(ComputeError::InvalidInput(format!(
                "decoder blob format {version}, this build reads {DECODER_FORMAT}"
            )));
        }
        let flags = r.u16("decoder flags")?;
        if flags & !7 != 0 {
            return Err(ComputeError::InvalidInput(format!(
                "decoder blob flags {flags:#06x}: unknown bits set"
            )));
        }
        let mut section = |what: &'static str| -> Result<&'a [u8]> {
            let n = r.u32(what)? as usize;
            if n > MAX_JSON_BYTES {
                return Err(ComputeError::TooLarge(format!(
                    "{what} is {n} bytes, at most {MAX_JSON_BYTES}"
                )));
            }
            r.bytes(n as u64, what)
        };
        let config = section("config.json")?;
        let mut opt = [None; 3];
        for (slot, (name, bit)) in opt.iter_mut().zip(OPTIONAL) {
            if flags & bit != 0 {
                *slot = Some(section(name)?);
            }
        }
        let weights = r.bytes(r.remaining() as u64, "model.safetensors")?;
        Ok(Self {
            config,
            tokenizer: opt[0],
            tokenizer_config: opt[1],
            generation_config: opt[2],
            weights,
        })
    }
}
