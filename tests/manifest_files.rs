//! Manifests and files that cannot fail open: a manifest that names no
//! policy is refused (never loaded as a set that approves everything), and
//! every file named by a policy directory is read only if it is a regular
//! file under its cap, so a device, a FIFO or a huge file is refused at
//! once with an error naming it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use gavel::{LogOptions, ReloadOutcome, Request, Runtime, Verdict};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DELETE: &str = r#"{"agent_id":"a","action":"delete_account"}"#;

/// A manifest that denies `delete_account`.
fn guarded() -> String {
    format!(
        "[[policy]]\nname = \"guard\"\ncomponent = \"{}\"\npriority = 1\n[policy.config]\nforbidden = [\"delete_account\"]\n",
        common::shipped("sensitive_actions").display()
    )
}

/// The shipped manifest cut off just before its first `[[policy]]`, as an
/// in-place write can leave it for a moment.
fn shipped_cut_before_first_policy() -> String {
    let text = std::fs::read_to_string(common::root().join("policies-wasm/policies.toml")).unwrap();
    let cut = text.find("[[policy]]").unwrap();
    text[..cut].to_owned()
}

/// Manifests that name no policy: (label, text).
fn no_policy() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("blank", "\n  \n".to_owned()),
        (
            "comments only",
            "# policies go here\n# [[policy]]\n".to_owned(),
        ),
        (
            "cut before the first policy",
            shipped_cut_before_first_policy(),
        ),
        ("approve_all = false", "approve_all = false\n".to_owned()),
    ]
}

