//! Tessera's jobs: job files, input builders, posting, following and verified results for
//! every kernel, render plans and tiles, scene import, embeddings. It builds on `tessera-sdk`
//! (instructions, PDAs, accounts, blob names), `tessera-rpc` and `tessera-blobs`; the `tessera`
//! binary is `tessera-cli`.
//!
//! Cargo features choose how much of it a program pulls in (see `Cargo.toml`): `offline` is
//! everything that needs no network (it builds for wasm32), `jobs` adds posting and fetching.

// `offline`: job files, input builders, scene import, render plans, embeddings files.
#[cfg(feature = "offline")]
pub mod embedding;
#[cfg(feature = "offline")]
pub mod generation;
#[cfg(feature = "offline")]
pub mod jobspec;
#[cfg(feature = "offline")]
pub mod loss_plot;
#[cfg(feature = "offline")]
pub mod render_plan;
#[cfg(feature = "offline")]
pub mod scene_import;
#[cfg(feature = "offline")]
pub mod training;
#[cfg(feature = "offline")]
pub mod verify;

// `jobs`: posting, following and verified results, over RPC and the blob store.
#[cfg(feature = "jobs")]
pub mod embed_jobs;
#[cfg(feature = "jobs")]
pub mod generate_jobs;
#[cfg(feature = "jobs")]
pub mod jobs;
#[cfg(feature = "jobs")]
pub mod render_jobs;
#[cfg(feature = "jobs")]
pub mod train_jobs;
