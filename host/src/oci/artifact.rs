//! A policy set as an OCI artifact, after the CNCF Wasm OCI layout where
//! it fits: an image manifest (artifactType
//! `application/vnd.gavel.policies.v1`) whose config is the Wasm config
//! (`application/vnd.wasm.config.v0+json`: architecture `wasm`, os
//! `wasip2`, `layerDigests`, `created`), whose layer 0 is `policies.toml`
//! (`application/vnd.gavel.policies.v1+toml`), and whose other layers
//! are the components it names (`application/wasm`), each with its path
//! relative to the policy directory in `org.opencontainers.image.title`.
//! (The CNCF layout has one layer; a policy set is a documented
//! extension of it, so generic Wasm tools see only layer 0.)

use super::digest::Digest;
use super::error::OciError;
use crate::bounded_read::{MAX_MANIFEST_BYTES, read_regular, read_regular_text};
use crate::manifest::{MANIFEST_FILE, Manifest};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The artifact type of a Gavel policy set.
pub const POLICIES_ARTIFACT_TYPE: &str = "application/vnd.gavel.policies.v1";
/// The media type of the `policies.toml` layer.
pub const MANIFEST_LAYER: &str = "application/vnd.gavel.policies.v1+toml";
/// The media type of a component layer (CNCF).
pub const WASM_LAYER: &str = "application/wasm";
/// The media type of the config (CNCF).
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The annotation carrying a layer's relative path.
pub const TITLE: &str = "org.opencontainers.image.title";
/// The largest OCI manifest read.
pub const MAX_OCI_MANIFEST_BYTES: u64 = 1 << 20;
/// The largest config read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Most layers in one policy set.
pub const MAX_LAYERS: usize = 256;

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// `sha256:<hex>` (checked when used).
    pub digest: String,
    /// Size in bytes (a negative size does not parse).
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    /// The descriptor of `bytes`.
    pub fn of(
        media_type: &str,
        bytes: &[u8],
        annotations: Option<BTreeMap<String, String>>,
    ) -> Self {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::of(bytes).as_str().to_owned(),
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            annotations,
        }
    }

    /// The layer's title annotation.
    pub fn title(&self) -> Option<&str> {
        self.annotations
            .as_ref()
            .and_then(|a| a.get(TITLE))
            .map(String::as_str)
    }
}

/// An OCI image manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config.
    pub config: Descriptor,
    /// The layers, in order.
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (signatures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageManifest {
    /// The bytes pushed (their digest is the manifest's digest).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parse manifest bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, OciError> {
        let m: ImageManifest =
            serde_json::from_slice(bytes).map_err(|e| OciError::BadArtifact {
                problem: format!("the manifest is not an OCI image manifest: {e}"),
            })?;
        if m.schema_version != 2 {
            return Err(OciError::BadArtifact {
                problem: format!("schemaVersion is {}, not 2", m.schema_version),
            });
        }
        if let Some(t) = m.media_type.as_deref().filter(|t| *t != OCI_MANIFEST) {
            return Err(OciError::BadArtifact {
                problem: format!("the manifest's mediaType is `{t}`, not `{OCI_MANIFEST}`"),
            });
        }
        Ok(m)
    }
}

/// The Wasm config (CNCF `application/vnd.wasm.config.v0+json`). The
/// optional `component` summary (imports and exports) is left out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339.
    pub created: String,
    /// `wasm`.
    pub architecture: String,
    /// `wasip2`.
    pub os: String,
    /// Every layer's digest, in manifest order.
    pub layer_digests: Vec<String>,
}

/// One layer to push: its relative path, media type and bytes.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Relative path in the policy directory.
    pub title: String,
    /// Media type.
    pub media_type: &'static str,
    /// Content.
    pub bytes: Vec<u8>,
}

/// A policy directory ready to push.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The layers: `policies.toml`, then each component once.
    pub layers: Vec<Layer>,
    /// The config's bytes.
    pub config: Vec<u8>,
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
}

