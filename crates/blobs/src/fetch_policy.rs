//! What a downloader may fetch, and fetching under those rules.
//!
//! A job's `input_uri` (and a revealed `output_uri`) is chosen by someone else. Fetched naively
//! it can point a worker at `file:///dev/zero`, at a service on the worker's own loopback or
//! private network, or at a server that streams forever or a byte a minute. A [`Fetcher`]
//! downloads under a [`FetchPolicy`]:
//!
//! * **schemes**: `http` and `https` by default; `file://` only below directories the operator
//!   names ([`FetchPolicy::allow_dir`]), and only regular files (never a device or a FIFO);
//! * **hosts**: public addresses only. Loopback, private (RFC 1918, `fc00::/7`), link-local,
//!   carrier-grade NAT, unspecified, multicast and other special ranges are refused, and so is
//!   `localhost`, unless the operator allow-lists the host (and port) explicitly
//!   ([`FetchPolicy::allow_host`], [`FetchPolicy::allow_blob_store`]). Names are checked again
//!   on the addresses they resolve to, at connection time (so DNS cannot point a public name at
//!   a private address), and every redirect is checked like the first URL;
//! * **size**: a hard byte cap, refused up front on a larger `Content-Length` and enforced while
//!   streaming;
//! * **time**: an overall deadline, a read-idle timeout and a connect timeout;
//! * **object stores** (`s3://`, `gs://`, `az://`…): only the stores (bucket and prefix) the
//!   operator names ([`FetchPolicy::allow_store`], [`FetchPolicy::allow_blob_store`]). Their
//!   endpoint and credentials are the operator's own (the environment), never the URI's; the
//!   object's size is read from its metadata and refused over the cap before its body is;
//! * **content**: the body is hashed while it streams and must hash to the expected BLAKE3.
//!
//! A download goes to memory ([`Fetcher::fetch`]) or, streamed, to a file
//! ([`Fetcher::fetch_to_file`]), which is renamed into place only when its hash matches.
//!
//! Every refusal is a [`FetchError`] variant: callers match on the variant, never on text.
use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::Url;
use tokio::io::AsyncReadExt;

use crate::id::MAX_BLOB_BYTES;
use crate::object::{self, StoreError};

#[path = "fetch_sink.rs"]
mod sink;
use sink::{Collect, FileOut, Memory, Sink};

/// Default byte cap: the blob store's own limit.
pub const DEFAULT_MAX_BYTES: u64 = MAX_BLOB_BYTES as u64;
/// Default overall deadline of one download.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default longest wait for the next bytes of a body.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 5;

/// Which deadline ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Connecting to the server.
    Connect(Duration),
    /// No bytes for this long.
    Idle(Duration),
    /// The whole download.
    Total(Duration),
}

impl std::fmt::Display for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Deadline::Connect(d) => write!(f, "could not connect within {d:?}"),
            Deadline::Idle(d) => write!(f, "no data for {d:?}"),
            Deadline::Total(d) => write!(f, "not complete after {d:?}"),
        }
    }
}

