//! Embedding Gavel in a host application: build a runtime from a policy
//! directory with a watcher, subscribe to generation changes, decide, read
//! the status, and swap policies while deciding.
//!
//! ```sh
//! cargo run --release -p gavel --example embed
//! ```

use gavel::policy_watcher::DEFAULT_DEBOUNCE;
use gavel::{GenerationChange, LogOptions, PolicyWatcher, Request, Runtime};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A policy directory of our own, using the shipped sensitive-actions
    // component.
    let work = tempfile::tempdir()?;
    let policies = work.path().join("policies");
    std::fs::create_dir_all(&policies)?;
    let component =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies-wasm/sensitive_actions.wasm");
    let manifest = |forbidden: &str| {
        format!(
            "[[policy]]\nname = \"sensitive-actions\"\ncomponent = \"{}\"\npriority = 100\n[policy.config]\nforbidden = [\"{forbidden}\"]\n",
            component.display()
        )
    };
    std::fs::write(policies.join("policies.toml"), manifest("delete_account"))?;

    // The runtime: policies plus the decision log in the data directory.
    let runtime = Arc::new(Runtime::start(
        &policies,
        &work.path().join("data"),
        LogOptions::default(),
    )?);
    let changes = runtime.subscribe();
    // Without a watcher, call `runtime.reload()` when you know files changed.
    let watcher = PolicyWatcher::start(runtime.clone(), DEFAULT_DEBOUNCE)?;

    let ask = |action: &str| -> Result<String, Box<dyn std::error::Error>> {
        let request = Request::from_json(&format!(
            r#"{{"agent_id":"support-bot","action":"{action}"}}"#
        ))?;
        let d = runtime.decide(&request);
        Ok(format!(
            "{action}: {} (generation {})",
            d.verdict.as_str(),
            d.generation
        ))
    };
    println!("{}", ask("export_customers")?);

    // An operator forbids exporting customers; the watcher swaps it in.
    std::fs::write(policies.join("policies.toml"), manifest("export_customers"))?;
    match changes.recv_timeout(Duration::from_secs(30))? {
        GenerationChange::Live { generation, cause } => {
            println!("generation {generation} is live ({cause})")
        }
        GenerationChange::Rejected { error } => return Err(error.into()),
    }
    println!("{}", ask("export_customers")?);

    // A broken change is refused; the live set keeps serving.
    std::fs::write(policies.join("policies.toml"), "this is not toml")?;
    if let GenerationChange::Rejected { error } = changes.recv_timeout(Duration::from_secs(30))? {
        println!("refused: {error}");
    }
    println!("{}", ask("export_customers")?);

    let status = runtime.status();
    println!(
        "status: generation {} live, kept {:?}, last refusal: {}",
        status.generation,
        status.kept,
        status
            .last_rejection
            .map(|(_, why)| why)
            .unwrap_or_default()
    );

    // Back to the first generation.
    let back = runtime.rollback(Some(1))?;
    println!(
        "rolled back to generation {back}: {}",
        ask("export_customers")?
    );

    watcher.stop();
    Arc::into_inner(runtime)
        .ok_or("runtime still shared")?
        .close()?;
    Ok(())
}
