//! `gavel push DIR REF`: publish a policy directory to an OCI registry.

use super::{DataDirArg, runtime};
use anyhow::Context;
use gavel::oci::artifact::{Artifact, safe_relative};
use gavel::oci::{OciReference, Registry};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// The policy directory (policies.toml and the components it names,
    /// all inside the directory).
    dir: PathBuf,
    /// Where to publish it: HOST[:PORT]/REPO:TAG (an `oci://` prefix is
    /// accepted). Registries on loopback are spoken to over plain HTTP,
    /// all others over HTTPS.
    reference: String,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn run(args: PushArgs) -> anyhow::Result<u8> {
    let reference = OciReference::parse(&args.reference)?;
    if reference.tag.is_none() || reference.digest.is_some() {
        anyhow::bail!(
            "push to a tag, without a digest (HOST[:PORT]/REPO:TAG): the registry gives the digest"
        );
    }
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .context("formatting the creation time")?;
    let artifact = Artifact::from_dir(&args.dir, &created)?;
    check_loads(&artifact, &args.data)
        .with_context(|| format!("{} is not published", args.dir.display()))?;
    let registry = Registry::new(&reference)?;
    for layer in &artifact.layers {
        registry.push_blob(&reference, &layer.bytes)?;
    }
    registry.push_blob(&reference, &artifact.config)?;
    let digest = registry.push_manifest(&reference, &artifact.manifest)?;
    eprintln!(
        "gavel: pushed {} ({} layers) to {reference}; sign it with: gavel sign {}@{digest} --key FILE",
        args.dir.display(),
        artifact.layers.len(),
        reference.at_digest(&digest).repository_name(),
    );
    println!("{digest}");
    Ok(0)
}

/// Load exactly the bytes about to be published, as the runtime would
/// (compile, check the world, validate configs, smoke-evaluate), from a
/// staging directory in the data directory.
fn check_loads(artifact: &Artifact, data: &DataDirArg) -> anyhow::Result<()> {
    let staging = data.data_dir.join(format!(
        "oci/.push-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let loaded = stage(artifact, &staging).and_then(|()| {
        let set = runtime::load_policy_set(&staging, data)?;
        set.smoke_test()?;
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&staging);
    loaded
}

fn stage(artifact: &Artifact, dir: &Path) -> anyhow::Result<()> {
    for layer in &artifact.layers {
        let relative = safe_relative(&layer.title).map_err(anyhow::Error::msg)?;
        let file = dir.join(relative);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, &layer.bytes)
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(())
}
