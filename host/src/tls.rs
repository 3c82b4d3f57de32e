//! The process-wide TLS provider: rustls on ring, installed once.
//!
//! reqwest (the OCI registry client, and the MCP gateway's HTTP
//! upstreams) is built with rustls but without a provider of its own, so
//! that no second crypto library comes in; a client built before a
//! provider is installed would fail. Every constructor of such a client
//! calls [`init`] first.

use std::sync::Once;

static INSTALL: Once = Once::new();

/// Install ring as the process-wide rustls provider (idempotent; a
/// provider already installed by someone else is kept).
pub fn init() {
    INSTALL.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn init_installs_a_provider_and_is_idempotent() {
        super::init();
        super::init();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
