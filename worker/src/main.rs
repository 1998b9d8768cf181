//! `tessera-worker`: the node operator's daemon.
use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tessera-worker",
    version,
    about = "Tessera node operator: claims jobs, runs deterministic kernels on the GPU (CPU fallback), commits and reveals results"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the version, the program id and the compute device this machine would use.
    Version,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Version => {
            println!("{}", tessera_client::version_string("tessera-worker"));
            let backend = tessera_compute::Backend::from_env()?;
            let info = backend.info();
            println!("device: {} ({:?})", info.name, info.kind);
            if let Some(reason) = backend.fallback_reason() {
                println!("note: {reason}");
            }
        }
    }
    Ok(())
}
