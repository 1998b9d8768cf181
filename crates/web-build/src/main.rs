//! `tessera-web-build <tessera_wasm.wasm> <out dir>`: writes the page's bindings of the
//! WebAssembly build of `tessera-wasm` (`--target web`: an ES module whose `init()` loads the
//! `.wasm` beside it, with TypeScript declarations). Run by `web/build.sh`.
use anyhow::{bail, Context, Result};
use wasm_bindgen_cli_support::Bindgen;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out] = args.as_slice() else {
        bail!("usage: tessera-web-build <tessera_wasm.wasm> <out dir>");
    };
    Bindgen::new()
        .input_path(input)
        .web(true)?
        .typescript(true)
        .omit_default_module_path(false)
        .generate(out)
        .with_context(|| format!("writing the bindings of {input} into {out}"))?;
    Ok(())
}