impl Artifact {
    /// Read a policy directory: its manifest (parsed as the runtime
    /// parses it) and every component it names, each a regular file
    /// under its cap and inside the directory. `created` is RFC 3339.
    pub fn from_dir(dir: &Path, created: &str) -> Result<Self, OciError> {
        let file = dir.join(MANIFEST_FILE);
        let text = read_regular_text(&file, MAX_MANIFEST_BYTES)
            .map_err(|e| OciError::Policies(format!("{}: the manifest {e}", file.display())))?;
        let manifest =
            Manifest::parse(&text, &file).map_err(|e| OciError::Policies(e.to_string()))?;
        let mut layers = vec![Layer {
            title: MANIFEST_FILE.to_owned(),
            media_type: MANIFEST_LAYER,
            bytes: text.into_bytes(),
        }];
        let mut seen = BTreeSet::new();
        for p in &manifest.policies {
            let relative = p
                .component
                .strip_prefix(dir)
                .ok()
                .and_then(|r| safe_relative(&r.to_string_lossy()).ok())
                .ok_or_else(|| {
                    OciError::Policies(format!(
                        "policy `{}`: component {} is outside the policy directory; a published set must hold its components (name them relative to policies.toml)",
                        p.name,
                        p.component.display()
                    ))
                })?;
            if !seen.insert(relative.clone()) {
                continue;
            }
            let bytes = read_regular(&p.component, p.max_component_bytes).map_err(|e| {
                OciError::Policies(format!(
                    "policy `{}`: component {} {e}",
                    p.name,
                    p.component.display()
                ))
            })?;
            layers.push(Layer {
                title: relative.to_string_lossy().into_owned(),
                media_type: WASM_LAYER,
                bytes,
            });
        }
        let descriptors: Vec<Descriptor> = layers
            .iter()
            .map(|l| {
                let annotations = BTreeMap::from([(TITLE.to_owned(), l.title.clone())]);
                Descriptor::of(l.media_type, &l.bytes, Some(annotations))
            })
            .collect();
        let config = WasmConfig {
            created: created.to_owned(),
            architecture: "wasm".to_owned(),
            os: "wasip2".to_owned(),
            layer_digests: descriptors.iter().map(|d| d.digest.clone()).collect(),
        };
        let config = serde_json::to_vec(&config).unwrap_or_default();
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_owned()),
            artifact_type: Some(POLICIES_ARTIFACT_TYPE.to_owned()),
            config: Descriptor::of(WASM_CONFIG, &config, None),
            layers: descriptors,
            subject: None,
            annotations: Some(BTreeMap::from([(
                "org.opencontainers.image.created".to_owned(),
                created.to_owned(),
            )])),
        };
        Ok(Artifact {
            layers,
            config,
            manifest: manifest.to_bytes(),
        })
    }

    /// The manifest's digest.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }
}

/// A pulled manifest, checked to be a policy set: the layer that is
/// `policies.toml`, and the component layers by relative path.
#[derive(Debug, Clone)]
pub struct PolicyLayout {
    /// The manifest.
    pub manifest: ImageManifest,
    /// The `policies.toml` layer.
    pub policies: Descriptor,
    /// The component layers, each with its checked relative path.
    pub components: Vec<(PathBuf, Descriptor)>,
}

impl PolicyLayout {
    /// Check a manifest's layout: the artifact and media types, exactly
    /// one `policies.toml` layer, every other layer a component with a
    /// safe relative title (no `..`, not absolute, not hidden store
    /// files), no title twice, every digest well-formed.
    pub fn check(manifest: ImageManifest) -> Result<Self, OciError> {
        let bad = |problem: String| OciError::BadArtifact { problem };
        if manifest.artifact_type.as_deref() != Some(POLICIES_ARTIFACT_TYPE) {
            return Err(bad(format!(
                "artifactType is {:?}, not `{POLICIES_ARTIFACT_TYPE}`",
                manifest.artifact_type
            )));
        }
        if manifest.config.media_type != WASM_CONFIG {
            return Err(bad(format!(
                "the config's mediaType is `{}`, not `{WASM_CONFIG}`",
                manifest.config.media_type
            )));
        }
        Digest::parse(&manifest.config.digest).map_err(&bad)?;
        if manifest.layers.len() > MAX_LAYERS {
            return Err(bad(format!(
                "{} layers, more than {MAX_LAYERS}",
                manifest.layers.len()
            )));
        }
        let mut policies = None;
        let mut components = Vec::new();
        let mut titles = BTreeSet::new();
        for layer in &manifest.layers {
            Digest::parse(&layer.digest).map_err(&bad)?;
            let title = layer
                .title()
                .ok_or_else(|| bad(format!("layer {} has no {TITLE} annotation", layer.digest)))?;
            let path = safe_relative(title)
                .map_err(|why| bad(format!("layer {} is titled `{title}`: {why}", layer.digest)))?;
            if !titles.insert(path.clone()) {
                return Err(bad(format!("two layers are titled `{title}`")));
            }
            match layer.media_type.as_str() {
                MANIFEST_LAYER if title == MANIFEST_FILE => policies = Some(layer.clone()),
                WASM_LAYER if title != MANIFEST_FILE => components.push((path, layer.clone())),
                other => {
                    return Err(bad(format!(
                        "layer `{title}` has mediaType `{other}` (expected `{MANIFEST_LAYER}` for {MANIFEST_FILE}, `{WASM_LAYER}` for components)"
                    )));
                }
            }
        }
        let policies = policies
            .ok_or_else(|| bad(format!("no `{MANIFEST_FILE}` layer ({MANIFEST_LAYER})")))?;
        Ok(PolicyLayout {
            manifest,
            policies,
            components,
        })
    }

