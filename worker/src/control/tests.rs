//! The control API end to end on a real unix socket, against a stand-in daemon with a real
//! journal: what `status`, `drain` and monitors see.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use solana_sdk::pubkey::Pubkey;
use tessera::state::Node;

use super::*;
use crate::state::{Journal, Stage};

struct Fake {
    operator: Pubkey,
    journal: Journal,
    in_flight: Mutex<Vec<Pubkey>>,
    draining: AtomicBool,
}

impl Daemon for Fake {
    fn operator(&self) -> Pubkey {
        self.operator
    }
    fn node(&self) -> Pubkey {
        tessera_sdk::pda::node(&self.operator).0
    }
    fn journal(&self) -> Result<Vec<Entry>> {
        self.journal.all()
    }
    fn in_flight(&self) -> Vec<Pubkey> {
        self.in_flight.lock().unwrap().clone()
    }
    fn node_state(&self) -> Option<Node> {
        None
    }
    fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
    fn set_draining(&self, on: bool) {
        self.draining.store(on, Ordering::SeqCst)
    }
}

/// Runs `f` on a plain thread (the command line's synchronous code builds its own runtime,
/// which a tokio thread may not).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_health_and_drain_over_the_control_socket() {
    let root = std::env::temp_dir().join(format!("tessera-ctl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    // a config whose state directory is the one served below
    let cfg_path = root.join("worker.toml");
    std::fs::write(
        &cfg_path,
        crate::config::template(
            "http://127.0.0.1:1",
            "ws://127.0.0.1:2",
            "id.json",
            "http://127.0.0.1:3",
            "127.0.0.1:4",
        ),
    )
    .unwrap();
    let cfg = crate::config::Config::load(&cfg_path).unwrap();
    let dir = cfg.storage_dir.clone();
    assert_eq!(private_dir(&dir).unwrap(), None, "created 0700");
    let sock = cfg.control_socket();
    // no daemon: no socket file, then a socket file nobody listens on (a crashed daemon's)
    let s = sock.clone();
    assert!(blocking(move || client::block_on(client::status(&s)))
        .await
        .unwrap()
        .is_none());
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    assert!(
        client::status(&sock).await.unwrap().is_none(),
        "stale socket"
    );

    let journal = Journal::open(&dir.join("journal.redb")).unwrap();
    let busy = Pubkey::new_unique();
    let mut e = Entry::new(&busy, Stage::Committed);
    journal.put(&e).unwrap();
    journal
        .put(&Entry::new(&Pubkey::new_unique(), Stage::Settled))
        .unwrap();
    let fake = Arc::new(Fake {
        operator: Pubkey::new_unique(),
        journal,
        in_flight: Mutex::new(vec![busy]),
        draining: AtomicBool::new(false),
    });
    let m = Metrics::new();
    let limits = Limits {
        max_slot_age_secs: 0,
        max_ws_down_secs: 0,
        min_lamports: 1_000,
    };
    let ctl = Control::persisted(fake.clone(), m.clone(), limits, cfg.drain_file()).unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let mut sd = stop_rx.clone();
    let server = tokio::spawn(serve_socket(ctl.clone(), sock.clone(), async move {
        let _ = sd.changed().await;
    }));
    let start = std::time::Instant::now();
    while client::request(&sock, "GET", "/health")
        .await
        .unwrap()
        .is_none()
    {
        assert!(start.elapsed() < Duration::from_secs(10), "server not up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "socket mode {mode:o}");
    }

    // the report `status` prints, from the daemon
    let s = sock.clone();
    let st = blocking(move || client::block_on(client::status(&s)))
        .await
        .unwrap()
        .expect("a daemon answers");
    assert_eq!(st.operator, fake.operator.to_string());
    assert_eq!(st.pid, std::process::id());
    assert_eq!((st.counts.entries, st.counts.in_progress), (2, 1));
    assert_eq!(st.claims.len(), 1);
    assert_eq!(st.claims[0].job, busy.to_string());
    assert_eq!(st.claims[0].stage, "committed");
    assert!(!st.draining && !st.drained);
    let lines = st.daemon_lines(unix_ms());
    assert!(
        lines[0].starts_with("daemon       running (pid "),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("job {busy} · committed"))),
        "{lines:?}"
    );

    // `tessera-worker status` prints the daemon's report, not "journal unavailable"
    let (c, op) = (cfg.clone(), fake.operator.to_string());
    let lines = blocking(move || crate::cmd::status::local_lines(&c, &op))
        .await
        .unwrap();
    assert!(
        lines[0].starts_with("daemon       running (pid "),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l
            == "journal      2 entries: 1 in progress, 1 settled, 0 abandoned (from the daemon)"),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains("unavailable")),
        "{lines:?}"
    );
    let c = cfg.clone();
    let lines = blocking(move || crate::cmd::status::local_lines(&c, "someone else"))
        .await
        .unwrap();
    assert!(lines[0].contains("not this config's keypair"), "{lines:?}");

    // health: nothing seen for over a second with limits of 0 s: 503 and why
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (code, body) = client::request(&sock, "GET", "/health")
        .await
        .unwrap()
        .unwrap();
    let h: health::Health = serde_json::from_slice(&body).unwrap();
    assert_eq!(code, 503, "{h:?}");
    assert_eq!(h.status, health::Verdict::Unhealthy);
    assert!(h
        .reasons
        .iter()
        .any(|r| r.contains("websocket has been down")));
    assert!(h.reasons.iter().any(|r| r.contains("no slot seen")));
    // connected, a fresh slot, a balance under the minimum: 200 but degraded
    m.set_ws_connected(true);
    m.slot_seen(42);
    m.balance_read(999);
    let (code, body) = client::request(&sock, "GET", "/health")
        .await
        .unwrap()
        .unwrap();
    let h: health::Health = serde_json::from_slice(&body).unwrap();
    assert_eq!((code, h.status), (200, health::Verdict::Degraded), "{h:?}");
    assert!(h.reasons[0].contains("below ops.min_sol_balance"), "{h:?}");
    assert_eq!(h.last_slot, Some(42));
    // the metrics listener serves the same /health beside /metrics
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut msd = stop_rx.clone();
    tokio::spawn(crate::metrics::serve(
        m.clone(),
        addr,
        health_router(ctl.clone()),
        async move {
            let _ = msd.changed().await;
        },
    ));
    let text = blocking(move || {
        use std::io::{Read, Write};
        let start = std::time::Instant::now();
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                write!(
                    s,
                    "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let mut t = String::new();
                s.read_to_string(&mut t).unwrap();
                return t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "metrics server not up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"status\":\"degraded\""), "{text}");

    // drain with exit: draining, not drained while a claim is in flight
    tokio::spawn(exit_when_drained(
        ctl.clone(),
        stop_tx.clone(),
        stop_rx.clone(),
    ));
    let st = client::drain(&sock, true, false).await.unwrap().unwrap();
    assert!(st.draining && !st.drained && st.exit_when_drained);
    assert!(fake.draining());
    assert!(st
        .daemon_lines(unix_ms())
        .iter()
        .any(|l| l.starts_with("draining     yes: finishing 1 job(s) in flight")));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(!*stop_rx.borrow(), "not drained yet: no stop");
    // the claim leaves the process but its record is unfinished: still not drained
    fake.in_flight.lock().unwrap().clear();
    assert!(!ctl.drained().unwrap());
    // cancel, then drain again: the record settles and the daemon is told to stop
    let st = client::drain(&sock, false, true).await.unwrap().unwrap();
    assert!(!st.draining && !st.exit_when_drained && !fake.draining());
    client::drain(&sock, true, false).await.unwrap().unwrap();
    e.stage = Stage::Settled;
    fake.journal.put(&e).unwrap();
    let mut rx = stop_rx.clone();
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| *s))
        .await
        .expect("stopped once drained")
        .unwrap();
    server.await.unwrap().unwrap();
    assert!(!sock.exists(), "the socket is removed on the way out");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_state_dir_others_can_read_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("tessera-ctl-mode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let w = private_dir(&dir).unwrap().expect("a warning");
    assert!(w.contains("has mode 755") && w.contains("chmod 700"), "{w}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn fake_daemon(dir: &Path) -> Arc<Fake> {
    Arc::new(Fake {
        operator: Pubkey::new_unique(),
        journal: Journal::open(&dir.join("journal.redb")).unwrap(),
        in_flight: Mutex::new(vec![]),
        draining: AtomicBool::new(false),
    })
}

fn no_limits() -> Limits {
    Limits {
        max_slot_age_secs: 0,
        max_ws_down_secs: 0,
        min_lamports: 0,
    }
}

#[tokio::test]
async fn draining_is_recorded_and_taken_up_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("tessera-ctl-drain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("draining");
    // the daemon's run: nothing recorded, so it takes jobs
    let start = |dir: &Path| {
        let d = fake_daemon(dir);
        let c = Control::persisted(d.clone(), Metrics::new(), no_limits(), file.clone()).unwrap();
        (d, c)
    };
    let (d, ctl) = start(&dir);
    assert!(!d.draining() && !ctl.exit_when_drained());
    // `drain`: recorded; a restart (a crash, `systemctl restart`) goes on draining
    ctl.drain(false, false).unwrap();
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("exit = false"));
    drop((d, ctl));
    let (d, ctl) = start(&dir);
    assert!(d.draining() && !ctl.exit_when_drained(), "still draining");
    // `drain --exit`, then a restart before it was drained: draining, and stopping once drained
    ctl.drain(true, false).unwrap();
    drop((d, ctl));
    let (d, ctl) = start(&dir);
    assert!(d.draining() && ctl.exit_when_drained());
    // `drain --cancel`: the record goes, and the next start takes jobs
    ctl.drain(false, true).unwrap();
    assert!(!file.exists() && !d.draining());
    drop((d, ctl));
    let (d, ctl) = start(&dir);
    assert!(!d.draining());
    // `drain --exit` that ends drained: stopped, and the record gone (an upgrade's restart
    // takes jobs again)
    ctl.drain(true, false).unwrap();
    assert!(file.exists());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut rx = stop_rx.clone();
    tokio::spawn(exit_when_drained(ctl.clone(), Arc::new(stop_tx), stop_rx));
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| *s))
        .await
        .expect("stopped once drained")
        .unwrap();
    assert!(!file.exists(), "the finished drain is forgotten");
    drop((d, ctl));
    let (d, _ctl) = start(&dir);
    assert!(!d.draining());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_drain_that_cannot_be_recorded_changes_nothing_and_says_where() {
    let dir = std::env::temp_dir().join(format!("tessera-ctl-nodrain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = fake_daemon(&dir);
    // the record's directory does not exist
    let file = dir.join("gone").join("draining");
    let ctl = Control::persisted(d.clone(), Metrics::new(), no_limits(), file.clone()).unwrap();
    let e = format!("{:#}", ctl.drain(true, false).unwrap_err());
    assert!(
        e.contains("recording the drain in") && e.contains(&file.display().to_string()),
        "{e}"
    );
    assert!(!d.draining() && !ctl.exit_when_drained(), "left as it was");
    // a record that is a directory cannot be read: the daemon refuses to start, naming it
    let odd = dir.join("odd");
    std::fs::create_dir_all(&odd).unwrap();
    let Err(e) = Control::persisted(d, Metrics::new(), no_limits(), odd.clone()) else {
        panic!("a directory was read as the drain record");
    };
    assert!(
        format!("{e:#}").contains(&format!("reading {}", odd.display())),
        "{e:#}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