/// Why a fetch was refused or failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("`{uri}` is not a valid blob URI: {reason}")]
    BadUri { uri: String, reason: String },
    #[error("{uri}: the `{scheme}` scheme is not allowed here (allowed: {allowed})")]
    SchemeNotAllowed {
        uri: String,
        scheme: String,
        allowed: String,
    },
    #[error("{uri}: host {host} is not allowed: {why} (an operator can allow-list it)")]
    HostNotAllowed {
        uri: String,
        host: String,
        why: String,
    },
    #[error("{uri}: {} is outside the directories files may be read from", .path.display())]
    PathNotAllowed { uri: String, path: PathBuf },
    #[error("{uri}: {} is not a regular file", .path.display())]
    NotAFile { uri: String, path: PathBuf },
    #[error("{uri}: the object store {store} is not allowed here (allowed: {allowed}); an operator can add it to [fetch] allowed_stores")]
    StoreNotAllowed {
        uri: String,
        store: String,
        allowed: String,
    },
    /// An object store failed (unreachable, credentials rejected, no such blob or bucket, a
    /// misconfigured URL).
    #[error(transparent)]
    Store(StoreError),
    #[error("{uri}: the blob is over the {limit} byte limit{}", .declared.map(|n| format!(" ({n} bytes announced)")).unwrap_or_default())]
    TooLarge {
        uri: String,
        limit: u64,
        /// The size the server (or the file system) announced, when it did.
        declared: Option<u64>,
    },
    #[error("{uri}: timed out: {deadline}")]
    Timeout { uri: String, deadline: Deadline },
    #[error("{uri}: more than {} redirects", MAX_REDIRECTS)]
    TooManyRedirects { uri: String },
    #[error("downloading {uri}: the server answered {status}")]
    Status { uri: String, status: u16 },
    #[error("blob from {uri} does not match its hash: expected {expected}, got {got} ({bytes} bytes); the source is corrupt or tampered with")]
    HashMismatch {
        uri: String,
        expected: String,
        got: String,
        bytes: u64,
    },
    #[error("downloading {uri}: {detail}")]
    Transport { uri: String, detail: String },
    #[error("reading {uri}: {detail}")]
    Io {
        uri: String,
        kind: std::io::ErrorKind,
        detail: String,
    },
}

impl From<StoreError> for FetchError {
    fn from(e: StoreError) -> Self {
        FetchError::Store(e)
    }
}

impl FetchError {
    /// A short label (metrics, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::BadUri { .. } => "bad_uri",
            FetchError::SchemeNotAllowed { .. } => "scheme_not_allowed",
            FetchError::HostNotAllowed { .. } => "host_not_allowed",
            FetchError::PathNotAllowed { .. } => "path_not_allowed",
            FetchError::NotAFile { .. } => "not_a_file",
            FetchError::StoreNotAllowed { .. } => "store_not_allowed",
            FetchError::Store(e) => e.kind(),
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Timeout { .. } => "timeout",
            FetchError::TooManyRedirects { .. } => "too_many_redirects",
            FetchError::Status { .. } => "status",
            FetchError::HashMismatch { .. } => "hash_mismatch",
            FetchError::Transport { .. } => "transport",
            FetchError::Io { .. } => "io",
        }
    }

    /// True when trying the same URI again under the same policy gives the same answer (the
    /// policy refuses it, or its content is wrong); false for failures that may pass later
    /// (network trouble, a slow or missing server).
    pub fn is_permanent(&self) -> bool {
        match self {
            FetchError::BadUri { .. }
            | FetchError::SchemeNotAllowed { .. }
            | FetchError::HostNotAllowed { .. }
            | FetchError::PathNotAllowed { .. }
            | FetchError::NotAFile { .. }
            | FetchError::StoreNotAllowed { .. }
            | FetchError::Store(StoreError::BadUrl { .. })
            | FetchError::TooLarge { .. }
            | FetchError::TooManyRedirects { .. }
            | FetchError::HashMismatch { .. } => true,
            FetchError::Store(_) => false,
            FetchError::Timeout { .. }
            | FetchError::Status { .. }
            | FetchError::Transport { .. }
            | FetchError::Io { .. } => false,
        }
    }

    /// The URI the error is about.
    pub fn uri(&self) -> &str {
        match self {
            FetchError::BadUri { uri, .. }
            | FetchError::SchemeNotAllowed { uri, .. }
            | FetchError::HostNotAllowed { uri, .. }
            | FetchError::PathNotAllowed { uri, .. }
            | FetchError::NotAFile { uri, .. }
            | FetchError::StoreNotAllowed { uri, .. }
            | FetchError::TooLarge { uri, .. }
            | FetchError::Timeout { uri, .. }
            | FetchError::TooManyRedirects { uri }
            | FetchError::Status { uri, .. }
            | FetchError::HashMismatch { uri, .. }
            | FetchError::Transport { uri, .. }
            | FetchError::Io { uri, .. } => uri,
            FetchError::Store(e) => e.url(),
        }
    }

    fn with_uri(mut self, new: &str) -> Self {
        match &mut self {
            FetchError::BadUri { uri, .. }
            | FetchError::SchemeNotAllowed { uri, .. }
            | FetchError::HostNotAllowed { uri, .. }
            | FetchError::PathNotAllowed { uri, .. }
            | FetchError::NotAFile { uri, .. }
            | FetchError::StoreNotAllowed { uri, .. }
            | FetchError::TooLarge { uri, .. }
            | FetchError::Timeout { uri, .. }
            | FetchError::TooManyRedirects { uri }
            | FetchError::Status { uri, .. }
            | FetchError::HashMismatch { uri, .. }
            | FetchError::Transport { uri, .. }
            | FetchError::Io { uri, .. } => *uri = new.to_string(),
            FetchError::Store(e) => *e = e.clone().with_url(new),
        }
        self
    }

    fn io(uri: &str, e: std::io::Error) -> Self {
        FetchError::Io {
            uri: uri.to_string(),
            kind: e.kind(),
            detail: e.to_string(),
        }
    }
}

