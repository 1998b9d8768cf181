//! The shipped systemd unit (`worker/deploy/tessera-worker.service`) and its GPU drop-in pass
//! `systemd-analyze verify` without a single warning, with `ExecStart` pointing at the binary
//! this build made; and `systemd-analyze security` rates the unit's exposure at most 2.0
//! ("OK"). Needs `systemd-analyze` (Debian's `systemd` package; scripts/setup.sh installs it).
use std::path::{Path, PathBuf};
use std::process::Command;

const SHIPPED_EXEC: &str = "/usr/local/bin/tessera-worker";

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// A copy of the unit (and its drop-in directory) in a fresh temporary directory, with
/// `ExecStart` on this build's binary and `edit` applied to the unit's text.
fn copy(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-unit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tessera-worker.service.d")).unwrap();
    let unit = std::fs::read_to_string(deploy().join("tessera-worker.service")).unwrap();
    assert!(unit.contains(SHIPPED_EXEC), "the unit runs {SHIPPED_EXEC}");
    let unit = unit.replace(SHIPPED_EXEC, env!("CARGO_BIN_EXE_tessera-worker"));
    std::fs::write(dir.join("tessera-worker.service"), edit(unit)).unwrap();
    std::fs::copy(
        deploy().join("tessera-worker.service.d/gpu.conf"),
        dir.join("tessera-worker.service.d/gpu.conf"),
    )
    .unwrap();
    dir
}

/// `systemd-analyze <args> ./tessera-worker.service` in `dir`: (success, stdout + stderr).
fn analyze(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg("./tessera-worker.service")
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "systemd-analyze: {e} (install Debian's `systemd` package; scripts/setup.sh does)"
            )
        });
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_unit_and_its_gpu_drop_in_verify_without_warnings() {
    let dir = copy("ok", |u| u);
    let (ok, out) = analyze(&dir, &["verify"]);
    assert!(
        ok && out.trim().is_empty(),
        "systemd-analyze verify:\n{out}"
    );
    // the check is real: a mistake in the unit or in the drop-in is reported
    let bad = copy("bad", |u| {
        u.replace("ProtectSystem=strict", "ProtectSystem=strikt")
    });
    let (_, out) = analyze(&bad, &["verify"]);
    assert!(
        out.contains("protect system value, ignoring: strikt"),
        "{out}"
    );
    std::fs::write(
        bad.join("tessera-worker.service.d/gpu.conf"),
        "[Service]\nDeviceAlow=char-nvidia* rw\n",
    )
    .unwrap();
    let (_, out) = analyze(&bad, &["verify"]);
    assert!(out.contains("Unknown key 'DeviceAlow'"), "{out}");
    let missing = copy("missing", |u| {
        u.replace(
            env!("CARGO_BIN_EXE_tessera-worker"),
            "/nonexistent/tessera-worker",
        )
    });
    let (ok, out) = analyze(&missing, &["verify"]);
    assert!(!ok && out.contains("is not executable"), "{out}");
    for d in [dir, bad, missing] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn the_unit_is_rated_ok_by_systemd_analyze_security() {
    let dir = copy("security", |u| u);
    let (ok, out) = analyze(&dir, &["security", "--offline=true", "--threshold=20"]);
    assert!(ok, "exposure above 2.0:\n{out}");
    assert!(out.contains("Overall exposure level"), "{out}");
    // without the hardening the same check fails
    let open = copy("open", |u| {
        u.lines()
            .filter(|l| {
                !l.starts_with("Protect")
                    && !l.starts_with("Restrict")
                    && !l.starts_with("SystemCall")
                    && !l.starts_with("CapabilityBoundingSet")
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let (ok, out) = analyze(&open, &["security", "--offline=true", "--threshold=20"]);
    assert!(!ok, "an unhardened unit passed:\n{out}");
    // the settings the operator's guide promises are there
    let unit = std::fs::read_to_string(deploy().join("tessera-worker.service")).unwrap();
    for line in [
        "User=tessera",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "ReadWritePaths=/var/lib/tessera",
        "MemoryDenyWriteExecute=yes",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=60",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    let gpu = std::fs::read_to_string(deploy().join("tessera-worker.service.d/gpu.conf")).unwrap();
    assert!(gpu.lines().any(|l| l == "DeviceAllow=char-nvidia* rw"));
    assert!(gpu.lines().any(|l| l == "MemoryDenyWriteExecute=no"));
    for d in [dir, open] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
