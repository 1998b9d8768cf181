//! Checking a job's result against the chain, with no I/O: what `tessera job result` does after
//! fetching, and what the web page does in the browser before it shows anything. The result
//! blob must hash to the winning hash the job account records (it is the result's canonical
//! encoding), be for the job's kernel and spec version, and the input (which must hash to the
//! job's spec hash) gives the output's shape.
use anyhow::{bail, Result};
use tessera::state::Job;
use tessera_compute::{Limits, Output};
use tessera_sdk::blob_id::{hash, hex};

/// Why a result is not the one the network agreed on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResultMismatch {
    /// The job has no agreed result yet.
    #[error("the job has no verified result yet")]
    NoWinner,
    /// The blob is not the result the chain records.
    #[error("the result does not match the on-chain hash: it hashes to {got}, the job's winning hash is {want}")]
    Hash { got: String, want: String },
    /// The input is not the job's.
    #[error("the input does not match the job: it hashes to {got}, the job's spec hash is {want}")]
    Input { got: String, want: String },
}

/// What a job account says its result must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// The hash the replicas agreed on.
    pub winning_hash: [u8; 32],
    /// The hash of the job's input blob.
    pub spec_hash: [u8; 32],
    /// The job's kernel id and spec version.
    pub kernel_id: u16,
    pub spec_version: u16,
}

impl Expected {
    /// From a job account; [`ResultMismatch::NoWinner`] while it has no agreed result.
    pub fn of(job: &Job) -> Result<Expected> {
        if !job.has_winner {
            bail!(ResultMismatch::NoWinner);
        }
        Ok(Expected {
            winning_hash: job.winning_hash,
            spec_hash: job.spec_hash,
            kernel_id: job.kernel_id,
            spec_version: job.spec_version,
        })
    }
}

/// `result_blob` checked against `job` (see the module docs); the output with its shape.
pub fn verify_result(job: &Job, result_blob: &[u8], input_blob: &[u8]) -> Result<Output> {
    verify_against(&Expected::of(job)?, result_blob, input_blob)
}

/// [`verify_result`] against what a job account says.
pub fn verify_against(want: &Expected, result_blob: &[u8], input_blob: &[u8]) -> Result<Output> {
    let got = hash(result_blob);
    if got != want.winning_hash {
        bail!(ResultMismatch::Hash {
            got: hex(&got),
            want: hex(&want.winning_hash)
        });
    }
    let got = hash(input_blob);
    if got != want.spec_hash {
        bail!(ResultMismatch::Input {
            got: hex(&got),
            want: hex(&want.spec_hash)
        });
    }
    let (kernel, version, bytes) = tessera_compute::parse_result_blob(result_blob)?;
    if kernel.as_u16() != want.kernel_id || version != want.spec_version {
        bail!(
            "result blob is for {kernel} v{version}, the job is kernel {} v{}",
            want.kernel_id,
            want.spec_version
        );
    }
    let parsed = tessera_compute::Job::parse(input_blob, &Limits::default())?;
    Ok(Output {
        kernel,
        spec_version: version,
        bytes: bytes.to_vec(),
        meta: parsed.output_meta(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_compute::{gemm, Backend, KernelId, OutputMeta};

    fn gemm_job() -> (Expected, Vec<u8>, Vec<u8>) {
        let input = gemm::build_f32_input(3, 4, 5, 7).unwrap();
        let out = tessera_compute::run(&input, &Backend::cpu()).unwrap();
        let want = Expected {
            winning_hash: out.hash(),
            spec_hash: hash(&input),
            kernel_id: KernelId::GemmF32.as_u16(),
            spec_version: 1,
        };
        (want, out.blob(), input)
    }

    fn mismatch(e: anyhow::Error) -> ResultMismatch {
        e.downcast().expect("a ResultMismatch")
    }

    #[test]
    fn the_agreed_result_verifies_with_its_shape() {
        let (want, result, input) = gemm_job();
        let out = verify_against(&want, &result, &input).unwrap();
        assert_eq!(out.meta, OutputMeta::Matrix { rows: 3, cols: 4 });
        assert_eq!(out.hash(), want.winning_hash);
    }

    #[test]
    fn a_tampered_result_or_another_input_is_refused_by_name() {
        let (want, mut result, input) = gemm_job();
        let last = result.len() - 1;
        result[last] ^= 1;
        assert!(matches!(
            mismatch(verify_against(&want, &result, &input).unwrap_err()),
            ResultMismatch::Hash { .. }
        ));
        let (want, result, _) = gemm_job();
        let other = gemm::build_f32_input(3, 4, 5, 8).unwrap();
        assert!(matches!(
            mismatch(verify_against(&want, &result, &other).unwrap_err()),
            ResultMismatch::Input { .. }
        ));
        // the right bytes claimed for another kernel
        let wrong = Expected {
            kernel_id: KernelId::GemmI8.as_u16(),
            ..want
        };
        let e = verify_against(&wrong, &result, &gemm_job().2).unwrap_err();
        assert!(e.to_string().contains("the job is kernel 1"), "{e}");
    }
}