/// Why `ip` is not a public unicast address, or `None` when it is one.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [0, ..] => "unspecified / this network (0.0.0.0/8)",
        [127, ..] => "loopback",
        [10, ..] => "private (10.0.0.0/8)",
        [172, b, ..] if b & 0xf0 == 16 => "private (172.16.0.0/12)",
        [192, 168, ..] => "private (192.168.0.0/16)",
        [169, 254, ..] => "link-local (169.254.0.0/16)",
        [100, b, ..] if b & 0xc0 == 64 => "carrier-grade NAT (100.64.0.0/10)",
        [192, 0, 0, _] => "IETF protocol assignments (192.0.0.0/24)",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation range",
        [198, b, ..] if b & 0xfe == 18 => "benchmarking (198.18.0.0/15)",
        [a, ..] if a >= 224 => "multicast, reserved or broadcast",
        _ => return None,
    })
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    if s[..6] == [0; 6] {
        return Some("IPv4-compatible address (::/96)");
    }
    match s[0] {
        x if x & 0xfe00 == 0xfc00 => Some("unique local (fc00::/7)"),
        x if x & 0xffc0 == 0xfe80 => Some("link-local (fe80::/10)"),
        x if x & 0xffc0 == 0xfec0 => Some("site-local (fec0::/10)"),
        x if x & 0xff00 == 0xff00 => Some("multicast (ff00::/8)"),
        0x2001 if s[1] == 0x0db8 => Some("documentation (2001:db8::/32)"),
        // NAT64 and 6to4 carry an IPv4 address: judge that one
        0x0064 if s[1] == 0xff9b && s[2..6] == [0; 4] => v4_reason(embedded(s[6], s[7])),
        0x2002 => v4_reason(embedded(s[1], s[2])),
        0x0100 if s[1..4] == [0; 3] => Some("discard-only (100::/64)"),
        _ => None,
    }
}

/// A host as written in a URL or an allow-list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HostKey {
    Ip(IpAddr),
    Name(String),
}

impl HostKey {
    /// From a URL's host string (`[v6]`, dotted v4 or a name).
    fn from_url_host(h: &str) -> Option<HostKey> {
        if let Some(inner) = h.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            return inner
                .parse::<Ipv6Addr>()
                .ok()
                .map(|ip| HostKey::Ip(IpAddr::V6(ip).to_canonical()));
        }
        if let Ok(ip) = h.parse::<IpAddr>() {
            return Some(HostKey::Ip(ip.to_canonical()));
        }
        let name = h.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return None;
        }
        Some(HostKey::Name(name))
    }
}

impl std::fmt::Display for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostKey::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            HostKey::Ip(ip) => write!(f, "{ip}"),
            HostKey::Name(n) => f.write_str(n),
        }
    }
}

/// An allow-listed host, on one port or all.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AllowedHost {
    host: HostKey,
    port: Option<u16>,
}

