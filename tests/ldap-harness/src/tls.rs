//! A throwaway CA and server certificate, made with the `openssl` command line tool.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::util::{run, set_mode};

/// Files of a generated CA and a server certificate signed by it (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate: give it to clients (`LDAPTLS_CACERT`, the connector's CA file).
    pub ca_cert: PathBuf,
    /// The CA's private key (to sign more certificates, e.g. a "wrong CA" test makes its own).
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TlsFiles {
    /// Makes `dir` and writes a new CA (`ca.pem`, `ca.key`) and a server certificate
    /// (`server.pem`, `server.key`) whose subjectAltName has every IP in `ips` and DNS name in
    /// `dns_names`. ECDSA P-256, SHA-256, valid for 10 years.
    pub fn generate(dir: &Path, ca_name: &str, ips: &[IpAddr], dns_names: &[&str]) -> Result<Self> {
        fs::create_dir_all(dir)?;
        let f = |n: &str| dir.join(n);
        let files = TlsFiles {
            ca_cert: f("ca.pem"),
            ca_key: f("ca.key"),
            server_cert: f("server.pem"),
            server_key: f("server.key"),
        };
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-sha256", "-days", "3650"])
            .arg("-keyout")
            .arg(&files.ca_key)
            .arg("-out")
            .arg(&files.ca_cert)
            .args(["-subj", &format!("/O=usersync tests/CN={ca_name}")])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]))
        .context("openssl: generating the test CA")?;
        let csr = f("server.csr");
        let cn = dns_names.first().copied().unwrap_or("localhost");
        run(Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-sha256"])
            .arg("-keyout")
            .arg(&files.server_key)
            .arg("-out")
            .arg(&csr)
            .args(["-subj", &format!("/O=usersync tests/CN={cn}")]))
        .context("openssl: generating the server key")?;
        let mut san: Vec<String> = ips.iter().map(|ip| format!("IP:{ip}")).collect();
        san.extend(dns_names.iter().map(|d| format!("DNS:{d}")));
        let ext = f("server.ext");
        fs::write(
            &ext,
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
                san.join(",")
            ),
        )?;
        run(Command::new("openssl")
            .args([
                "x509",
                "-req",
                "-sha256",
                "-days",
                "3650",
                "-set_serial",
                "2",
            ])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&files.ca_cert)
            .arg("-CAkey")
            .arg(&files.ca_key)
            .arg("-out")
            .arg(&files.server_cert)
            .arg("-extfile")
            .arg(&ext))
        .context("openssl: signing the server certificate")?;
        let _ = fs::remove_file(csr);
        let _ = fs::remove_file(ext);
        set_mode(&files.server_key, 0o600)?;
        set_mode(&files.ca_key, 0o600)?;
        Ok(files)
    }
}
