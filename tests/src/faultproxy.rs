//! A small fault-injecting HTTP proxy for JSON-RPC (loopback only): each request is either
//! answered `503 Service Unavailable` (with probability `error_per_mille`/1000), or delayed
//! by up to `max_delay_ms` and forwarded to the upstream RPC. One request per connection
//! (`Connection: close`), which every HTTP client handles. Every JSON-RPC request that
//! reaches it is counted by method ([`FaultProxy::counts`]; a batch counts each of its calls),
//! which is how the RPC bench measures a worker's requests.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// JSON-RPC requests seen, by method.
pub type Counts = BTreeMap<String, u64>;

pub struct FaultProxy {
    pub port: u16,
    pub injected: Arc<AtomicU64>,
    pub forwarded: Arc<AtomicU64>,
    methods: Arc<Mutex<Counts>>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    pub fn start(upstream_port: u16, error_per_mille: u64, max_delay_ms: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let injected = Arc::new(AtomicU64::new(0));
        let forwarded = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let methods: Arc<Mutex<Counts>> = Arc::default();
        let (inj, fwd, st, meth) = (
            injected.clone(),
            forwarded.clone(),
            stop.clone(),
            methods.clone(),
        );
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(port);
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        // xorshift: a decision and a delay per request
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let fail = seed % 1000 < error_per_mille;
                        let delay = if max_delay_ms > 0 {
                            (seed >> 20) % max_delay_ms
                        } else {
                            0
                        };
                        let (inj, fwd, meth) = (inj.clone(), fwd.clone(), meth.clone());
                        std::thread::spawn(move || {
                            let _ = handle(conn, upstream_port, fail, delay, &inj, &fwd, &meth);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy {
            port,
            injected,
            forwarded,
            methods,
            stop,
        }
    }

    /// A proxy that only counts: no errors, no delay.
    pub fn counting(upstream_port: u16) -> FaultProxy {
        Self::start(upstream_port, 0, 0)
    }

    /// The JSON-RPC requests received so far, by method.
    pub fn counts(&self) -> Counts {
        self.methods.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn handle(
    mut conn: TcpStream,
    upstream: u16,
    fail: bool,
    delay_ms: u64,
    injected: &AtomicU64,
    forwarded: &AtomicU64,
    methods: &Mutex<Counts>,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    // read the head
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    count_methods(&buf[head_end..], methods);
    if fail {
        injected.fetch_add(1, Ordering::Relaxed);
        conn.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    // forward with Connection: close
    let mut new_head = String::new();
    for line in head.trim_end().lines() {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        new_head.push_str(line);
        new_head.push_str("\r\n");
    }
    new_head.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(new_head.as_bytes())?;
    up.write_all(&buf[head_end..])?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    forwarded.fetch_add(1, Ordering::Relaxed);
    conn.write_all(&resp)?;
    Ok(())
}

/// Counts the calls of a JSON-RPC body (one request or a batch).
fn count_methods(body: &[u8], methods: &Mutex<Counts>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let calls = match v {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    let mut m = methods.lock().unwrap();
    for c in calls {
        let name = c["method"].as_str().unwrap_or("(none)").to_string();
        *m.entry(name).or_insert(0) += 1;
    }
}