impl AllowedHost {
    /// `host`, `host:port`, `1.2.3.4`, `[::1]:8080`, `::1`, or a URL (`http://host:port/…`,
    /// whose port, explicit or the scheme's default, is the one allowed).
    fn parse(spec: &str) -> anyhow::Result<AllowedHost> {
        let s = spec.trim();
        if s.contains("://") {
            let url = Url::parse(s).with_context(|| format!("`{spec}` is not a valid URL"))?;
            let host = url
                .host_str()
                .and_then(HostKey::from_url_host)
                .with_context(|| format!("`{spec}` has no host"))?;
            return Ok(AllowedHost {
                host,
                port: url.port_or_known_default(),
            });
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(AllowedHost {
                host: HostKey::Ip(sa.ip().to_canonical()),
                port: Some(sa.port()),
            });
        }
        if let Some(key) = HostKey::from_url_host(s).filter(|k| matches!(k, HostKey::Ip(_))) {
            return Ok(AllowedHost {
                host: key,
                port: None,
            });
        }
        let (name, port) = match s.rsplit_once(':') {
            Some((n, p)) => (
                n,
                Some(
                    p.parse::<u16>()
                        .with_context(|| format!("`{spec}`: `{p}` is not a port"))?,
                ),
            ),
            None => (s, None),
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !valid {
            bail!("`{spec}` is not a host, host:port or URL");
        }
        Ok(AllowedHost {
            host: HostKey::Name(name.trim_end_matches('.').to_ascii_lowercase()),
            port,
        })
    }

    fn matches(&self, host: &HostKey, port: u16) -> bool {
        self.host == *host && self.port.is_none_or(|p| p == port)
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

/// An allowed object store: a bucket, or a prefix in one.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AllowedStore {
    /// `scheme://bucket`.
    base: String,
    /// The path below the bucket (no leading or trailing `/`); empty for the whole bucket.
    prefix: String,
}

impl AllowedStore {
    fn parse(spec: &str) -> Result<AllowedStore, StoreError> {
        let (base, prefix) = object::split(spec.trim())?;
        Ok(AllowedStore { base, prefix })
    }

    /// Whether the object at `path` in store `base` is under this one (whole path segments:
    /// `s3://b/in` does not allow `s3://b/inside/…`).
    fn covers(&self, base: &str, path: &str) -> bool {
        self.base == base
            && (self.prefix.is_empty()
                || path
                    .strip_prefix(self.prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/')))
    }
}

impl std::fmt::Display for AllowedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix.as_str() {
            "" => f.write_str(&self.base),
            p => write!(f, "{}/{p}", self.base),
        }
    }
}

/// The rules a [`Fetcher`] downloads under. [`FetchPolicy::default`] is the strict one a
/// worker starts from: public `http(s)` only, no local files, no object store.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    schemes: Vec<String>,
    hosts: Vec<AllowedHost>,
    dirs: Vec<PathBuf>,
    stores: Vec<AllowedStore>,
    any_host: bool,
    any_path: bool,
    any_store: bool,
    pins: HashMap<String, Vec<IpAddr>>,
    max_bytes: u64,
    timeout: Duration,
    idle_timeout: Duration,
    connect_timeout: Duration,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            schemes: vec!["http".into(), "https".into()],
            hosts: Vec::new(),
            dirs: Vec::new(),
            stores: Vec::new(),
            any_host: false,
            any_path: false,
            any_store: false,
            pins: HashMap::new(),
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: DEFAULT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// Where a checked URI leads.
#[derive(Debug)]
enum Checked {
    Http(Url),
    File(PathBuf),
    Object,
}

impl FetchPolicy {
    /// For a person's own, explicit downloads (`tessera blobs get`, fetching a job's result):
    /// any host, any local regular file and any object store (with that person's own
    /// credentials), but still size-capped, time-limited and hash-checked.
    pub fn permissive() -> Self {
        FetchPolicy {
            any_host: true,
            any_path: true,
            any_store: true,
            timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(60),
            ..Default::default()
        }
    }

    /// Replaces the allowed URL schemes (`http`, `https`). `file` is not a scheme to list:
    /// local files are allowed by directory ([`FetchPolicy::allow_dir`]).
    pub fn with_schemes<S: AsRef<str>>(mut self, schemes: &[S]) -> anyhow::Result<Self> {
        let mut out = Vec::new();
        for s in schemes {
            let s = s.as_ref().trim().to_ascii_lowercase();
            match s.as_str() {
                "http" | "https" => out.push(s),
                "file" => bail!(
                    "`file` is not allowed as a scheme: list the directories local inputs may come from instead"
                ),
                other => bail!("unsupported scheme `{other}`: use http and/or https"),
            }
        }
        self.schemes = out;
        Ok(self)
    }

    /// Allows a host that would otherwise be refused (a loopback, private or link-local
    /// address, or a name resolving to one): `host`, `host:port`, `[v6]:port` or a URL. Without
    /// a port every port of the host is allowed.
    pub fn allow_host(mut self, spec: &str) -> anyhow::Result<Self> {
        let h = AllowedHost::parse(spec)?;
        if !self.hosts.contains(&h) {
            self.hosts.push(h);
        }
        Ok(self)
    }

    /// Allows `file://` URIs of regular files below `dir` (which must exist; symbolic links
    /// are resolved before the check, so a link out of `dir` is refused).
    pub fn allow_dir(mut self, dir: impl AsRef<Path>) -> anyhow::Result<Self> {
        let dir = dir.as_ref();
        let canon = dir
            .canonicalize()
            .with_context(|| format!("allowed directory {}", dir.display()))?;
        if !canon.is_dir() {
            bail!("allowed directory {} is not a directory", dir.display());
        }
        if !self.dirs.contains(&canon) {
            self.dirs.push(canon);
        }
        Ok(self)
    }

    /// Allows blobs in an object store: `s3://bucket` (the whole bucket) or
    /// `s3://bucket/prefix` (below that prefix only); likewise `gs://`, `az://`… The store is
    /// reached with this process's own configuration (endpoint, credentials), never the URI's.
    pub fn allow_store(mut self, spec: &str) -> anyhow::Result<Self> {
        let s = AllowedStore::parse(spec)?;
        if !self.stores.contains(&s) {
            self.stores.push(s);
        }
        Ok(self)
    }

    /// Resolves `name` to `addrs` instead of asking DNS (like curl's `--resolve`). The
    /// addresses are still checked like resolved ones.
    pub fn pin_name(mut self, name: &str, addrs: &[IpAddr]) -> Self {
        self.pins.insert(
            name.trim_end_matches('.').to_ascii_lowercase(),
            addrs.to_vec(),
        );
        self
    }

    pub fn with_max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }

    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    pub fn with_idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    pub fn with_connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The allow-listed hosts, as `host[:port]`.
    pub fn allowed_hosts(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.to_string()).collect()
    }

