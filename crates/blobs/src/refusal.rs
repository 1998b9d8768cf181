//! Why the blob server refuses a request: one named error per cause, each with its HTTP status
//! and a stable code. The response body is `<code>: <message>`; the client turns it back into
//! an [`UploadRefused`] (downcast an upload's error to match on it).
// `reqwest::StatusCode` is the `http` crate's, the same type axum uses.
use reqwest::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 401: no upload signature (or only part of its headers).
    #[error("missing_signature: {0}")]
    MissingSignature(String),
    /// 401: the signature does not verify (or its headers are malformed).
    #[error("forged_signature: {0}")]
    ForgedSignature(String),
    /// 401: the signature's expiry has passed, or lies too far ahead.
    #[error("signature_expired: {0}")]
    Expired(String),
    /// 403: a valid signature by a key that may not upload here.
    #[error("signer_not_allowed: {0}")]
    NotAllowed(String),
    /// 413: larger than the server's per-blob cap.
    #[error("too_large: {0}")]
    TooLarge(String),
    /// 400: the body does not hash to the blob's name.
    #[error("hash_mismatch: {0}")]
    HashMismatch(String),
    /// 400: the body is not the signed size, or the request is otherwise malformed.
    #[error("bad_request: {0}")]
    BadRequest(String),
    /// 507: the signer's quota would be exceeded, or the disk is full.
    #[error("quota_exceeded: {0}")]
    Quota(String),
    /// 404: no such blob.
    #[error("not_found: {0}")]
    NotFound(String),
    /// 503: the allow-list could not be checked now (node registry unreachable, lookups
    /// rate-limited); try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: the server failed (I/O).
    #[error("internal: {0}")]
    Internal(String),
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::MissingSignature(_) | Refusal::ForgedSignature(_) | Refusal::Expired(_) => {
                StatusCode::UNAUTHORIZED
            }
            Refusal::NotAllowed(_) => StatusCode::FORBIDDEN,
            Refusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::HashMismatch(_) | Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::Quota(_) => StatusCode::INSUFFICIENT_STORAGE,
            Refusal::NotFound(_) => StatusCode::NOT_FOUND,
            Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code that starts the response body.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::MissingSignature(_) => "missing_signature",
            Refusal::ForgedSignature(_) => "forged_signature",
            Refusal::Expired(_) => "signature_expired",
            Refusal::NotAllowed(_) => "signer_not_allowed",
            Refusal::TooLarge(_) => "too_large",
            Refusal::HashMismatch(_) => "hash_mismatch",
            Refusal::BadRequest(_) => "bad_request",
            Refusal::Quota(_) => "quota_exceeded",
            Refusal::NotFound(_) => "not_found",
            Refusal::Unavailable(_) => "unavailable",
            Refusal::Internal(_) => "internal",
        }
    }
}

#[cfg(feature = "server")]
impl axum::response::IntoResponse for Refusal {
    fn into_response(self) -> axum::response::Response {
        (self.status(), self.to_string()).into_response()
    }
}

/// An upload the blob server refused: its status, the [`Refusal`] code and the message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("blob server at {base} refused the upload ({status}): {code}: {message}")]
pub struct UploadRefused {
    pub base: String,
    pub status: u16,
    /// [`Refusal::code`] (empty when the server sent no code, e.g. an old server or a proxy).
    pub code: String,
    pub message: String,
}

impl UploadRefused {
    /// Parses a refusal body (`<code>: <message>`).
    pub fn from_body(base: &str, status: u16, body: &str) -> UploadRefused {
        let (code, message) = match body.split_once(": ") {
            Some((c, m))
                if !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
            {
                (c.to_string(), m.to_string())
            }
            _ => (String::new(), body.to_string()),
        };
        UploadRefused {
            base: base.to_string(),
            status,
            code,
            message,
        }
    }
}
