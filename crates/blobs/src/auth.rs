//! Upload authorisation for the built-in blob server: an ed25519 signature by a Solana key over
//! the blob's hash, its size and an expiry time.
//!
//! The signed message is fixed and domain-separated, so a signature made for an upload can never
//! be replayed as a transaction or any other Tessera message:
//!
//! ```text
//! tessera-blob-upload-v1:<hash, 64 lower-case hex digits>:<size in bytes>:<expiry, unix seconds>
//! ```
//!
//! It travels in three headers ([`SIGNER_HEADER`], [`EXPIRY_HEADER`], [`SIGNATURE_HEADER`]; keys
//! and signature in base58, as Solana prints them). The size is the request's `Content-Length`.
//! The server then decides whether the signer may upload at all (see [`super::allow`]).
use std::str::FromStr;

use solana_sdk::{pubkey::Pubkey, signature::Keypair, signature::Signature, signer::Signer};

use super::refusal::Refusal;
use crate::id::hex;

// The signed message and its headers are the SDK's (a browser wallet signs the same message).
pub use tessera_sdk::blob_auth::{
    message, DEFAULT_VALIDITY_SECS, EXPIRY_HEADER, SIGNATURE_HEADER, SIGNER_HEADER,
};

/// A signed permission to upload one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadAuth {
    pub signer: Pubkey,
    pub expiry: u64,
    pub signature: Signature,
}

impl UploadAuth {
    /// Signs the upload of the blob `hash` of `size` bytes, valid until `expiry` (unix seconds).
    pub fn sign(keypair: &Keypair, hash: &[u8; 32], size: u64, expiry: u64) -> UploadAuth {
        UploadAuth {
            signer: keypair.pubkey(),
            expiry,
            signature: keypair.sign_message(message(hash, size, expiry).as_bytes()),
        }
    }

    /// [`UploadAuth::sign`] valid for [`DEFAULT_VALIDITY_SECS`] from now.
    pub fn sign_now(keypair: &Keypair, hash: &[u8; 32], size: u64) -> UploadAuth {
        Self::sign(keypair, hash, size, unix_now() + DEFAULT_VALIDITY_SECS)
    }

    /// The three headers, as (name, value).
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            (SIGNER_HEADER, self.signer.to_string()),
            (EXPIRY_HEADER, self.expiry.to_string()),
            (SIGNATURE_HEADER, self.signature.to_string()),
        ]
    }

    /// Reads the headers of a request. `Ok(None)` when none of the three is there.
    pub fn from_headers(h: &reqwest::header::HeaderMap) -> Result<Option<UploadAuth>, Refusal> {
        let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}").trim());
        let (signer, expiry, signature) =
            match (get(SIGNER_HEADER), get(EXPIRY_HEADER), get(SIGNATURE_HEADER)) {
                (None, None, None) => return Ok(None),
                (Some(a), Some(b), Some(c)) => (a, b, c),
                _ => {
                    return Err(Refusal::MissingSignature(format!(
                        "an upload needs all three of {SIGNER_HEADER}, {EXPIRY_HEADER} and {SIGNATURE_HEADER}"
                    )))
                }
            };
        let malformed =
            |what: &str, v: &str| Refusal::ForgedSignature(format!("{what} `{v}` is malformed"));
        Ok(Some(UploadAuth {
            signer: Pubkey::from_str(signer).map_err(|_| malformed(SIGNER_HEADER, signer))?,
            expiry: expiry
                .parse()
                .map_err(|_| malformed(EXPIRY_HEADER, expiry))?,
            signature: Signature::from_str(signature)
                .map_err(|_| malformed(SIGNATURE_HEADER, signature))?,
        }))
    }

    /// Checks the signature over (`hash`, `size`, expiry) and that the expiry lies after `now`
    /// and at most `max_ahead_secs` after it. Whether the signer may upload is checked apart.
    pub fn verify(
        &self,
        hash: &[u8; 32],
        size: u64,
        now: u64,
        max_ahead_secs: u64,
    ) -> Result<(), Refusal> {
        if !self.signature.verify(
            self.signer.as_ref(),
            message(hash, size, self.expiry).as_bytes(),
        ) {
            return Err(Refusal::ForgedSignature(format!(
                "the signature is not {}'s over tessera-blob-upload-v1:{}:{size}:{}",
                self.signer,
                hex(hash),
                self.expiry
            )));
        }
        if self.expiry <= now {
            return Err(Refusal::Expired(format!(
                "the upload signature expired {} s ago (expiry {}, server time {now})",
                now - self.expiry,
                self.expiry
            )));
        }
        if self.expiry - now > max_ahead_secs {
            return Err(Refusal::Expired(format!(
                "the upload signature's expiry is {} s ahead; at most {max_ahead_secs} s is accepted (is a clock wrong?)",
                self.expiry - now
            )));
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::hash;

    #[test]
    fn signature_binds_hash_size_and_expiry() {
        let kp = Keypair::new();
        let h = hash(b"blob");
        let a = UploadAuth::sign(&kp, &h, 4, 1_000);
        a.verify(&h, 4, 900, 3600).unwrap();
        assert!(matches!(
            a.verify(&h, 5, 900, 3600),
            Err(Refusal::ForgedSignature(_))
        ));
        assert!(matches!(
            a.verify(&hash(b"other"), 4, 900, 3600),
            Err(Refusal::ForgedSignature(_))
        ));
        let mut later = a.clone();
        later.expiry = 2_000;
        assert!(matches!(
            later.verify(&h, 4, 900, 3600),
            Err(Refusal::ForgedSignature(_))
        ));
        assert!(matches!(
            a.verify(&h, 4, 1_000, 3600),
            Err(Refusal::Expired(_))
        ));
        let err = a.verify(&h, 4, 100, 600).unwrap_err();
        assert!(
            matches!(err, Refusal::Expired(ref m) if m.contains("ahead")),
            "{err}"
        );
    }

    #[test]
    fn headers_round_trip_and_partial_headers_are_refused() {
        let kp = Keypair::new();
        let a = UploadAuth::sign_now(&kp, &hash(b"x"), 1);
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(UploadAuth::from_headers(&h).unwrap(), None);
        for (k, v) in a.headers() {
            h.insert(k, v.parse().unwrap());
        }
        assert_eq!(UploadAuth::from_headers(&h).unwrap(), Some(a));
        h.remove(SIGNATURE_HEADER);
        assert!(matches!(
            UploadAuth::from_headers(&h),
            Err(Refusal::MissingSignature(_))
        ));
        h.insert(SIGNATURE_HEADER, "not-base58!".parse().unwrap());
        assert!(matches!(
            UploadAuth::from_headers(&h),
            Err(Refusal::ForgedSignature(_))
        ));
    }
}
