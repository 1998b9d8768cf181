// Tessera's Rust compiled to WebAssembly (crates/wasm, built by web/build.sh): PDAs and
// instructions, job inputs, result checks and decoding. Loaded once, before any page renders.
import init from './wasm/tessera_wasm.js';
import wasmUrl from './wasm/tessera_wasm_bg.wasm?url';

export * as tw from './wasm/tessera_wasm.js';
export const wasmReady: Promise<unknown> = init({ module_or_path: wasmUrl });