/// Run `gavel` with a deadline: a command that blocks (on a FIFO, say)
/// is killed and fails the test.
fn gavel_within(args: &[&str], data: &Path, deadline: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .env("GAVEL_DATA_DIR", data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "gavel {args:?} still running after {deadline:?}: {}",
                common::stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn eval_delete(dir: &Path, data: &Path) -> Output {
    gavel_within(
        &[
            "eval",
            "--policies",
            &dir.display().to_string(),
            "--action",
            DELETE,
        ],
        data,
        Duration::from_secs(60),
    )
}

fn list(dir: &Path, data: &Path) -> Output {
    gavel_within(
        &["policies", "--policies", &dir.display().to_string()],
        data,
        Duration::from_secs(60),
    )
}

#[test]
fn a_manifest_that_names_no_policy_is_refused_by_the_library_and_the_cli() {
    let data = tempfile::tempdir().unwrap();
    for (label, text) in no_policy() {
        let err = common::load(&text).expect_err(label).to_string();
        assert!(err.contains("approve_all = true"), "{label}: {err}");

        let dir = common::policy_dir(&text);
        let out = eval_delete(dir.path(), data.path());
        assert_eq!(
            out.status.code(),
            Some(1),
            "{label}: {}",
            common::stdout(&out)
        );
        assert!(!common::stdout(&out).contains("approve"), "{label}");
        assert!(common::stderr(&out).contains("policies.toml"), "{label}");
        assert!(
            common::stderr(&out).contains("approve_all = true"),
            "{label}: {}",
            common::stderr(&out)
        );

        let out = list(dir.path(), data.path());
        assert_eq!(
            out.status.code(),
            Some(1),
            "{label}: {}",
            common::stdout(&out)
        );
        assert!(
            common::stderr(&out).contains("approve_all = true"),
            "{label}: {}",
            common::stderr(&out)
        );
    }
}

#[test]
fn a_live_reload_to_a_manifest_that_names_no_policy_keeps_the_old_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("policies.toml");
    std::fs::write(&manifest, guarded()).unwrap();
    let runtime = Runtime::start(dir.path(), data.path(), LogOptions::default()).unwrap();
    let delete = Request::from_json(DELETE).unwrap();
    assert_eq!(runtime.decide(&delete).verdict, Verdict::Deny);
    let live = runtime.generation();
    for (label, text) in no_policy() {
        // Back to the live content first: a refusal is reported once per
        // change away from it.
        std::fs::write(&manifest, guarded()).unwrap();
        assert_eq!(runtime.reload().unwrap(), ReloadOutcome::Unchanged);
        // Written in place, as `cat > policies.toml` would.
        std::fs::write(&manifest, &text).unwrap();
        let err = runtime.reload().expect_err(label).to_string();
        assert!(err.contains("approve_all = true"), "{label}: {err}");
        assert_eq!(runtime.generation(), live, "{label}: the old set stays");
        let d = runtime.decide(&delete);
        assert_eq!(d.verdict, Verdict::Deny, "{label}: {d:?}");
        assert_eq!(d.policies[0].policy, "guard", "{label}");
    }
    runtime.close().unwrap();
}

#[test]
fn approve_all_is_an_explicit_choice() {
    let data = tempfile::tempdir().unwrap();
    let dir = common::policy_dir("# nothing is enforced here yet\napprove_all = true\n");
    let out = eval_delete(dir.path(), data.path());
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains(r#""verdict":"approve""#));
    let out = list(dir.path(), data.path());
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("approve_all = true"));

    // Together with policies it is a contradiction, refused.
    let dir = common::policy_dir(&format!("approve_all = true\n{}", guarded()));
    let out = eval_delete(dir.path(), data.path());
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(
        err.contains("line 1") && err.contains("contradicts"),
        "{err}"
    );
}

/// How a file named by a policy directory is made unreadable.
#[derive(Debug, Clone, Copy)]
enum Bad {
    /// A symlink to `/dev/zero`.
    DevZero,
    /// A FIFO with no writer.
    Fifo,
    /// A directory.
    Directory,
    /// A regular file over its cap.
    Oversize,
}

fn make(bad: Bad, path: &Path, oversize: usize) {
    match bad {
        Bad::DevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        Bad::Fifo => {
            let status = Command::new("mkfifo").arg(path).status().unwrap();
            assert!(status.success());
        }
        Bad::Directory => std::fs::create_dir(path).unwrap(),
        Bad::Oversize => {
            let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
            bytes.resize(oversize, 0);
            std::fs::write(path, bytes).unwrap();
        }
    }
}

/// Rows: (which file, how it is bad, what the error says about it).
const UNREADABLE: &[(&str, Bad, &str)] = &[
    (
        "component",
        Bad::DevZero,
        "is not a regular file (it is a character device)",
    ),
    (
        "component",
        Bad::Fifo,
        "is not a regular file (it is a FIFO)",
    ),
    (
        "component",
        Bad::Directory,
        "is not a regular file (it is a directory)",
    ),
    (
        "component",
        Bad::Oversize,
        "is larger than the limit of 1048576 bytes",
    ),
    (
        "manifest",
        Bad::DevZero,
        "is not a regular file (it is a character device)",
    ),
    (
        "manifest",
        Bad::Fifo,
        "is not a regular file (it is a FIFO)",
    ),
    (
        "manifest",
        Bad::Directory,
        "is not a regular file (it is a directory)",
    ),
    (
        "manifest",
        Bad::Oversize,
        "is larger than the limit of 4194304 bytes",
    ),
];

/// A policy directory whose component (or manifest) is made bad. The
/// manifest caps components at 1 MiB.
fn unreadable_dir(which: &str, bad: Bad) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("policies.toml");
    let component = dir.path().join("bad.wasm");
    let text = "max_component_mb = 1\n[[policy]]\nname = \"bad\"\ncomponent = \"bad.wasm\"\npriority = 1\n";
    if which == "component" {
        std::fs::write(&manifest, text).unwrap();
        make(bad, &component, (1 << 20) + 1);
        (dir, component.display().to_string())
    } else {
        make(bad, &manifest, (4 << 20) + 1);
        (dir, manifest.display().to_string())
    }
}

#[test]
fn unreadable_files_are_refused_at_once_by_the_library() {
    for (which, bad, fragment) in UNREADABLE {
        let (dir, named) = unreadable_dir(which, *bad);
        let path = dir.path().to_path_buf();
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let engine = gavel::PolicyEngine::new().unwrap();
            let data = tempfile::tempdir().unwrap();
            let cache = gavel::ArtifactCache::open(data.path(), engine.engine()).unwrap();
            let _ = send.send(
                gavel::PolicySet::load(&path, &engine, &cache)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        });
        let err = receive
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{which} {bad:?}: the load blocked"))
            .expect_err("refused");
        assert!(err.contains(&named), "{which} {bad:?}: {err}");
        assert!(err.contains(fragment), "{which} {bad:?}: {err}");
    }
}

