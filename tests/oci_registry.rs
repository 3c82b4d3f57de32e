//! Policy sets from a real OCI registry (Debian's docker-registry 2.8 on
//! loopback): `gavel push`, `gavel sign`, `gavel serve --policies
//! oci://...` pinned and polling, and every refusal (unsigned, untrusted
//! or corrupted signature, a payload naming another digest, a descriptor
//! whose size does not match its blob, a tag without a digest, the
//! registry gone), each leaving the live set as it was.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

mod common;

use common::registry::RegistryServer;
use common::server::{Server, shipped_copy};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPO: &str = "gavel/policies";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Run the CLI: (success, stdout, stderr).
fn gavel(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .output()
        .expect("run gavel");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Key pairs: two trusted, one not.
struct Keys {
    _dir: tempfile::TempDir,
    trusted: PathBuf,
    second: PathBuf,
    untrusted: PathBuf,
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str| {
            let path = dir.path().join(name);
            let (ok, _, err) = gavel(&["sign", "--generate-key", path.to_str().unwrap()]);
            assert!(ok, "{err}");
            path
        };
        Keys {
            trusted: make("trusted.key"),
            second: make("second.key"),
            untrusted: make("untrusted.key"),
            _dir: dir,
        }
    }

    fn public(key: &Path) -> String {
        format!("{}.pub", key.display())
    }
}

/// The shipped set, marked as version `n`; `forbid_pricing` keeps
/// `change_pricing_tiers` forbidden (a deny), otherwise it is approved.
fn version(n: u32, forbid_pricing: bool) -> tempfile::TempDir {
    let dir = shipped_copy();
    let file = dir.path().join("policies.toml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    if !forbid_pricing {
        let before = text.clone();
        text = text.replace("\"change_pricing_tiers\", ", "");
        assert_ne!(
            text, before,
            "the shipped manifest forbids change_pricing_tiers"
        );
    }
    std::fs::write(&file, format!("# version {n}\n{text}")).unwrap();
    dir
}