    /// The directories `file://` URIs may point into.
    pub fn allowed_dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The allowed object stores, as `scheme://bucket[/prefix]`.
    pub fn allowed_stores(&self) -> Vec<String> {
        self.stores.iter().map(|s| s.to_string()).collect()
    }

    fn file_allowed(&self) -> bool {
        self.any_path || !self.dirs.is_empty()
    }

    fn allowed_schemes(&self) -> String {
        let mut s = self.schemes.join(", ");
        if self.file_allowed() {
            s.push_str(", file (allowed directories only)");
        }
        if self.any_store {
            s.push_str(", object stores");
        } else if !self.stores.is_empty() {
            s.push_str(", object stores (allowed stores only)");
        }
        s
    }

    /// An object-store URI: allowed when its store (and prefix) is.
    fn check_store(&self, uri: &str) -> Result<Checked, FetchError> {
        let (base, path) = object::split(uri).map_err(|e| FetchError::BadUri {
            uri: uri.to_string(),
            reason: match e {
                StoreError::BadUrl { reason, .. } => reason,
                other => other.to_string(),
            },
        })?;
        if path.is_empty() {
            return Err(FetchError::BadUri {
                uri: uri.to_string(),
                reason: "no object path after the bucket".into(),
            });
        }
        if self.any_store || self.stores.iter().any(|s| s.covers(&base, &path)) {
            return Ok(Checked::Object);
        }
        let allowed = if self.stores.is_empty() {
            "none".to_string()
        } else {
            self.allowed_stores().join(", ")
        };
        Err(FetchError::StoreNotAllowed {
            uri: uri.to_string(),
            store: base,
            allowed,
        })
    }

    /// Checks `uri` without touching the network or the file system: scheme, host literal,
    /// allow-lists. Names are checked again on their resolved addresses when connecting.
    pub fn check(&self, uri: &str) -> Result<(), FetchError> {
        self.check_uri(uri).map(|_| ())
    }