    /// Check the config against the layers it must list.
    pub fn check_config(&self, config: &[u8]) -> Result<(), OciError> {
        let bad = |problem: String| OciError::BadArtifact { problem };
        let config: WasmConfig = serde_json::from_slice(config)
            .map_err(|e| bad(format!("the config is not a Wasm config: {e}")))?;
        let layers: Vec<&str> = self
            .manifest
            .layers
            .iter()
            .map(|l| l.digest.as_str())
            .collect();
        if config.layer_digests.iter().map(String::as_str).ne(layers) {
            return Err(bad(
                "the config's layerDigests do not list the manifest's layers in order".to_owned(),
            ));
        }
        if config.architecture != "wasm" || config.os != "wasip2" {
            return Err(bad(format!(
                "the config is for {}/{}, not wasm/wasip2",
                config.architecture, config.os
            )));
        }
        Ok(())
    }
}

/// The directory holding a pulled set's own records (its OCI manifest and
/// signature); no layer may be titled into it.
pub const STORE_RECORDS: &str = ".gavel-oci";

/// `title` as a relative path that stays inside a directory: not empty,
/// not absolute, only normal components, none of them the records
/// directory.
pub fn safe_relative(title: &str) -> Result<PathBuf, String> {
    if title.is_empty() {
        return Err("an empty path".to_owned());
    }
    if title.contains('\\') || title.contains('\0') {
        return Err("a path with `\\` or NUL".to_owned());
    }
    let path = Path::new(title);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) if part != STORE_RECORDS => out.push(part),
            Component::Normal(_) => return Err(format!("`{STORE_RECORDS}` is reserved")),
            _ => {
                return Err(
                    "not a plain relative path (no `/` at the start, no `.` or `..`)".to_owned(),
                );
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err("an empty path".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_stay_inside_the_directory() {
        let rows: &[(&str, bool)] = &[
            ("policies.toml", true),
            ("lib/a.wasm", true),
            ("../a.wasm", false),
            ("/etc/passwd", false),
            ("a/../../b", false),
            ("./a.wasm", false),
            ("", false),
            (".gavel-oci/manifest.json", false),
            ("a\\..\\b", false),
        ];
        for (title, ok) in rows {
            assert_eq!(safe_relative(title).is_ok(), *ok, "{title}");
        }
    }

    fn layout_with(edit: impl FnOnce(&mut ImageManifest)) -> Result<PolicyLayout, OciError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            "[[policy]]\nname = \"a\"\ncomponent = \"a.wasm\"\npriority = 1\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("a.wasm"), b"\0asm").unwrap();
        let artifact = Artifact::from_dir(dir.path(), "2026-01-01T00:00:00Z").unwrap();
        let mut manifest = ImageManifest::parse(&artifact.manifest).unwrap();
        edit(&mut manifest);
        PolicyLayout::check(manifest)
    }

    /// Rows: an edit of a pushed manifest, and the fragment of its refusal
    /// ("" for none).
    #[test]
    fn only_a_policy_set_layout_is_accepted() {
        type Edit = fn(&mut ImageManifest);
        let rows: &[(Edit, &str)] = &[
            (|_| {}, ""),
            (|m| m.artifact_type = None, "artifactType"),
            (|m| m.config.media_type = "x".into(), "config's mediaType"),
            (|m| m.layers[1].media_type = "x".into(), "mediaType `x`"),
            (
                |m| {
                    m.layers[1].annotations =
                        Some(BTreeMap::from([(TITLE.into(), "../a.wasm".into())]))
                },
                "plain relative path",
            ),
            (
                |m| m.layers[1].annotations = None,
                "no org.opencontainers.image.title",
            ),
            (
                |m| {
                    m.layers.remove(0);
                },
                "no `policies.toml` layer",
            ),
            (
                |m| {
                    let l = m.layers[1].clone();
                    m.layers.push(l);
                },
                "two layers",
            ),
            (
                |m| m.layers[1].digest = "sha256:xyz".into(),
                "not a sha256 digest",
            ),
        ];
        for (edit, fragment) in rows {
            match layout_with(*edit) {
                Ok(_) => assert!(fragment.is_empty(), "accepted, expected {fragment}"),
                Err(e) => {
                    assert!(!fragment.is_empty(), "refused: {e}");
                    assert!(e.to_string().contains(fragment), "{e}");
                }
            }
        }
    }

    #[test]
    fn a_component_outside_the_directory_is_not_published() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("a.wasm"), b"\0asm").unwrap();
        let manifest = format!(
            "[[policy]]\nname = \"a\"\ncomponent = \"{}/a.wasm\"\npriority = 1\n",
            outside.path().display()
        );
        std::fs::write(dir.path().join(MANIFEST_FILE), manifest).unwrap();
        let e = Artifact::from_dir(dir.path(), "now")
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the policy directory"), "{e}");
    }
}
