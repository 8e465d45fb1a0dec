//! The kit's own HTTPS server on 127.0.0.1: a throwaway CA and certificate
//! made at start, files of the scratch folder served behind basic auth. Just
//! enough HTTP/1.1 for one GET per connection; the connector reaches it only
//! through the host's brokered `http`, which is given the CA to trust.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running server; stops when dropped.
pub struct FileServer {
    pub origin: String,
    /// PEM of the CA that signed its certificate.
    pub ca_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FileServer {
    /// Serve the files under `root` to `username` / `password` only.
    pub async fn start(root: PathBuf, username: &str, password: &str) -> Result<FileServer> {
        let (ca_pem, leaf, leaf_key) = certificates()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key)),
            )?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1")?;
        let origin = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
        let expected = STANDARD.encode(format!("{username}:{password}"));
        let root = Arc::new(root);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, root, expected) = (acceptor.clone(), root.clone(), expected.clone());
                tokio::spawn(async move {
                    // A client that refuses the certificate just goes away.
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = answer(tls, &root, &expected).await;
                    }
                });
            }
        });
        Ok(FileServer {
            origin,
            ca_pem,
            task,
        })
    }
}

/// The CA's PEM, and the DER of a 127.0.0.1 certificate it signed and of its key.
fn certificates() -> Result<(String, Vec<u8>, Vec<u8>)> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "usersync conformance kit (throwaway)");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;
    let leaf_key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])?
        .signed_by(&leaf_key, &ca_cert, &ca_key)?;
    Ok((ca_cert.pem(), leaf.der().to_vec(), leaf_key.serialize_der()))
}

async fn answer<S>(mut stream: S, root: &std::path::Path, expected: &str) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.lines();
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_string();
    let authorized = lines.any(|l| {
        let Some((name, value)) = l.split_once(':') else {
            return false;
        };
        let given = value.trim().split_once(' ');
        name.trim().eq_ignore_ascii_case("authorization")
            && given.is_some_and(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("basic") && token.trim() == expected
            })
    });
    let (status, body) = if !authorized {
        ("401 Unauthorized", b"credentials refused".to_vec())
    } else {
        // Only plain names under the root: the fixture's data, nothing else.
        let name = path.trim_start_matches('/');
        let safe = !name.is_empty() && name.split('/').all(|p| !p.is_empty() && p != "..");
        match safe.then(|| std::fs::read(root.join(name))) {
            Some(Ok(bytes)) => ("200 OK", bytes),
            _ => ("404 Not Found", b"no such file".to_vec()),
        }
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n{}Connection: close\r\n\r\n",
        body.len(),
        if status.starts_with("401") { "WWW-Authenticate: Basic realm=\"fixture\"\r\n" } else { "" }
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}