    fn check_uri(&self, uri: &str) -> Result<Checked, FetchError> {
        let bad = |reason: String| FetchError::BadUri {
            uri: uri.to_string(),
            reason,
        };
        if object::is_object_url(uri) {
            return self.check_store(uri);
        }
        let url = Url::parse(uri).map_err(|e| bad(e.to_string()))?;
        match url.scheme() {
            "file" => {
                if !self.file_allowed() {
                    return Err(FetchError::SchemeNotAllowed {
                        uri: uri.to_string(),
                        scheme: "file".into(),
                        allowed: self.allowed_schemes(),
                    });
                }
                // `file://<absolute path>`, taken literally (how `DirStore::uri` writes them)
                let path = uri
                    .get(..7)
                    .filter(|p| p.eq_ignore_ascii_case("file://"))
                    .and_then(|_| uri.get(7..))
                    .filter(|p| p.starts_with('/'))
                    .ok_or_else(|| bad("a file URI must be file:///<absolute path>".into()))?;
                Ok(Checked::File(PathBuf::from(path)))
            }
            scheme if self.schemes.iter().any(|s| s == scheme) => {
                self.check_host(uri, &url)?;
                Ok(Checked::Http(url))
            }
            scheme => Err(FetchError::SchemeNotAllowed {
                uri: uri.to_string(),
                scheme: scheme.to_string(),
                allowed: self.allowed_schemes(),
            }),
        }
    }

    /// The URL-level host rules (also applied to every redirect).
    fn check_host(&self, uri: &str, url: &Url) -> Result<(), FetchError> {
        let host = url
            .host_str()
            .and_then(HostKey::from_url_host)
            .ok_or_else(|| FetchError::BadUri {
                uri: uri.to_string(),
                reason: "no host".into(),
            })?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| FetchError::BadUri {
                uri: uri.to_string(),
                reason: "no port".into(),
            })?;
        if self.any_host || self.hosts.iter().any(|h| h.matches(&host, port)) {
            return Ok(());
        }
        let refuse = |why: String| FetchError::HostNotAllowed {
            uri: uri.to_string(),
            host: format!("{host}:{port}"),
            why,
        };
        match &host {
            HostKey::Ip(ip) => match non_public_reason(*ip) {
                Some(why) => Err(refuse(why.to_string())),
                None => Ok(()),
            },
            HostKey::Name(n) => {
                if n == "localhost" || n.ends_with(".localhost") {
                    return Err(refuse("localhost".into()));
                }
                let others: Vec<String> = self
                    .hosts
                    .iter()
                    .filter(|h| h.host == host)
                    .map(|h| h.to_string())
                    .collect();
                if !others.is_empty() {
                    // allow-listed on another port: the resolver would let its (private)
                    // addresses through, so refuse here
                    return Err(refuse(format!("only {} is allowed", others.join(", "))));
                }
                Ok(())
            }
        }
    }

    /// Resolves a host name and checks every address (the resolver reqwest connects with).
    async fn resolve(&self, name: &str) -> Result<Vec<SocketAddr>, FetchError> {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        let addrs: Vec<SocketAddr> = match self.pins.get(&key) {
            Some(ips) => ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect(),
            None => tokio::net::lookup_host((key.as_str(), 0))
                .await
                .map_err(|e| FetchError::Transport {
                    uri: String::new(),
                    detail: format!("resolving {name}: {e}"),
                })?
                .collect(),
        };
        let name_key = HostKey::Name(key);
        if self.any_host || self.hosts.iter().any(|h| h.host == name_key) {
            return Ok(addrs);
        }
        for a in &addrs {
            if let Some(why) = non_public_reason(a.ip().to_canonical()) {
                return Err(FetchError::HostNotAllowed {
                    uri: String::new(),
                    host: format!("{name} ({})", a.ip()),
                    why: format!("it resolves to a {why} address"),
                });
            }
        }
        if addrs.is_empty() {
            return Err(FetchError::Transport {
                uri: String::new(),
                detail: format!("{name} has no addresses"),
            });
        }
        Ok(addrs)
    }
}

