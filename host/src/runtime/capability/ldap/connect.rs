//! Reaching a directory server: TCP, TLS (LDAPS or StartTLS, a configured
//! CA or the system roots), simple bind; and turning each failure into a
//! sentence that names the stage, the cause and the fix.

use std::sync::Arc;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};

use crate::config::{LdapConnection, TlsMode};

/// Where reaching the server failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Tcp,
    Tls,
    Bind,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Tcp => "tcp",
            Stage::Tls => "tls",
            Stage::Bind => "bind",
        }
    }
}

#[derive(Debug)]
pub struct ConnectError {
    pub stage: Stage,
    pub message: String,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn fail(stage: Stage, message: String) -> ConnectError {
    ConnectError { stage, message }
}

/// `host:port` of an LDAP URL, with the scheme's default port.
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let parsed = url::Url::parse(url).ok()?;
    let default = if parsed.scheme() == "ldaps" { 636 } else { 389 };
    Some((
        parsed.host_str()?.trim_matches(['[', ']']).to_string(),
        parsed.port().unwrap_or(default),
    ))
}

/// Open a TCP connection and drop it: is anything listening?
pub async fn probe_tcp(conn: &LdapConnection) -> Result<(), ConnectError> {
    let (host, port) = host_port(&conn.url).ok_or_else(|| {
        fail(
            Stage::Tcp,
            format!("jobs.ldap.url = {:?} has no host", conn.url),
        )
    })?;
    match tokio::time::timeout(
        conn.timeout(),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(fail(
            Stage::Tcp,
            format!(
                "cannot reach the LDAP server at {host}:{port}: {e}; check jobs.ldap.url and that the server is running"
            ),
        )),
        Err(_) => Err(fail(
            Stage::Tcp,
            format!(
                "no answer from the LDAP server at {host}:{port} within {:.0} s; check jobs.ldap.url and firewalls",
                conn.timeout().as_secs_f64()
            ),
        )),
    }
}

fn settings(conn: &LdapConnection) -> Result<LdapConnSettings, ConnectError> {
    let mut s = LdapConnSettings::new()
        .set_conn_timeout(conn.timeout())
        .set_starttls(conn.tls_mode() == TlsMode::Starttls);
    if conn.insecure_skip_verify {
        tracing::warn!(
            url = %conn.url,
            "TLS certificate verification is OFF for this LDAP server (insecure_skip_verify); anyone on the path can read the bind password"
        );
        return Ok(s.set_no_tls_verify(true));
    }
    if let Some(ca) = &conn.ca_file {
        s = s.set_config(Arc::new(tls_config(ca)?));
    }
    Ok(s)
}

/// A rustls client configuration that trusts exactly the CA file's roots.
fn tls_config(ca: &std::path::Path) -> Result<rustls::ClientConfig, ConnectError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let bad = |why: String| {
        fail(
            Stage::Tls,
            format!(
                "jobs.ldap.ca_file {}: {why}; give the PEM file of the CA that signed the server's certificate",
                ca.display()
            ),
        )
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca).map_err(|e| bad(e.to_string()))?;
    for cert in certs {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Connect (with TLS as configured) without binding. The connection's
/// driver runs on the current tokio runtime until the `Ldap` is dropped.
pub async fn open(conn: &LdapConnection) -> Result<Ldap, ConnectError> {
    let settings = settings(conn)?;
    let (driver, mut ldap) = LdapConnAsync::with_settings(settings, &conn.url)
        .await
        .map_err(|e| classify_connect(conn, &e))?;
    ldap3::drive!(driver);
    ldap.with_timeout(conn.timeout());
    Ok(ldap)
}

/// The connection's TCP or TLS failure, in words.
fn classify_connect(conn: &LdapConnection, e: &LdapError) -> ConnectError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    let url = &conn.url;
    let tls_words = [
        "certificate",
        "tls",
        "handshake",
        "unknownissuer",
        "peer",
        "alert",
    ];
    if tls_words.iter().any(|w| lower.contains(w)) {
        let hint = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
            "the server's certificate is not signed by a trusted CA: set jobs.ldap.ca_file to the CA's PEM file"
        } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
            "the server's certificate does not name this host: connect with the name in the certificate"
        } else if lower.contains("expired") {
            "the server's certificate has expired"
        } else {
            "check jobs.ldap.tls (ldaps needs an ldaps:// URL, starttls an ldap:// one) and jobs.ldap.ca_file"
        };
        return fail(
            Stage::Tls,
            format!("TLS with the LDAP server {url} failed: {hint} ({text})"),
        );
    }
    if matches!(e, LdapError::Timeout { .. }) {
        return fail(
            Stage::Tcp,
            format!("no answer from the LDAP server {url}; check jobs.ldap.url and that the server is running"),
        );
    }
    if let LdapError::LdapResult { result } = e {
        // StartTLS refused by the server (e.g. no certificate configured).
        return fail(
            Stage::Tls,
            format!(
                "the LDAP server {url} refused StartTLS (code {}: {}); use ldaps:// or set jobs.ldap.tls",
                result.rc,
                result.text.trim()
            ),
        );
    }
    fail(
        Stage::Tcp,
        format!("cannot reach the LDAP server {url}: {text}; check jobs.ldap.url and that the server is running"),
    )
}

