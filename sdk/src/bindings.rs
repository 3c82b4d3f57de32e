//! The guest bindings for `gavel:policy`, generated from `wit/` (the only
//! place `generate!` runs for the guest side).
#![allow(missing_docs, missing_debug_implementations, clippy::all)]

wit_bindgen::generate!({
    path: "../wit/v0.3.0",
    world: "gavel:policy/policy-world@0.3.0",
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "gavel_sdk::bindings",
});