#[test]
fn unreadable_files_are_refused_at_once_by_the_cli() {
    let data = tempfile::tempdir().unwrap();
    for (which, bad, fragment) in UNREADABLE {
        let (dir, named) = unreadable_dir(which, *bad);
        for out in [
            eval_delete(dir.path(), data.path()),
            list(dir.path(), data.path()),
        ] {
            let err = common::stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{which} {bad:?}: {err}");
            assert!(err.contains(&named), "{which} {bad:?}: {err}");
            assert!(err.contains(fragment), "{which} {bad:?}: {err}");
        }
    }
}

/// A file named by mistake as a component is not quoted in the error.
#[test]
fn a_non_component_is_refused_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("accounts.wasm");
    std::fs::write(
        &copy,
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    )
    .unwrap();
    let mut components = vec![copy.display().to_string()];
    if Path::new("/etc/passwd").is_file() {
        components.push("/etc/passwd".to_owned());
    }
    for component in components {
        let content = std::fs::read_to_string(&component).unwrap();
        let manifest =
            format!("[[policy]]\nname = \"p\"\ncomponent = \"{component}\"\npriority = 1\n");
        let err = common::load(&manifest).expect_err(&component).to_string();
        assert!(err.contains("not a WebAssembly component"), "{err}");
        assert!(err.contains(&component), "{err}");
        let without_path = err.replace(&component, "");
        for line in content.lines().take(5) {
            for field in line.split(':').filter(|f| f.len() > 3) {
                assert!(
                    !without_path.contains(field),
                    "{component}: the error quotes {field:?}: {err}"
                );
            }
        }
        assert!(!without_path.contains("root"), "{err}");
    }
}

/// A manifest error names the policy, the key and the line, through the
/// binary too.
#[test]
fn out_of_range_integers_name_the_policy_key_and_line() {
    let data = tempfile::tempdir().unwrap();
    let component = common::shipped("sensitive_actions").display().to_string();
    let rows = [
        (
            format!(
                "[[policy]]\nname = \"big\"\ncomponent = \"{component}\"\npriority = 9223372036854775808\n"
            ),
            ["policy `big`", "priority", "line 4"],
        ),
        (
            format!(
                "[[policy]]\nname = \"hungry\"\ncomponent = \"{component}\"\npriority = 1\n\nfuel = 18446744073709551615\n"
            ),
            ["policy `hungry`", "fuel", "line 6"],
        ),
    ];
    for (manifest, fragments) in rows {
        let dir = common::policy_dir(&manifest);
        let out = list(dir.path(), data.path());
        assert_eq!(out.status.code(), Some(1));
        let err = common::stderr(&out);
        for fragment in fragments {
            assert!(err.contains(fragment), "{fragment:?} not in {err}");
        }
    }
}

/// Other files an operator names on the command line: a FIFO given as a
/// case file (`gavel test`) or as a decision log (`gavel replay`) is
/// refused at once, naming it.
#[test]
fn fifos_named_on_the_command_line_are_refused_at_once() {
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("tests");
    std::fs::create_dir(&tests).unwrap();
    let case_file = tests.join("cases.toml");
    make(Bad::Fifo, &case_file, 0);
    let log = dir.path().join("gavel.redb");
    make(Bad::Fifo, &log, 0);
    let shipped = common::shipped_dir();
    let rows: [(Vec<&str>, &Path); 3] = [
        (
            vec!["test", &case_file.to_str().unwrap(), "--policies", &shipped],
            &case_file,
        ),
        (
            vec!["test", dir.path().to_str().unwrap(), "--policies", &shipped],
            &case_file,
        ),
        (
            vec![
                "replay",
                "--log",
                log.to_str().unwrap(),
                "--policies",
                &shipped,
            ],
            &log,
        ),
    ];
    for (args, named) in rows {
        let out = gavel_within(&args, data.path(), Duration::from_secs(60));
        let shown = format!("{}{}", common::stdout(&out), common::stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {shown}");
        assert!(
            shown.contains(&named.display().to_string()),
            "{args:?}: {shown}"
        );
        assert!(
            shown.contains("is not a regular file (it is a FIFO)"),
            "{args:?}: {shown}"
        );
    }
}
