//! `gavel componentize` (placeholder until the encoder lands).

/// Arguments of `gavel componentize`.
#[derive(clap::Args, Debug)]
pub struct ComponentizeArgs {}

pub fn run(_args: ComponentizeArgs) -> anyhow::Result<u8> {
    anyhow::bail!("gavel componentize is not available in this build")
}
