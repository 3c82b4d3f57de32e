//! `gavel test`: run policy test cases (data files) against built
//! components, one line per case and a summary.

use super::{DataDirArg, EXIT_ERROR};
use anyhow::Context;
use gavel::case_file::discover;
use gavel::{ArtifactCache, CaseFile, CaseOutcome, CaseRunner, PolicyEngine};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// A case file, or a directory searched for `tests/*.toml`.
    paths: Vec<PathBuf>,
    /// The directory holding the built components (and, optionally, a
    /// policies.toml whose limits the cases run under).
    #[arg(long)]
    policies: PathBuf,
    /// Run every case against this component (in --policies) instead of
    /// the one each file names.
    #[arg(long)]
    component: Option<PathBuf>,
    /// Print only failures and the summary.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn run(args: TestArgs) -> anyhow::Result<u8> {
    if args.paths.is_empty() {
        anyhow::bail!("give at least one case file or directory");
    }
    let mut files = Vec::new();
    for path in &args.paths {
        let found = discover(path).with_context(|| format!("cannot search {}", path.display()))?;
        if found.is_empty() {
            anyhow::bail!("no case files (tests/*.toml) under {}", path.display());
        }
        files.extend(found);
    }
    let engine = PolicyEngine::new()?;
    std::fs::create_dir_all(&args.data.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data.data_dir.display()
        )
    })?;
    let cache = ArtifactCache::open(&args.data.data_dir, engine.engine())?;
    let mut runner = CaseRunner::new(&engine, &cache, &args.policies, args.component.clone());
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    for path in &files {
        let file = match CaseFile::load(path) {
            Ok(file) => file,
            Err(e) => {
                println!("ERROR {e}");
                broken += 1;
                continue;
            }
        };
        let component = runner.component_for(&file);
        for case in &file.cases {
            match runner.run(&file, case) {
                CaseOutcome::Pass => {
                    passed += 1;
                    if !args.quiet {
                        println!("pass  {} :: {}", path.display(), case.name);
                    }
                }
                CaseOutcome::Fail(why) => {
                    failed += 1;
                    println!(
                        "FAIL  {} :: {} [{}]\n      {why}",
                        path.display(),
                        case.name,
                        component.display()
                    );
                }
            }
        }
    }
    println!(
        "{} passed, {failed} failed, {broken} unreadable file(s) ({} case file(s))",
        passed,
        files.len()
    );
    Ok(if failed == 0 && broken == 0 {
        0
    } else {
        EXIT_ERROR
    })
}
