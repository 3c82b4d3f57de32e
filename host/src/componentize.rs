//! A WASI preview-1 core module into a policy component.
//!
//! C (and any other language whose toolchain emits a preview-1 core module)
//! builds a core module that carries its WIT world in a `component-type`
//! custom section, as `wit-bindgen c` emits it. [`componentize`] wraps that
//! module into a component with the preview-1 *reactor* adapter of the
//! wasmtime version this host runs, so the component imports only the WASI
//! preview-2 interfaces the host links (and grants nothing through).
//! [`check_loadable`] then proves the host can load the result: it
//! compiles, links and matches a supported `gavel:policy` world.

use crate::engine::PolicyEngine;
use crate::policy_instance::PolicyPre;
use std::path::{Path, PathBuf};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::{ComponentEncoder, StringEncoding};

/// Why a core module was not turned into a policy component.
#[derive(Debug, thiserror::Error)]
pub enum ComponentizeError {
    /// The input file could not be read.
    #[error("core module {path} {reason}")]
    Unreadable {
        /// The input path.
        path: PathBuf,
        /// Why it was not read.
        reason: crate::bounded_read::BoundedReadError,
    },
    /// The bytes are not a WebAssembly core module.
    #[error("the input is not a WebAssembly core module: {0}")]
    NotAModule(String),
    /// The input is a component already.
    #[error(
        "the input is already a WebAssembly component, not a core module: it needs no `gavel componentize` (load it as it is)"
    )]
    AlreadyAComponent,
    /// The module does not say which WIT world it implements.
    #[error(
        "the core module has no `component-type` custom section, so it does not say which WIT world it implements: link in the `*_component_type.o` that `wit-bindgen c` generates, or pass --wit DIR (and --world NAME)"
    )]
    NoComponentType,
    /// The WIT given with `--wit` could not be used.
    #[error("WIT {dir}: {problem}")]
    Wit {
        /// The WIT directory.
        dir: PathBuf,
        /// What went wrong, with its causes.
        problem: String,
    },
    /// wit-component could not build the component.
    #[error("encoding the component failed: {0}")]
    Encode(String),
    /// The component was built but the host could not load it.
    #[error("the component was built but Gavel cannot load it as a policy: {0}")]
    NotLoadable(String),
}

/// The largest core module read, in bytes.
pub const MAX_CORE_MODULE_BYTES: u64 = crate::bounded_read::DEFAULT_MAX_COMPONENT_BYTES;

/// Read a core module from `path` (a regular file, at most
/// [`MAX_CORE_MODULE_BYTES`]).
pub fn read_core_module(path: &Path) -> Result<Vec<u8>, ComponentizeError> {
    crate::bounded_read::read_regular(path, MAX_CORE_MODULE_BYTES).map_err(|reason| {
        ComponentizeError::Unreadable {
            path: path.to_path_buf(),
            reason,
        }
    })
}

/// Turn `core`, a preview-1 core module with a `component-type` custom
/// section, into a component with the preview-1 reactor adapter. The
/// output is validated (wasmparser) before it is returned.
pub fn componentize(core: &[u8]) -> Result<Vec<u8>, ComponentizeError> {
    check_core_header(core)?;
    let (stripped, _) = wit_component::metadata::decode(core)
        .map_err(|e| ComponentizeError::NotAModule(chain(e)))?;
    if stripped.is_none() {
        return Err(ComponentizeError::NoComponentType);
    }
    encode(core)
}

