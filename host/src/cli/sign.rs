//! `gavel sign REF --key FILE`: attach an Ed25519 signature over a policy
//! set's manifest digest (cosign's tag layout); `gavel sign
//! --generate-key FILE` writes a key pair.

use anyhow::Context;
use gavel::oci::artifact::{Descriptor, ImageManifest, MAX_OCI_MANIFEST_BYTES, OCI_MANIFEST};
use gavel::oci::signature::{
    self, generate_key, public_key_path, read_signing_key, signature_layer, signature_manifest,
    signature_tag,
};
use gavel::oci::{OciError, OciReference, Registry};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct SignArgs {
    /// The policy set to sign: HOST[:PORT]/REPO@sha256:... (or :TAG,
    /// resolved to its digest now; the signature is over the digest).
    #[arg(required_unless_present = "generate_key")]
    reference: Option<String>,
    /// The signing key file (64 hex digits, mode 0600).
    #[arg(long, required_unless_present = "generate_key")]
    key: Option<PathBuf>,
    /// Write a new key pair instead: FILE (the secret, mode 0600, never
    /// overwritten) and FILE.pub (the public key for `serve --trust-key`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["reference", "key"])]
    generate_key: Option<PathBuf>,
}

pub fn run(args: SignArgs) -> anyhow::Result<u8> {
    if let Some(path) = &args.generate_key {
        let public = generate_key(path)?;
        println!(
            "gavel: wrote the signing key {} (keep it secret) and the public key {} ({})",
            path.display(),
            public_key_path(path).display(),
            hex::encode(public.as_bytes())
        );
        return Ok(0);
    }
    let (Some(text), Some(key_file)) = (&args.reference, &args.key) else {
        anyhow::bail!("give REF and --key FILE, or --generate-key FILE");
    };
    let key = read_signing_key(key_file)?;
    let reference = OciReference::parse(text)?;
    let registry = Registry::new(&reference)?;
    let digest = match &reference.digest {
        Some(d) => d.clone(),
        None => registry.resolve(&reference)?,
    };
    let at = reference.at_digest(&digest);
    let (manifest, _) = registry
        .manifest(&at, MAX_OCI_MANIFEST_BYTES)?
        .ok_or_else(|| OciError::NotFound {
            what: format!("the manifest {at}"),
        })?;
    let payload = signature::payload(&reference.repository_name(), &digest);
    let signed = signature::sign(&key, &payload);
    let tag = signature_tag(&digest);
    let sig_ref = reference.at_tag(&tag);
    // Keep the signatures already attached (several keys may sign).
    let mut layers = match registry.manifest(&sig_ref, MAX_OCI_MANIFEST_BYTES)? {
        Some((bytes, _)) => ImageManifest::parse(&bytes)
            .map(|m| m.layers)
            .with_context(|| format!("the signatures already at {sig_ref}"))?,
        None => Vec::new(),
    };
    let layer = signature_layer(&payload, &signed);
    if !layers.contains(&layer) {
        registry.push_blob(&reference, &payload)?;
        layers.push(layer);
    }
    let subject = Descriptor::of(OCI_MANIFEST, &manifest, None);
    let (bytes, config) = signature_manifest(&subject, layers);
    registry.push_blob(&reference, &config)?;
    registry.push_manifest(&sig_ref, &bytes)?;
    println!("gavel: signed {digest} (signatures at {sig_ref})");
    Ok(0)
}
