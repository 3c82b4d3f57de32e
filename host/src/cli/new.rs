//! `gavel new NAME --lang LANG [--dir DIR]`: a policy project that builds
//! and passes its own case file, from a template compiled into the binary
//! (`host/templates/<lang>/`).
//!
//! The project appears whole or not at all: it is written into a hidden
//! folder beside the target and renamed into place, and an existing target
//! is never touched.

use anyhow::{Context, bail};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The languages a project can be created in.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
    C,
    Rules,
}

/// Arguments of `gavel new`.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// The policy's name: lowercase ASCII letters, digits and `-`, starting
    /// with a letter (e.g. `refund-guard`). The project is DIR/NAME.
    name: String,
    /// The language of the policy (`rules`: CEL conditions in the manifest,
    /// run by rules.wasm, no compiler).
    #[arg(long, value_enum)]
    lang: Lang,
    /// Where to create the project folder.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The Gavel checkout whose SDK, WIT and rules.wasm the project builds
    /// against (default: the one this binary was built from).
    #[arg(long, env = "GAVEL_ROOT")]
    gavel_root: Option<PathBuf>,
}

/// One file of a template: its path in the project and its text.
type TemplateFile = (&'static str, &'static str);

macro_rules! template {
    ($lang:literal; $($path:literal),+ $(,)?) => {
        &[$(($path, include_str!(concat!("../../templates/", $lang, "/", $path)))),+]
    };
}

/// Every file of every template. `tests/scaffold.rs` checks that these
/// lists name every file of `host/templates/`.
pub fn template_files(lang: Lang) -> &'static [TemplateFile] {
    match lang {
        Lang::Rust => template!("rust";
            ".gitignore", "Cargo.toml", "README.md", "build.sh", "policies.toml",
            "src/lib.rs", "tests/cases.toml"),
        Lang::Python => template!("python";
            ".gitignore", "README.md", "build.sh", "policies.toml", "requirements.txt",
            "src/policy.py", "tests/cases.toml"),
        Lang::Js => template!("js";
            ".gitignore", "README.md", "build.sh", "package.json", "policies.toml",
            "src/policy.js", "tests/cases.toml"),
        Lang::C => template!("c";
            "README.md", "build.sh", "policies.toml", "src/policy.c", "tests/cases.toml"),
        Lang::Rules => template!("rules";
            "README.md", "build.sh", "policies.toml", "tests/cases.toml"),
    }
}

/// Why `name` cannot name a policy project, or `None`.
pub fn name_problem(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > 64 {
        return Some("must be 1 to 64 characters");
    }
    if !bytes.first().is_some_and(u8::is_ascii_lowercase) {
        return Some("must start with a lowercase ASCII letter");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return Some("may hold only lowercase ASCII letters, digits and `-`");
    }
    if name.ends_with('-') || name.contains("--") {
        return Some("may not end with `-` or hold `--`");
    }
    None
}

/// `refund-guard` → `RefundGuard`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The checkout this binary was built from.
fn built_from() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().unwrap_or(manifest_dir);
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

pub fn run(args: NewArgs) -> anyhow::Result<u8> {
    if let Some(problem) = name_problem(&args.name) {
        bail!("policy name `{}`: {problem}", args.name);
    }
    let root = match args.gavel_root {
        Some(root) => root
            .canonicalize()
            .with_context(|| format!("--gavel-root {}", root.display()))?,
        None => built_from(),
    };
    let root_text = root
        .to_str()
        .context("the Gavel checkout's path is not UTF-8")?;
    if !root.join("wit/v0.3.0/policy.wit").is_file() {
        eprintln!(
            "warning: {} holds no Gavel checkout (wit/v0.3.0/policy.wit); the project's build \
             will fail until --gavel-root points at one",
            root.display()
        );
    }
    let target = args.dir.join(&args.name);
    if fs::symlink_metadata(&target).is_ok() {
        bail!("{} already exists; nothing was written", target.display());
    }
    fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let snake = args.name.replace('-', "_");
    let replacements = [
        ("{{name}}", args.name.as_str()),
        ("{{snake}}", snake.as_str()),
        ("{{camel}}", &camel(&args.name)),
        ("{{gavel_root}}", root_text),
    ];
    let files = template_files(args.lang);
    let staged = args
        .dir
        .join(format!(".{}.new-{}", args.name, std::process::id()));
    fs::create_dir(&staged).with_context(|| format!("creating {}", staged.display()))?;
    let written = files.iter().try_for_each(|(path, text)| {
        let rendered = replacements
            .iter()
            .fold((*text).to_owned(), |acc, (from, to)| acc.replace(from, to));
        write_file(&staged.join(path), &rendered, path.ends_with(".sh"))
    });
    // A target that appeared meanwhile is not replaced: rename onto an
    // existing non-empty folder fails.
    let moved = written.and_then(|()| {
        fs::rename(&staged, &target)
            .with_context(|| format!("moving the project to {}", target.display()))
    });
    if let Err(e) = moved {
        let _ = fs::remove_dir_all(&staged);
        return Err(e);
    }
    println!("created {} ({:?})", target.display(), args.lang);
    println!("  cd {}", target.display());
    println!("  ./build.sh");
    println!("  gavel test tests --policies .");
    Ok(0)
}

fn write_file(path: &Path, text: &str, executable: bool) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if executable { 0o755 } else { 0o644 });
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        // (name, accepted)
        let cases = [
            ("refund-guard", true),
            ("a", true),
            ("p2p-limits", true),
            ("", false),
            ("Refund", false),
            ("2fa", false),
            ("-a", false),
            ("a-", false),
            ("a--b", false),
            ("a_b", false),
            ("a b", false),
            ("é", false),
            (&"a".repeat(65), false),
            (&"a".repeat(64), true),
        ];
        for (name, accepted) in cases {
            assert_eq!(name_problem(name).is_none(), accepted, "{name:?}");
        }
    }

    #[test]
    fn camel_case() {
        assert_eq!(camel("refund-guard"), "RefundGuard");
        assert_eq!(camel("a"), "A");
        assert_eq!(camel("p2p-x"), "P2pX");
    }
}