/// [`componentize`], embedding the world `world` (or the package's only
/// world) of the WIT package in `wit_dir` into the module first, for a
/// module built without a `component-type` section.
pub fn componentize_with_wit(
    core: &[u8],
    wit_dir: &Path,
    world: Option<&str>,
) -> Result<Vec<u8>, ComponentizeError> {
    check_core_header(core)?;
    let wit_error = |e| ComponentizeError::Wit {
        dir: wit_dir.to_path_buf(),
        problem: chain(e),
    };
    // wit-component's own empty metadata holds an empty `Resolve` to
    // push the package into.
    let mut resolve = wit_component::metadata::Bindgen::default().resolve;
    let (package, _) = resolve.push_dir(wit_dir).map_err(wit_error)?;
    let world_id = resolve.select_world(&[package], world).map_err(wit_error)?;
    let mut module = core.to_vec();
    wit_component::embed_component_metadata(&mut module, &resolve, world_id, StringEncoding::UTF8)
        .map_err(|e| ComponentizeError::Encode(format!("embedding the WIT world: {}", chain(e))))?;
    encode(&module)
}

/// Check that the host can load `component` as a policy: it compiles,
/// its imports link (WASI only) and it exports a supported `gavel:policy`
/// world. Returns that world's version, e.g. `0.3.0`.
pub fn check_loadable(
    engine: &PolicyEngine,
    component: &[u8],
) -> Result<&'static str, ComponentizeError> {
    let compiled = wasmtime::component::Component::new(engine.engine(), component)
        .map_err(|e| ComponentizeError::NotLoadable(chain(e)))?;
    let pre = engine
        .linker()
        .instantiate_pre(&compiled)
        .map_err(|e| ComponentizeError::NotLoadable(chain(e)))?;
    PolicyPre::new(pre).map(|p| p.version()).map_err(|e| {
        ComponentizeError::NotLoadable(format!(
            "it does not export a supported gavel:policy world: {e}"
        ))
    })
}

fn encode(module: &[u8]) -> Result<Vec<u8>, ComponentizeError> {
    let failed = |what: &str, e| ComponentizeError::Encode(format!("{what}: {}", chain(e)));
    ComponentEncoder::default()
        .validate(true)
        .module(module)
        .map_err(|e| failed("reading the module's WIT metadata", e))?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .map_err(|e| failed("adding the WASI preview-1 reactor adapter", e))?
        .encode()
        .map_err(|e| failed("building the component", e))
}

/// An error with its causes (`{:#}` of wit-component's errors).
fn chain(e: impl std::fmt::Display) -> String {
    format!("{e:#}")
}

/// The 8-byte header: `\0asm`, version 1, layer 0 (a core module).
fn check_core_header(bytes: &[u8]) -> Result<(), ComponentizeError> {
    let Some(header) = bytes.get(..8) else {
        return Err(ComponentizeError::NotAModule(format!(
            "it is {} bytes long, shorter than a WebAssembly header",
            bytes.len()
        )));
    };
    if !header.starts_with(b"\0asm") {
        return Err(ComponentizeError::NotAModule(
            "it does not start with the WebAssembly magic number".to_owned(),
        ));
    }
    match header.get(4..8) {
        Some([1, 0, 0, 0]) => Ok(()),
        Some([_, _, 1, 0]) => Err(ComponentizeError::AlreadyAComponent),
        _ => Err(ComponentizeError::NotAModule(
            "its WebAssembly header has an unknown version or layer".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_classified() {
        // (bytes, a part of the error, or None when the header is a core module's)
        let cases: [(&[u8], Option<&str>); 6] = [
            (b"", Some("0 bytes long")),
            (b"\0asm\x01\0\0", Some("7 bytes long")),
            (b"not wasm at all", Some("magic number")),
            (
                b"\0asm\x0d\0\x01\0",
                Some("already a WebAssembly component"),
            ),
            (b"\0asm\x02\0\0\0", Some("unknown version")),
            (b"\0asm\x01\0\0\0", None),
        ];
        for (bytes, expected) in cases {
            let got = check_core_header(bytes).err().map(|e| e.to_string());
            match (got, expected) {
                (None, None) => {}
                (Some(e), Some(part)) => assert!(e.contains(part), "{bytes:?}: {e}"),
                (got, _) => panic!("{bytes:?}: {got:?}, expected {expected:?}"),
            }
        }
    }
}
