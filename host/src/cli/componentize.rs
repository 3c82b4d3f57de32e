//! `gavel componentize`: a WASI preview-1 core module into a policy
//! component, checked loadable, written atomically.

use anyhow::Context;
use gavel::PolicyEngine;
use gavel::componentize::{check_loadable, componentize, componentize_with_wit, read_core_module};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `gavel componentize`.
#[derive(clap::Args, Debug)]
pub struct ComponentizeArgs {
    /// The core module (wasm32-wasip1, with the `component-type` custom
    /// section that `wit-bindgen c` generates).
    pub core: PathBuf,
    /// Where to write the component. Written whole or not at all.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// A WIT package directory (e.g. `wit/v0.3.0`) whose world to embed
    /// first, for a module built without a `component-type` section.
    #[arg(long)]
    pub wit: Option<PathBuf>,
    /// The world in `--wit` (default: the package's only world).
    #[arg(long, requires = "wit")]
    pub world: Option<String>,
}

pub fn run(args: ComponentizeArgs) -> anyhow::Result<u8> {
    let core = read_core_module(&args.core)?;
    let component = match &args.wit {
        Some(dir) => componentize_with_wit(&core, dir, args.world.as_deref()),
        None => componentize(&core),
    }
    .with_context(|| format!("componentizing {}", args.core.display()))?;
    let engine = PolicyEngine::new().context("starting the policy engine")?;
    let version = check_loadable(&engine, &component)
        .with_context(|| format!("componentizing {}", args.core.display()))?;
    write_atomically(&args.output, &component)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote {} ({} bytes, gavel:policy@{version})",
        args.output.display(),
        component.len()
    );
    Ok(0)
}

/// Write `bytes` to a new temporary file beside `path`, flush it to disk
/// and rename it over `path`: a reader sees the old file or the whole new
/// one, never a partial one. On any failure the temporary file is removed.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} does not name a file", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // Best effort: the temporary file may not exist (create_new failed).
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    Ok(())
}
