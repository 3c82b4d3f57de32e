//! Loading a policy directory for a command.

use super::DataDirArg;
use anyhow::Context;
use gavel::{ArtifactCache, PolicyEngine, PolicySet};
use std::path::Path;

/// Build the engine, open the artifact cache in the data directory, and
/// load the policy directory.
pub fn load_policy_set(policies: &Path, data: &DataDirArg) -> anyhow::Result<PolicySet> {
    let engine = PolicyEngine::new()?;
    std::fs::create_dir_all(&data.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            data.data_dir.display()
        )
    })?;
    let cache = ArtifactCache::open(&data.data_dir, engine.engine())?;
    Ok(PolicySet::load(policies, &engine, &cache)?)
}