/// The DNS resolver of a [`Fetcher`]'s HTTP client: resolves, then applies the policy.
struct GuardedResolver(Arc<FetchPolicy>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs = policy.resolve(&name).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Downloads blobs under a [`FetchPolicy`]. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    policy: Arc<FetchPolicy>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> anyhow::Result<Fetcher> {
        let policy = Arc::new(policy);
        let redirect_policy = policy.clone();
        let client = reqwest::Client::builder()
            .no_proxy() // a proxy would resolve and connect for us, past the host checks
            .dns_resolver(Arc::new(GuardedResolver(policy.clone())))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let url = attempt.url().clone();
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(FetchError::TooManyRedirects {
                        uri: url.to_string(),
                    });
                }
                let p = &redirect_policy;
                if !p.schemes.iter().any(|s| s == url.scheme()) {
                    return attempt.error(FetchError::SchemeNotAllowed {
                        uri: url.to_string(),
                        scheme: url.scheme().to_string(),
                        allowed: p.schemes.join(", "),
                    });
                }
                match p.check_host(url.as_str(), &url) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
            }))
            .connect_timeout(policy.connect_timeout)
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        Ok(Fetcher { policy, client })
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Downloads `uri` and checks it hashes to `expected`. Nothing is opened or connected to
    /// before the policy allows it; the whole download runs under the policy's deadline.
    pub async fn fetch(&self, uri: &str, expected: &[u8; 32]) -> Result<Vec<u8>, FetchError> {
        self.fetch_into(uri, expected, Memory::new(self.policy.max_bytes))
            .await
    }

    /// Downloads `uri` into the file `dest`, streamed (never whole in memory), under the same
    /// rules as [`Fetcher::fetch`]. The bytes go to `tmp` (created; it must not exist), which
    /// is renamed to `dest` only when they hash to `expected`; on any error `tmp` is removed
    /// and `dest` is left as it was. Returns the size.
    pub async fn fetch_to_file(
        &self,
        uri: &str,
        expected: &[u8; 32],
        dest: &Path,
        tmp: &Path,
    ) -> Result<u64, FetchError> {
        let tmp = tmp.to_path_buf();
        let work = async {
            // the policy first: nothing is created for a refused URI
            self.policy.check_uri(uri)?;
            let out = FileOut::create(&tmp)
                .await
                .map_err(|e| FetchError::io(uri, e))?;
            self.fetch_into(uri, expected, out).await?;
            let size = tokio::fs::metadata(&tmp)
                .await
                .map_err(|e| FetchError::io(uri, e))?
                .len();
            tokio::fs::rename(&tmp, dest)
                .await
                .map_err(|e| FetchError::io(uri, e))?;
            Ok(size)
        };
        let r = work.await;
        if r.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        r
    }

    async fn fetch_into<C: Collect>(
        &self,
        uri: &str,
        expected: &[u8; 32],
        out: C,
    ) -> Result<C::Output, FetchError> {
        let checked = self.policy.check_uri(uri)?;
        let total = self.policy.timeout;
        let work = async {
            match checked {
                Checked::Http(url) => self.fetch_http(uri, url, expected, out).await,
                Checked::File(path) => self.fetch_file(uri, &path, expected, out).await,
                Checked::Object => self.fetch_object(uri, expected, out).await,
            }
        };
        match tokio::time::timeout(total, work).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                uri: uri.to_string(),
                deadline: Deadline::Total(total),
            }),
        }
    }

    async fn fetch_http<C: Collect>(
        &self,
        uri: &str,
        url: Url,
        expected: &[u8; 32],
        out: C,
    ) -> Result<C::Output, FetchError> {
        let mut resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| self.map_reqwest(uri, e))?;
        if !resp.status().is_success() {
            return Err(FetchError::Status {
                uri: uri.to_string(),
                status: resp.status().as_u16(),
            });
        }
        let declared = resp.content_length();
        let mut sink = Sink::new(uri, self.policy.max_bytes, declared, out)?;
        let idle = self.policy.idle_timeout;
        loop {
            match tokio::time::timeout(idle, resp.chunk()).await {
                Err(_) => {
                    return Err(FetchError::Timeout {
                        uri: uri.to_string(),
                        deadline: Deadline::Idle(idle),
                    })
                }
                Ok(Err(e)) => return Err(self.map_reqwest(uri, e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => sink.push(&chunk).await?,
            }
        }
        sink.finish(expected).await
    }

    async fn fetch_file<C: Collect>(
        &self,
        uri: &str,
        path: &Path,
        expected: &[u8; 32],
        out: C,
    ) -> Result<C::Output, FetchError> {
        // Resolve links and `..` first (this reads directory entries, never the file), then
        // check the real path against the allowed directories.
        let canon = tokio::fs::canonicalize(path)
            .await
            .map_err(|e| FetchError::io(uri, e))?;
        if !self.policy.any_path && !self.policy.dirs.iter().any(|d| canon.starts_with(d)) {
            return Err(FetchError::PathNotAllowed {
                uri: uri.to_string(),
                path: canon,
            });
        }
        let not_a_file = || FetchError::NotAFile {
            uri: uri.to_string(),
            path: canon.clone(),
        };
        // Never open a device, a FIFO (opening one blocks) or a directory.
        let meta = tokio::fs::metadata(&canon)
            .await
            .map_err(|e| FetchError::io(uri, e))?;
        if !meta.is_file() {
            return Err(not_a_file());
        }
        let mut sink = Sink::new(uri, self.policy.max_bytes, Some(meta.len()), out)?;
        let mut f = tokio::fs::File::open(&canon)
            .await
            .map_err(|e| FetchError::io(uri, e))?;
        // and what was opened is still a regular file
        let opened = f.metadata().await.map_err(|e| FetchError::io(uri, e))?;
        if !opened.is_file() {
            return Err(not_a_file());
        }
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = f.read(&mut buf).await.map_err(|e| FetchError::io(uri, e))?;
            if n == 0 {
                break;
            }
            sink.push(&buf[..n]).await?;
        }
        sink.finish(expected).await
    }

    /// From an object store: the size from the object's metadata first (refused over the cap
    /// before any byte of the body), then the body, streamed.
    async fn fetch_object<C: Collect>(
        &self,
        uri: &str,
        expected: &[u8; 32],
        out: C,
    ) -> Result<C::Output, FetchError> {
        use futures::StreamExt;
        let obj = object::locate(uri)?;
        let size = obj.size().await?;
        let mut sink = Sink::new(uri, self.policy.max_bytes, Some(size), out)?;
        let (announced, mut body) = obj.stream().await?;
        if announced > self.policy.max_bytes {
            // replaced by a larger object since the size was read
            return Err(FetchError::TooLarge {
                uri: uri.to_string(),
                limit: self.policy.max_bytes,
                declared: Some(announced),
            });
        }
        let idle = self.policy.idle_timeout;
        loop {
            match tokio::time::timeout(idle, body.next()).await {
                Err(_) => {
                    return Err(FetchError::Timeout {
                        uri: uri.to_string(),
                        deadline: Deadline::Idle(idle),
                    })
                }
                Ok(Some(Err(e))) => return Err(e.into()),
                Ok(None) => break,
                Ok(Some(Ok(chunk))) => sink.push(&chunk).await?,
            }
        }
        sink.finish(expected).await
    }
    /// An error from reqwest: a refusal raised inside it (the redirect policy, the resolver)
    /// comes back as that refusal.
    fn map_reqwest(&self, uri: &str, e: reqwest::Error) -> FetchError {
        let mut src: Option<&(dyn StdError + 'static)> = Some(&e);
        while let Some(s) = src {
            if let Some(f) = s.downcast_ref::<FetchError>() {
                return f.clone().with_uri(uri);
            }
            src = s.source();
        }
        if e.is_timeout() {
            return FetchError::Timeout {
                uri: uri.to_string(),
                deadline: Deadline::Connect(self.policy.connect_timeout),
            };
        }
        let mut detail = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            src = s.source();
        }
        FetchError::Transport {
            uri: uri.to_string(),
            detail,
        }
    }
}

#[cfg(test)]
#[path = "fetch_policy_tests.rs"]
mod tests;
