//! HTTPS as the daemon speaks it. Every HTTP client of a process shares one TLS
//! configuration (src/tls.rs) instead of loading the system's roots per client; it must
//! still verify servers, offer h2 and http/1.1, and fetch feeds.
//!
//! A feed served over HTTPS on 127.0.0.1 (a TLS front on the local feed server) with a
//! certificate for `localhost` from a CA made for the test. The daemon trusts that CA when
//! `SSL_CERT_FILE` names it (the platform verifier reads it on Linux) and only then.

use crate::support::feed_server::{FeedServer, Route};
use crate::support::rss::rss;
use crate::support::test_app::TestApp;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

/// What each client offered for ALPN, in its order.
type Offers = Arc<Mutex<Vec<Vec<String>>>>;

/// Serves the one certificate and notes the client's ALPN offer.
#[derive(Debug)]
struct Recording {
    key: Arc<rustls::sign::CertifiedKey>,
    offers: Offers,
}

impl rustls::server::ResolvesServerCert for Recording {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let offered = hello
            .alpn()
            .map(|protocols| {
                protocols
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        self.offers.lock().unwrap().push(offered);
        Some(self.key.clone())
    }
}

/// A test CA (its PEM) and a server configuration for `localhost` signed by it.
fn ca_and_server_config(offers: Offers) -> (String, rustls::ServerConfig) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "feed2threads test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let signing = provider.key_provider.load_private_key(key_der).unwrap();
    let key = Arc::new(rustls::sign::CertifiedKey::new(
        vec![leaf.der().clone()],
        signing,
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Recording { key, offers }));
    // The feed server behind speaks HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.pem(), config)
}

/// A TLS front on 127.0.0.1 for `backend`: its port.
async fn tls_front(config: rustls::ServerConfig, backend: std::net::SocketAddr) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake (the test's unverified run) just ends here.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

fn combined(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feed_over_https_is_fetched_when_its_ca_is_trusted_and_refused_when_not() {
    let offers = Offers::default();
    let (ca_pem, server_config) = ca_and_server_config(offers.clone());
    let feeds = FeedServer::start().await;
    feeds.set("/secure.xml", Route::feed(rss("secure", 1)));
    let port = tls_front(server_config, feeds.addr()).await;

    let app = TestApp::new()
        .await
        .with_account("desk")
        .with_feed_block(&format!(
            "name = \"secure\"\naccount = \"desk\"\nurl = \"https://localhost:{port}/secure.xml\"\nbacklog = \"all\""
        ));
    app.write_config();
    let ca_file = app.dir().join("test-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let no_dir = app.dir().join("no-other-roots");
    std::fs::create_dir(&no_dir).unwrap();

    // The system's roots do not know the test CA: the feed fails on the certificate.
    let refused = app
        .command(&["run", "--once", "--dry-run"])
        .output()
        .await
        .unwrap();
    let text = combined(&refused);
    assert!(!text.contains("secure story number 0"), "{text}");
    assert!(
        text.to_lowercase().contains("certificate"),
        "the failure names the certificate: {text}"
    );
    assert_eq!(
        feeds.hits("/secure.xml"),
        0,
        "no request past the handshake"
    );

    // Trusting it, the same run fetches the feed and shows its post.
    let fetched = app
        .command(&["run", "--once", "--dry-run"])
        .env("SSL_CERT_FILE", &ca_file)
        .env("SSL_CERT_DIR", &no_dir)
        .output()
        .await
        .unwrap();
    let text = combined(&fetched);
    assert_eq!(fetched.status.code(), Some(0), "{text}");
    assert!(text.contains("secure story number 0"), "{text}");
    assert_eq!(feeds.hits("/secure.xml"), 1);

    // Every handshake offered HTTP/2 first, then HTTP/1.1, as reqwest's own does.
    let offers = offers.lock().unwrap().clone();
    assert!(offers.len() >= 2, "{offers:?}");
    for offer in offers {
        assert_eq!(offer, ["h2", "http/1.1"]);
    }
}