/// Simple bind; the password is used here and nowhere else.
pub async fn bind(ldap: &mut Ldap, who: &str, password: &str) -> Result<(), ConnectError> {
    if password.is_empty() {
        // An empty password is an unauthenticated bind that "succeeds".
        return Err(fail(
            Stage::Bind,
            format!("refusing to bind as {who} with an empty password"),
        ));
    }
    let result = ldap
        .simple_bind(who, password)
        .await
        .map_err(|e| fail(Stage::Bind, format!("bind as {who} failed: {e}")))?;
    if result.rc == 0 {
        return Ok(());
    }
    Err(fail(
        Stage::Bind,
        bind_failure(who, result.rc, &result.text),
    ))
}

/// Active Directory puts the reason in the text ("data 52e"); OpenLDAP
/// answers code 49 for both an unknown DN and a wrong password.
pub fn bind_failure(who: &str, rc: u32, text: &str) -> String {
    let ad = |code: &str| text.to_ascii_lowercase().contains(&format!("data {code}"));
    let reason = match rc {
        49 if ad("52e") => "wrong password",
        49 if ad("525") => "no such user (check the bind DN or UPN)",
        49 if ad("775") => "the account is locked out",
        49 if ad("533") => "the account is disabled",
        49 if ad("532") || ad("773") => "the password has expired or must be changed",
        49 if ad("701") => "the account has expired",
        49 if ad("530") || ad("531") => "logon not permitted at this time or from this host",
        49 => "invalid credentials (wrong password, or no such bind DN)",
        34 => "the bind DN is not a valid DN (use a DN like cn=sync,dc=example,dc=com or a UPN like sync@example.com)",
        53 => "the server is unwilling to perform the bind (a simple bind over an unencrypted connection may be refused: use TLS)",
        8 => "the server requires a stronger authentication (TLS or signing)",
        _ => "the server refused the bind",
    };
    format!("bind as {who} failed: {reason} (LDAP code {rc})")
}

/// Connect and bind with the job's service account.
pub async fn connect_and_bind(conn: &LdapConnection) -> Result<Ldap, ConnectError> {
    let mut ldap = open(conn).await?;
    if let (Some(dn), Some(secret)) = (&conn.bind_dn, &conn.bind_password) {
        let password = secret
            .reveal()
            .map_err(|e| fail(Stage::Bind, format!("jobs.ldap.bind_password: {e}")))?;
        bind(&mut ldap, dn, &password).await?;
    }
    Ok(ldap)
}

/// One stage of `check`.
pub struct StageReport {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

pub(super) fn report(stage: Stage, r: Result<String, ConnectError>) -> StageReport {
    match r {
        Ok(detail) => StageReport {
            name: stage.name(),
            ok: true,
            detail,
        },
        Err(e) => StageReport {
            name: e.stage.name(),
            ok: false,
            detail: e.message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_directory_reasons_are_told_apart() {
        let text = "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563";
        assert!(bind_failure("a@b", 49, text).contains("wrong password"));
        let text = "80090308: LdapErr: ... data 775, v4563";
        assert!(bind_failure("a@b", 49, text).contains("locked"));
        assert!(bind_failure("cn=x", 49, "").contains("invalid credentials"));
        assert!(bind_failure("x", 34, "").contains("not a valid DN"));
    }

    #[test]
    fn host_port_defaults_by_scheme() {
        assert_eq!(host_port("ldaps://dc1:636"), Some(("dc1".into(), 636)));
        assert_eq!(host_port("ldap://10.0.0.1"), Some(("10.0.0.1".into(), 389)));
        assert_eq!(host_port("ldaps://h"), Some(("h".into(), 636)));
    }
}
