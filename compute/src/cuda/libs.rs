//! Finding CUDA's user-space libraries (NVRTC, cuBLAS) where the dynamic loader would not.
//!
//! `cudarc` opens them by name (`libnvrtc.so`, `libnvrtc.so.13`, `.so.12`, ...), which only
//! works when their folder is in the loader's search path. CUDA installed from NVIDIA's PyPI
//! wheels (as PyTorch does) or a toolkit whose `lib64` is not registered is then missed, and the
//! worker would fall back to the CPU on a machine with a perfectly good GPU. So before `cudarc`
//! looks, [`preload`] opens the library by full path from the usual places; once loaded, the
//! loader resolves `cudarc`'s `dlopen("libnvrtc.so.13")` to it by its soname.
//!
//! Searched, in order: `$TESSERA_CUDA_LIB_DIR` (colon-separated), `$TESSERA_NVRTC_DIR`,
//! `$CUDA_PATH`/`$CUDA_HOME` (`lib64`, `lib`), `/usr/local/cuda/lib64`,
//! `/usr/local/cuda/targets/x86_64-linux/lib`, and the `nvidia/*/lib` folders of Python
//! site-packages under `/usr/lib`, `/usr/local/lib` and `/opt/*/.venv/lib`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Major versions tried, newest first; `cudarc` (built for CUDA 13.0) asks for these names.
const MAJORS: [u32; 2] = [13, 12];

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Every folder that may hold the libraries, in search order.
pub fn search_dirs() -> Vec<PathBuf> {
    search_dirs_with(|k| std::env::var_os(k))
}

fn search_dirs_with(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["TESSERA_CUDA_LIB_DIR", "TESSERA_NVRTC_DIR"] {
        if let Some(v) = env(var) {
            dirs.extend(std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()));
        }
    }
    for var in ["CUDA_PATH", "CUDA_HOME"] {
        if let Some(v) = env(var) {
            let root = PathBuf::from(v);
            dirs.push(root.join("lib64"));
            dirs.push(root.join("lib"));
        }
    }
    dirs.push("/usr/local/cuda/lib64".into());
    dirs.push("/usr/local/cuda/targets/x86_64-linux/lib".into());
    // Python site-packages: .../python3.X/{site,dist}-packages/nvidia/<component>/lib
    let mut lib_roots: Vec<PathBuf> = vec!["/usr/lib".into(), "/usr/local/lib".into()];
    for opt in subdirs(Path::new("/opt")) {
        lib_roots.push(opt.join(".venv").join("lib"));
    }
    for root in lib_roots {
        for py in subdirs(&root) {
            let name = py.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.starts_with("python3") {
                continue;
            }
            for pkgs in ["site-packages", "dist-packages"] {
                for comp in subdirs(&py.join(pkgs).join("nvidia")) {
                    dirs.push(comp.join("lib"));
                }
            }
        }
    }
    dirs
}

/// Makes `lib{name}.so.N` loadable for `cudarc` if `present()` says it is not yet: opens the
/// first one found in [`search_dirs`] and keeps it loaded. Returns the path it loaded, if any.
pub fn preload(name: &str, present: impl Fn() -> bool) -> Option<PathBuf> {
    // One search at a time; a loaded library stays loaded for the life of the process.
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if present() {
        return None;
    }
    for dir in search_dirs() {
        for major in MAJORS {
            let path = dir.join(format!("lib{name}.so.{major}"));
            if !path.is_file() {
                continue;
            }
            // Companions the library opens by name at run time (NVRTC's builtins; cuBLAS's
            // Lt), which a wheel's folder may not be on the loader's path for either.
            for companion in [
                format!("lib{name}-builtins.so.{major}"),
                format!("lib{name}Lt.so.{major}"),
            ] {
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let file = entry.file_name();
                    let file = file.to_string_lossy();
                    if file.starts_with(&companion) && !file.contains(".alt.") {
                        // SAFETY: as below.
                        if let Ok(lib) = unsafe { libloading::Library::new(entry.path()) } {
                            std::mem::forget(lib);
                        }
                    }
                }
            }
            // SAFETY: NVIDIA's CUDA libraries have no load-time preconditions.
            match unsafe { libloading::Library::new(&path) } {
                Ok(lib) => {
                    std::mem::forget(lib);
                    if present() {
                        tracing::info!(path = %path.display(), "loaded CUDA library from outside the loader path");
                        return Some(path);
                    }
                }
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "CUDA library did not load")
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_dirs_come_first() {
        let dirs = search_dirs_with(|k| match k {
            "TESSERA_CUDA_LIB_DIR" => Some("/x/a:/x/b".into()),
            "CUDA_PATH" => Some("/opt/cuda".into()),
            _ => None,
        });
        assert_eq!(dirs[0], PathBuf::from("/x/a"));
        assert_eq!(dirs[1], PathBuf::from("/x/b"));
        assert_eq!(dirs[2], PathBuf::from("/opt/cuda/lib64"));
        assert!(dirs.contains(&PathBuf::from("/usr/local/cuda/lib64")));
    }

    #[test]
    fn a_missing_library_is_reported_not_loaded() {
        assert_eq!(preload("tessera-no-such-lib", || false), None);
    }
}
