//! Running kernels off the async runtime: each job runs on a blocking thread, at most
//! `compute_threads` at once. A CUDA failure falls back to the CPU reference (same bytes by
//! construction) instead of failing the claim.
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};
use tessera_compute::{Backend, BackendKind, Output};
use tokio::sync::Semaphore;
use tracing::warn;

pub struct Compute {
    pub backend: Backend,
    slots: Arc<Semaphore>,
}

impl Compute {
    pub fn new(backend: Backend, threads: usize) -> Compute {
        Compute {
            backend,
            slots: Arc::new(Semaphore::new(threads)),
        }
    }

    /// Checks an input blob against this node's limits without running it.
    pub fn validate(&self, input: &[u8]) -> Result<tessera_compute::Job> {
        tessera_compute::Job::parse(input, self.backend.limits()).map_err(|e| anyhow!(e))
    }

    /// Runs `input`; returns the output and the kernel seconds.
    pub async fn run(&self, input: Vec<u8>) -> Result<(Output, f64)> {
        let _permit = self.slots.acquire().await?;
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            match tessera_compute::run(&input, &backend) {
                Ok(out) => Ok((out, t.elapsed().as_secs_f64())),
                Err(e) if backend.kind() == BackendKind::Cuda => {
                    warn!("CUDA run failed, re-running on the CPU reference: {e}");
                    let t = Instant::now();
                    let out = tessera_compute::run(&input, &Backend::cpu())?;
                    Ok((out, t.elapsed().as_secs_f64()))
                }
                Err(e) => Err(anyhow!(e)),
            }
        })
        .await?
    }
}
