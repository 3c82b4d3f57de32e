//! `gavel new` (placeholder until the templates land).

/// Arguments of `gavel new`.
#[derive(clap::Args, Debug)]
pub struct NewArgs {}

pub fn run(_args: NewArgs) -> anyhow::Result<u8> {
    anyhow::bail!("gavel new is not available in this build")
}
