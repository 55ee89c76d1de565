//! The process's TLS client configuration, shared by every HTTP client it builds.
//!
//! reqwest makes a TLS configuration per client, and with it loads the system's root
//! certificates: rustls-platform-verifier reads `/etc/ssl/certs` (some 290 files on
//! Debian), 4-8 ms of CPU each time. The daemon builds a client for its feeds and one per
//! account, again at every reload, and each command one or two; a `status` spent half its
//! CPU there. Loaded once per process here instead. The configuration is the one reqwest
//! would make itself: its default crypto provider (or the one installed for the process),
//! TLS 1.2 and 1.3, the platform verifier, SNI, and ALPN offering h2 then http/1.1.
//!
//! Must not: be used by a client that restricts the HTTP version or the TLS versions
//! (`http1_only`, `tls_version_min`): a preconfigured configuration ignores those.
//! Consequence: root certificates installed while the daemon runs are seen after a
//! restart, not after a reload.

use std::sync::{Arc, OnceLock};

/// A reqwest client builder on the shared TLS configuration; when that cannot be made (no
/// usable root store), reqwest's own, whose `build` then reports why.
pub fn client_builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match shared() {
        Some(config) => builder.tls_backend_preconfigured(config.clone()),
        None => builder,
    }
}

fn shared() -> Option<&'static rustls::ClientConfig> {
    static CONFIG: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    CONFIG.get_or_init(build).as_ref()
}

fn build() -> Option<rustls::ClientConfig> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).ok()?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_made_once_and_offers_h2_then_http_1_1() {
        let first = shared().expect("a TLS configuration on this machine's root store");
        assert!(std::ptr::eq(first, shared().unwrap()));
        assert_eq!(first.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(first.enable_sni);
        client_builder().build().expect("a client on it");
    }
}
