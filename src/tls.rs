//! The process's TLS client configuration, shared by every HTTP client it builds.
//!
//! reqwest makes a TLS configuration per client, and with it loads the system's root
//! certificates: rustls-platform-verifier reads `/etc/ssl/certs` (some 290 files on
//! Debian), 4-8 ms of CPU each time. The daemon builds a client for its feeds and one per
//! account, again at every reload, and each command one or two; a `status` spent half its
//! CPU there. Made once per process here instead, and the roots are read at the first
//! certificate the process checks, not before: a command or a daemon that never opens an
//! HTTPS connection (feeds over plain HTTP, `status` of a store) does not pay for them.
//! The configuration is the one reqwest would make itself: its default crypto provider (or
//! the one installed for the process), TLS 1.2 and 1.3, the platform verifier, SNI, and
//! ALPN offering h2 then http/1.1.
//!
//! Must not: be used by a client that restricts the HTTP version or the TLS versions
//! (`http1_only`, `tls_version_min`): a preconfigured configuration ignores those.
//! Consequence: root certificates installed while the daemon runs are seen after a
//! restart, not after a reload.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;
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
    let verifier = LazyVerifier {
        provider: provider.clone(),
        platform: OnceLock::new(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Some(config)
}

/// The platform verifier, made (and the system's roots read) when the first server
/// certificate is to be checked. The handshake's signatures need no roots: they are
/// checked with the provider's algorithms, as the platform verifier checks them.
#[derive(Debug)]
struct LazyVerifier {
    provider: Arc<CryptoProvider>,
    /// The verifier, or why none could be made (no usable root certificate): then every
    /// HTTPS connection fails with that reason.
    platform: OnceLock<Result<Verifier, rustls::Error>>,
}

impl LazyVerifier {
    fn platform(&self) -> Result<&Verifier, rustls::Error> {
        self.platform
            .get_or_init(|| Verifier::new(self.provider.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.platform()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
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

    #[test]
    fn the_roots_are_read_at_the_first_certificate_not_before() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let lazy = LazyVerifier {
            provider: provider.clone(),
            platform: OnceLock::new(),
        };
        assert_eq!(
            lazy.supported_verify_schemes(),
            Verifier::new(provider).unwrap().supported_verify_schemes(),
            "the same schemes as the platform verifier"
        );
        assert!(lazy.platform.get().is_none(), "roots read before any check");
        // A certificate that is no certificate: refused, by the platform verifier now made.
        let refused = lazy.verify_server_cert(
            &CertificateDer::from(vec![0x30, 0x00]),
            &[],
            &ServerName::try_from("news.example").unwrap(),
            &[],
            UnixTime::now(),
        );
        assert!(refused.is_err());
        assert!(matches!(lazy.platform.get(), Some(Ok(_))));
    }
}
