//! Running a built binary as a user does, for the command-line behaviour tests of `tessera`
//! (crates/cli/tests) and `tessera-worker` (worker/tests): exit code and output, the one-line
//! error every common mistake must give, scratch folders and keys.
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `bin` with `args` and none of the CLI's environment defaults: (exit code, stdout, stderr).
pub fn run(bin: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin)
        .args(args)
        .env_remove("TESSERA_RPC_URL")
        .env_remove("TESSERA_KEYPAIR")
        .env_remove("TESSERA_BLOBS")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fails with exit code 1 and exactly one `error: …` line containing every `needle`.
pub fn one_line_error(bin: &Path, args: &[&str], needles: &[&str]) {
    let (code, _, err) = run(bin, args);
    assert_eq!(code, 1, "{} {args:?} should fail: {err}", bin.display());
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got:\n{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` missing from: {err}");
    }
}

/// `--help` of `bin` and each of `subcommands` succeeds and says how to call it.
pub fn every_subcommand_has_help(bin: &Path, subcommands: &[&[&str]]) {
    for sub in subcommands {
        let mut args = sub.to_vec();
        args.push("--help");
        let (code, out, err) = run(bin, &args);
        assert_eq!(code, 0, "{} {sub:?} --help: {err}", bin.display());
        assert!(
            out.contains("Usage:") && out.lines().next().unwrap().len() > 10,
            "{} {sub:?}: {out}",
            bin.display()
        );
    }
}

/// A fresh scratch folder for one test.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tessera-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A new keypair file in `dir` (`id.json`); its path.
pub fn write_keypair(dir: &Path) -> String {
    let kp = solana_sdk::signature::Keypair::new();
    let p = dir.join("id.json");
    std::fs::write(&p, serde_json::to_string(&kp.to_bytes().to_vec()).unwrap()).unwrap();
    p.display().to_string()
}
