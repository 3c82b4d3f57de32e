//! Host bindings for the `gavel:policy` WIT package. This is the only place
//! `bindgen!` runs in the host.
//!
//! Each supported package version gets its own submodule here; the host
//! detects which one a component exports (see [`crate::policy`]). Today that
//! is `gavel:policy@0.1.0` only.
#![allow(missing_docs, missing_debug_implementations, clippy::all)]

pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gavel:policy/policy-world@0.1.0",
    });

    pub use exports::gavel::policy::policy::{Agent, PolicyMetadata, Reason, Request, Verdict};
}
