//! Tessera's Rust, compiled to WebAssembly for the web page (`web/`), so the page never
//! re-implements in TypeScript what the SDK, the jobs crate and the kernels already do:
//!
//! - [`chain`]: the network's token and the instructions a wallet signs (the SDK's builders,
//!   with their PDAs), amounts in and out of base units;
//! - [`inputs`]: job inputs built as the CLI builds them — GEMM matrices, a dropped
//!   glTF/GLB/OBJ scene imported and cut into tile jobs, a corpus tokenised into embed shards;
//! - [`results`]: a result checked against the job account's winning hash before anything is
//!   shown, and decoded (tiles to pixels, embeddings to vectors, nearest texts).
//!
//! Every function is plain Rust underneath (tested natively); the `#[wasm_bindgen]` layer only
//! converts. Errors reach JavaScript as `Error`s whose message is the Rust error chain.
use serde::Serialize;
use wasm_bindgen::prelude::*;

pub mod chain;
pub mod inputs;
pub mod results;

/// An error chain as a JavaScript `Error`.
pub(crate) fn js_err(e: anyhow::Error) -> JsError {
    JsError::new(&format!("{e:#}"))
}

/// A value as a plain JavaScript object (byte buffers as `Uint8Array`).
pub(crate) fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    Ok(v.serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true))?)
}

/// The version of this build and the program it talks to.
#[wasm_bindgen]
pub fn version() -> String {
    tessera_sdk::version_string("tessera-web")
}

/// The program id this build is for.
#[wasm_bindgen(js_name = programId)]
pub fn program_id() -> String {
    tessera_sdk::PROGRAM_ID.to_string()
}

/// The clusters a user may pick: `[{name, rpcUrl, wsUrl, builtFor}]`.
#[wasm_bindgen]
pub fn clusters() -> Result<JsValue, JsError> {
    use tessera_sdk::cluster::Cluster;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct C {
        name: &'static str,
        rpc_url: &'static str,
        ws_url: &'static str,
        built_for: bool,
    }
    let all: Vec<C> = [Cluster::Localnet, Cluster::Devnet, Cluster::Mainnet]
        .into_iter()
        .map(|c| C {
            name: c.name(),
            rpc_url: c.rpc_url(),
            ws_url: c.ws_url(),
            built_for: c == Cluster::built_for(),
        })
        .collect();
    to_js(&all)
}

/// Whether this build may send to `url` (a localnet build never sends to a public cluster):
/// throws the SDK's one-line reason when not.
#[wasm_bindgen(js_name = checkRpcUrl)]
pub fn check_rpc_url(url: &str) -> Result<(), JsError> {
    tessera_sdk::cluster::check_url(url).map_err(|e| JsError::new(&e.to_string()))
}

/// The name of a blob: BLAKE3 of its bytes, 64 lower-case hex digits.
#[wasm_bindgen(js_name = blobHash)]
pub fn blob_hash(bytes: &[u8]) -> String {
    tessera_sdk::blob_id::hex(&tessera_sdk::blob_id::hash(bytes))
}

/// A kernel's short name (`render`, `embed`, …) from its id.
#[wasm_bindgen(js_name = kernelName)]
pub fn kernel_name(id: u16) -> String {
    tessera_compute::KernelId::from_u16(id)
        .map_or_else(|| format!("kernel {id}"), |k| k.name().to_string())
}

/// A job state's name, as the CLI prints it.
#[wasm_bindgen(js_name = jobStateName)]
pub fn job_state_name(state: u8) -> String {
    use anchor_lang::AnchorDeserialize;
    tessera::state::JobState::try_from_slice(&[state]).map_or_else(
        |_| format!("state {state}"),
        |s| tessera_sdk::accounts::state_name(s).to_string(),
    )
}

/// A claim state's name, as the CLI prints it.
#[wasm_bindgen(js_name = claimStateName)]
pub fn claim_state_name(state: u8) -> String {
    use anchor_lang::AnchorDeserialize;
    tessera::state::ClaimState::try_from_slice(&[state]).map_or_else(
        |_| format!("state {state}"),
        |s| tessera_sdk::accounts::claim_state_name(s).to_string(),
    )
}