/// `gavel push DIR ADDR/REPO:TAG`; the digest it prints.
fn push(dir: &Path, addr: &str, tag: &str, data: &Path) -> String {
    let target = format!("{addr}/{REPO}:{tag}");
    let (ok, out, err) = gavel(&[
        "push",
        dir.to_str().unwrap(),
        &target,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "push: {err}");
    let digest = out.trim().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{out}");
    digest
}

fn sign(addr: &str, digest: &str, key: &Path) {
    let (ok, _, err) = gavel(&[
        "sign",
        &format!("{addr}/{REPO}@{digest}"),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(ok, "sign: {err}");
}

fn sig_tag(digest: &str) -> String {
    format!("sha256-{}.sig", digest.trim_start_matches("sha256:"))
}

/// GET a manifest (raw HTTP).
fn get_manifest(addr: &str, reference: &str) -> String {
    ureq::get(format!("http://{addr}/v2/{REPO}/manifests/{reference}"))
        .header("Accept", OCI_MANIFEST)
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap()
}

/// PUT a manifest under `tag` (raw HTTP); the registry's digest.
fn put_manifest(addr: &str, tag: &str, body: &str) -> String {
    let response = ureq::put(format!("http://{addr}/v2/{REPO}/manifests/{tag}"))
        .header("Content-Type", OCI_MANIFEST)
        .send(body.as_bytes())
        .unwrap();
    response
        .headers()
        .get("Docker-Content-Digest")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// Point `tag` at the manifest of `digest`.
fn retag(addr: &str, digest: &str, tag: &str) {
    let body = get_manifest(addr, digest);
    assert_eq!(put_manifest(addr, tag, &body), digest);
}

/// Change one character of every signature attached to `digest`.
fn corrupt_signatures(addr: &str, digest: &str) {
    let mut manifest: Value = serde_json::from_str(&get_manifest(addr, &sig_tag(digest))).unwrap();
    for layer in manifest["layers"].as_array_mut().unwrap() {
        let slot = &mut layer["annotations"]["dev.cosignproject.cosign/signature"];
        let mut text = slot.as_str().unwrap().to_owned().into_bytes();
        text[10] = if text[10] == b'A' { b'B' } else { b'A' };
        *slot = Value::String(String::from_utf8(text).unwrap());
    }
    put_manifest(addr, &sig_tag(digest), &manifest.to_string());
}

/// A manifest like `digest`'s but whose first component layer claims one
/// byte more than its blob holds (the registry accepts it); its digest.
fn size_mismatch(addr: &str, digest: &str, tag: &str) -> String {
    let mut manifest: Value = serde_json::from_str(&get_manifest(addr, digest)).unwrap();
    let size = manifest["layers"][1]["size"].as_u64().unwrap();
    manifest["layers"][1]["size"] = json!(size + 1);
    put_manifest(addr, tag, &manifest.to_string())
}

/// Attach `from`'s signatures (valid, over a payload naming `from`) to
/// `to`.
fn copy_signatures(addr: &str, from: &str, to: &str) {
    let body = get_manifest(addr, &sig_tag(from));
    put_manifest(addr, &sig_tag(to), &body);
}

/// The verdict on the action only version 2 approves.
fn pricing(server: &Server) -> String {
    let decision = server.evaluate(&json!({
        "agent_id": "research-assistant",
        "action": "change_pricing_tiers",
    }));
    decision["verdict"].as_str().unwrap().to_owned()
}

/// (live generation, last rejected change).
fn status(server: &Server) -> (u64, String) {
    let (code, body) = server.get("/v1/policies");
    assert_eq!(code, 200, "{body}");
    (
        body["generation"].as_u64().unwrap(),
        body["last_rejection"]["error"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Start `gavel serve` expecting it to refuse; its stderr.
fn serve_refused(policies: &str, data: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--listen", "127.0.0.1:0", "--policies", policies])
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .env("GAVEL_ADMIN_TOKEN", common::server::ADMIN_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            assert!(!status.success(), "serve {policies} started: {err}");
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve {policies} neither refused nor stopped");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_signed_set_is_served_pinned_and_a_polling_node_follows_its_tag() {
    let Some(mut registry) = RegistryServer::start() else {
        return;
    };
    let addr = registry.addr();
    let keys = Keys::new();
    let work = tempfile::tempdir().unwrap();
    let v1 = version(1, true);
    let d1 = push(v1.path(), &addr, "stable", work.path());
    sign(&addr, &d1, &keys.trusted);

    // Pinned: pulled, verified, served.
    let data = tempfile::tempdir().unwrap();
    let pinned = Server::start(
        Path::new(&format!("oci://{addr}/{REPO}@{d1}")),
        data.path(),
        &["--trust-key", &Keys::public(&keys.trusted)],
        &[],
    );
    assert_eq!(pricing(&pinned), "deny");
    pinned.stop();

    // Polling the tag, trusting two keys.
    let data = tempfile::tempdir().unwrap();
    let node = Server::start(
        Path::new(&format!("oci://{addr}/{REPO}:stable")),
        data.path(),
        &[
            "--trust-key",
            &Keys::public(&keys.trusted),
            "--trust-key",
            &Keys::public(&keys.second),
            "--poll",
            "1s",
        ],
        &[],
    );
    let (g1, _) = status(&node);
    assert_eq!(pricing(&node), "deny");

    // A new version, signed by the second trusted key: swapped in.
    let v2 = version(2, false);
    let d2 = push(v2.path(), &addr, "staging", work.path());
    sign(&addr, &d2, &keys.second);
    retag(&addr, &d2, "stable");
    wait_until("the node loads version 2", || status(&node).0 > g1);
    assert_eq!(pricing(&node), "approve");
    let (g2, _) = status(&node);

    // Every refusal leaves generation g2 live (version 3 forbids again, so
    // a wrongly loaded set would show as a deny). Rows: how the tag's new
    // digest is prepared, and the fragment of the recorded rejection.
    type Prepare<'a> = Box<dyn Fn(&str) -> String + 'a>;
    let v3 = version(3, true);
    let d3 = push(v3.path(), &addr, "staging", work.path());
    let rows: Vec<(&str, Prepare, String)> = vec![
        (
            "unsigned",
            Box::new(|_| d3.clone()),
            "is not signed".to_owned(),
        ),
        (
            "signed by an untrusted key",
            Box::new(|_| {
                sign(&addr, &d3, &keys.untrusted);
                d3.clone()
            }),
            "does not verify under any trusted key".to_owned(),
        ),
        (
            "a corrupted signature",
            Box::new(|n| {
                let v = version(10 + n.len() as u32, true);
                let d = push(v.path(), &addr, "staging", work.path());
                sign(&addr, &d, &keys.trusted);
                corrupt_signatures(&addr, &d);
                d
            }),
            "does not verify under any trusted key".to_owned(),
        ),
        (
            "a payload naming another digest",
            Box::new(|n| {
                let v = version(20 + n.len() as u32, true);
                let d = push(v.path(), &addr, "staging", work.path());
                copy_signatures(&addr, &d1, &d);
                d
            }),
            format!("the payload signs {d1}, not"),
        ),
        (
            "a layer whose size does not match its blob",
            Box::new(|_| {
                let d = size_mismatch(&addr, &d1, "staging");
                sign(&addr, &d, &keys.trusted);
                d
            }),
            "size mismatch".to_owned(),
        ),
    ];
    for (name, prepare, fragment) in &rows {
        let digest = prepare(name);
        retag(&addr, &digest, "stable");
        wait_until(name, || {
            let (_, rejection) = status(&node);
            rejection.contains(&digest) && rejection.contains(fragment.as_str())
        });
        assert_eq!(status(&node).0, g2, "{name}");
        assert_eq!(pricing(&node), "approve", "{name}");
    }

    // The registry goes away: the node keeps serving what it has.
    registry.kill();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(status(&node).0, g2);
    assert_eq!(pricing(&node), "approve");
    // It comes back (same port, same content): the node follows again.
    registry.restart();
    assert_eq!(registry.addr(), addr);
    let v4 = version(4, true);
    let d4 = push(v4.path(), &addr, "staging", work.path());
    sign(&addr, &d4, &keys.trusted);
    retag(&addr, &d4, "stable");
    wait_until("the node loads version 4", || status(&node).0 > g2);
    assert_eq!(pricing(&node), "deny");
    node.stop();
}

#[test]
fn a_node_refuses_to_start_on_an_unverified_set() {
    let Some(registry) = RegistryServer::start() else {
        return;
    };
    let addr = registry.addr();
    let keys = Keys::new();
    let work = tempfile::tempdir().unwrap();
    let trusted = Keys::public(&keys.trusted);
    let v1 = version(1, true);
    let d1 = push(v1.path(), &addr, "v1", work.path());
    sign(&addr, &d1, &keys.trusted);
    let new_digest = |n: u32| {
        let v = version(n, true);
        push(v.path(), &addr, &format!("v{n}"), work.path())
    };
    let unsigned = new_digest(2);
    let untrusted = new_digest(3);
    sign(&addr, &untrusted, &keys.untrusted);
    let corrupted = new_digest(4);
    sign(&addr, &corrupted, &keys.trusted);
    corrupt_signatures(&addr, &corrupted);
    let other = new_digest(5);
    copy_signatures(&addr, &d1, &other);
    let mismatch = size_mismatch(&addr, &d1, "bad-size");
    sign(&addr, &mismatch, &keys.trusted);
    let pin = |d: &str| format!("oci://{addr}/{REPO}@{d}");
    // Rows: --policies, extra flags, the fragment of the refusal.
    let rows: Vec<(String, Vec<&str>, String)> = vec![
        (
            pin(&unsigned),
            vec!["--trust-key", &trusted],
            "is not signed".into(),
        ),
        (
            pin(&untrusted),
            vec!["--trust-key", &trusted],
            "does not verify under any trusted key".into(),
        ),
        (
            pin(&corrupted),
            vec!["--trust-key", &trusted],
            "does not verify under any trusted key".into(),
        ),
        (
            pin(&other),
            vec!["--trust-key", &trusted],
            format!("the payload signs {d1}, not {other}"),
        ),
        (
            pin(&mismatch),
            vec!["--trust-key", &trusted],
            "size mismatch".into(),
        ),
        (
            format!("oci://{addr}/{REPO}:v1"),
            vec!["--trust-key", &trusted],
            "names a tag but no digest".into(),
        ),
        (pin(&d1), vec![], "--trust-key".into()),
        (
            format!("oci://{addr}/{REPO}@sha256:{}", "0".repeat(64)),
            vec!["--trust-key", &trusted],
            "is not in the registry".into(),
        ),
    ];
    for (policies, extra, fragment) in &rows {
        let data = tempfile::tempdir().unwrap();
        let err = serve_refused(policies, data.path(), extra);
        assert!(err.contains(fragment.as_str()), "{policies}: {err}");
        // Nothing was unpacked.
        let unpacked = std::fs::read_dir(data.path().join("oci"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
            })
            .unwrap_or(0);
        assert_eq!(unpacked, 0, "{policies}");
    }
}

#[test]
fn a_verified_pin_restarts_without_the_registry_and_refuses_tampered_files() {
    let Some(mut registry) = RegistryServer::start() else {
        return;
    };
    let addr = registry.addr();
    let keys = Keys::new();
    let work = tempfile::tempdir().unwrap();
    let trusted = Keys::public(&keys.trusted);
    let v1 = version(1, true);
    let d1 = push(v1.path(), &addr, "v1", work.path());
    sign(&addr, &d1, &keys.trusted);
    let policies = format!("oci://{addr}/{REPO}@{d1}");
    let data = tempfile::tempdir().unwrap();
    let first = Server::start(
        Path::new(&policies),
        data.path(),
        &["--trust-key", &trusted],
        &[],
    );
    assert_eq!(pricing(&first), "deny");
    first.stop();

    registry.kill();
    let again = Server::start(
        Path::new(&policies),
        data.path(),
        &["--trust-key", &trusted],
        &[],
    );
    assert_eq!(pricing(&again), "deny");
    again.stop();

    // Another trusted key than the one that signed: the local copy no
    // longer verifies, and the registry is gone: no start.
    let err = serve_refused(
        &policies,
        data.path(),
        &["--trust-key", &Keys::public(&keys.second)],
    );
    assert!(err.contains("unreachable"), "{err}");
    // A component changed on disk: refused the same way.
    let restored = tempfile::tempdir().unwrap();
    let again = {
        registry.restart();
        Server::start(
            Path::new(&policies),
            restored.path(),
            &["--trust-key", &trusted],
            &[],
        )
    };
    again.stop();
    registry.kill();
    let hex = d1.trim_start_matches("sha256:");
    let component = restored
        .path()
        .join("oci")
        .join(hex)
        .join("sensitive_actions.wasm");
    // Unpacked sets are read-only.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&component).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o444);
    let mut bytes = std::fs::read(&component).unwrap();
    bytes.push(0);
    std::fs::set_permissions(
        &component,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(&component, bytes).unwrap();
    let err = serve_refused(&policies, restored.path(), &["--trust-key", &trusted]);
    assert!(
        err.contains("does not verify") && err.contains("unreachable"),
        "{err}"
    );
}
