//! `[server] tenant_origins`: the network destinations a job made through
//! the API may name. A tenant's job could otherwise point its connector's
//! HTTP grants, its LDAP server or its webhook at anything the node can
//! reach (the cloud metadata address, the store's database, another
//! tenant's service). The operator lists what tenants may reach; an empty
//! list (the default) allows no destination at all, only files.

use anyhow::{bail, Result};
use url::Url;

use super::JobConfig;

/// Most patterns `tenant_origins` may hold.
pub const MAX_TENANT_ORIGINS: usize = 1000;

/// Check the patterns: `scheme://host[:port]`, where host may start with
/// `*.` (any subdomain, not the domain itself).
pub fn validate_patterns(patterns: &[String]) -> Result<()> {
    if patterns.len() > MAX_TENANT_ORIGINS {
        bail!(
            "server.tenant_origins has {} entries; at most {MAX_TENANT_ORIGINS}",
            patterns.len()
        );
    }
    for p in patterns {
        let rest = p.split_once("://").map_or("", |(_, rest)| rest);
        let parsed = Url::parse(&p.replacen("://*.", "://wildcard.", 1)).ok();
        let ok = !rest.is_empty()
            && !rest.contains('/')
            && parsed.is_some_and(|u| u.host_str().is_some_and(|h| !h.is_empty()));
        if !ok {
            bail!("server.tenant_origins entry {p:?}: write scheme://host or scheme://host:port (host may start with `*.`), e.g. \"https://*.example.com\" or \"ldaps://dc.example.com:636\"");
        }
    }
    Ok(())
}

/// Every destination of `job` (its HTTP grants, LDAP server and webhook)
/// must match a pattern; errors name the job's key and the fix.
pub fn check_job(patterns: &[String], job: &JobConfig) -> Result<()> {
    let mut named: Vec<(String, &str)> = job
        .grants
        .http
        .iter()
        .map(|o| ("grants.http".to_string(), o.as_str()))
        .collect();
    if let Some(ldap) = &job.ldap {
        named.push(("ldap.url".into(), ldap.url.as_str()));
    }
    if let Some(hook) = &job.notify.webhook {
        named.push(("notify.webhook".into(), hook.as_str()));
    }
    for (key, dest) in named {
        if !patterns.iter().any(|p| matches(p, dest)) {
            let allowed = if patterns.is_empty() {
                "none is allowed (server.tenant_origins is empty)".to_string()
            } else {
                format!("allowed: {}", patterns.join(", "))
            };
            bail!(
                "jobs.{key} = {dest:?}: a job made through the API may only reach the origins in [server] tenant_origins ({allowed}); the operator adds the origin to tenant_origins in the config file"
            );
        }
    }
    Ok(())
}

/// Whether destination `dest` (a URL or origin) matches `pattern`: same
/// scheme, same port (or both the scheme's default), and the same host or
/// a subdomain of a `*.` pattern's domain.
pub fn matches(pattern: &str, dest: &str) -> bool {
    let (wild, pattern_url) = match pattern.split_once("://*.") {
        Some((scheme, rest)) => (true, format!("{scheme}://{rest}")),
        None => (false, pattern.to_string()),
    };
    let (Ok(p), Ok(d)) = (Url::parse(&pattern_url), Url::parse(dest)) else {
        return false;
    };
    let (Some(ph), Some(dh)) = (p.host_str(), d.host_str()) else {
        return false;
    };
    let (ph, dh) = (ph.to_ascii_lowercase(), dh.to_ascii_lowercase());
    let host_ok = if wild {
        dh.strip_suffix(&ph)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
    } else {
        dh == ph
    };
    host_ok && p.scheme() == d.scheme() && port(&p) == port(&d) && d.username().is_empty()
}

/// The URL's port, or its scheme's default (LDAP's too).
fn port(u: &Url) -> Option<u16> {
    u.port_or_known_default().or(match u.scheme() {
        "ldap" => Some(389),
        "ldaps" => Some(636),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_by_scheme_host_and_port() {
        let p = "https://*.example.com";
        assert!(matches(p, "https://graph.example.com"));
        assert!(matches(p, "https://a.b.example.com:443/v1/users"));
        assert!(!matches(p, "https://example.com"), "the domain itself");
        assert!(!matches(p, "https://evilexample.com"));
        assert!(!matches(p, "http://graph.example.com"), "another scheme");
        assert!(!matches(p, "https://graph.example.com:8443"));
        assert!(!matches(p, "https://graph.example.com.evil.net"));
        assert!(!matches(p, "https://x@graph.example.com"), "userinfo");
        let ldap = "ldaps://dc.example.com:636";
        assert!(matches(ldap, "ldaps://DC.example.com"));
        assert!(!matches(ldap, "ldaps://dc.example.com:1636"));
        assert!(!matches("https://127.0.0.1", "https://127.0.0.1:5432"));
    }

    #[test]
    fn patterns_are_checked() {
        assert!(validate_patterns(&["https://*.example.com".into()]).is_ok());
        assert!(validate_patterns(&["ldap://127.0.0.1:3890".into()]).is_ok());
        for bad in ["example.com", "https://example.com/path", "https://"] {
            let e = validate_patterns(&[bad.into()]).unwrap_err().to_string();
            assert!(e.contains("server.tenant_origins entry"), "{bad}: {e}");
        }
    }
}
