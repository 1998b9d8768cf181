#![allow(clippy::result_large_err)]
//! Test fixtures shared by the Tessera test suites.
//!
//! * [`svm`]: in-process tests against the built `target/deploy/tessera.so` on LiteSVM.
//! * [`world`]: a client, staked nodes and a cranker on LiteSVM, for scenario tests.
//! * [`localnet`]: helpers for tests that run against a real `solana-test-validator`
//!   (started by `anchor test`).
pub mod faultproxy;
pub mod localnet;
pub mod network;
pub mod svm;
pub mod world;
