//! Tenants and jobs given through the admin API go through the config
//! file's own checks: a job body is read as a `[[jobs]]` entry and the
//! whole config is validated with it, so the errors name the same keys
//! (`jobs.sync.max_rejected_percent ...`, without the file's index).
//! Paths a tenant may grant are confined to `[server] tenant_files_dir/<tenant>/`,
//! and network destinations to `[server] tenant_origins`.

use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::{parse_error, Config, JobConfig, Limits};

/// Tenant ids name folders (`plugins/tenants/<id>`, the tenant's files):
/// lower-case letters, digits, `-` and `_`, at most 63.
pub fn check_tenant_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && id.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        bail!("tenant id {id:?}: use 1 to 63 lower-case letters, digits, `-` or `_`, starting with a letter or digit");
    }
    Ok(())
}

/// Job ids and plugin names given through the API: letters, digits, `-`,
/// `_` and `.`, at most 63, starting with a letter or digit.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        bail!("{what} {name:?}: use 1 to 63 letters, digits, `-`, `_` or `.`, starting with a letter or digit");
    }
    Ok(())
}

/// A tenant's `limits` object, checked like `[tenants.limits]`.
pub fn parse_limits(value: &Value) -> Result<Limits> {
    let limits: Limits = serde_path_to_error::deserialize(value).map_err(|e| {
        anyhow!(
            "limits.{}: {}",
            e.path(),
            parse_error::redact_values(&e.inner().to_string())
        )
    })?;
    limits.validate("limits")?;
    Ok(limits)
}

/// The folder a tenant's jobs may read from, if the operator set one.
pub fn tenant_files(config: &Config, tenant: &str) -> Option<PathBuf> {
    let dir = config.server.tenant_files_dir.as_ref()?;
    Some(config.resolve(dir).join(tenant))
}

/// The job keys that name files on this node.
const PATH_KEYS: [(&str, &str); 3] = [
    ("/grants/input_dir", "grants.input_dir"),
    ("/grants/http_ca_file", "grants.http_ca_file"),
    ("/ldap/ca_file", "ldap.ca_file"),
];

/// Make every path of `body` absolute under the tenant's folder, refusing
/// one outside it (or any path while `tenant_files_dir` is unset).
pub fn confine_paths(config: &Config, tenant: &str, body: &mut Value) -> Result<()> {
    for (pointer, key) in PATH_KEYS {
        let Some(Value::String(given)) = body.pointer(pointer) else {
            continue;
        };
        let Some(root) = tenant_files(config, tenant) else {
            bail!("jobs.{key}: a job made through the API may only read files under [server] tenant_files_dir/<tenant>/, and tenant_files_dir is not set; the operator sets it in the config file");
        };
        let path = Path::new(given);
        let inside = path
            .components()
            .all(|c| !matches!(c, Component::ParentDir));
        let full = if path.is_absolute() {
            path.to_path_buf()
        } else {
            root.join(path)
        };
        if !inside || !full.starts_with(&root) {
            bail!(
                "jobs.{key} = {given:?} is outside this tenant's files: give a path under {} (or relative to it, without `..`)",
                root.display()
            );
        }
        let full = full.display().to_string();
        *body.pointer_mut(pointer).expect("read above") = Value::String(full);
    }
    Ok(())
}

/// Read `body` (secrets in the clear, as `{"value": ...}`) as job `id` of
/// `tenant` and validate it as the config file's jobs are, within `config`
/// (for the tenant's licenses). Errors name the key as `jobs.<key>`.
pub fn check_job(config: &Config, tenant: &str, id: &str, body: &Value) -> Result<JobConfig> {
    let Value::Object(fields) = body else {
        bail!("the job must be a JSON object with the keys of a [[jobs]] entry (connector, mappers, source, ...)");
    };
    let mut fields = fields.clone();
    for (key, want) in [("id", id), ("tenant", tenant)] {
        match fields.get(key) {
            Some(Value::String(s)) if s != want => {
                bail!("jobs.{key} = {s:?} differs from the path's {want:?}; leave it out or make them equal")
            }
            _ => {
                fields.insert(key.into(), Value::String(want.into()));
            }
        }
    }
    let job: JobConfig = serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
        // Never the value itself: it could be a secret.
        anyhow!(
            "jobs.{}: {}",
            e.path(),
            parse_error::redact_values(&e.inner().to_string())
        )
    })?;
    let mut alone = config.clone();
    alone.jobs = vec![job.clone()];
    alone
        .validate()
        .map_err(|e| anyhow!("{}", format!("{e:#}").replace("jobs[0]", "jobs")))?;
    super::origins::check_job(&config.server.tenant_origins, &job)?;
    if job.ldap.as_ref().is_some_and(|l| l.insecure_skip_verify) {
        bail!("jobs.ldap.insecure_skip_verify: a job made through the API may not turn off TLS verification; give the directory's CA certificate as ldap.ca_file (a file under the tenant's files)");
    }
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
        Config::parse(
            "[server]\ntenant_files_dir = \"/srv/tenants\"\n[[tenants]]\nid = \"acme\"\nlicenses = { standard = 5 }\n",
            "usersync.toml",
            "/etc/usersync".into(),
        )
        .unwrap()
    }

    #[test]
    fn a_job_body_is_checked_like_the_file_and_names_the_key() {
        let c = config();
        let ok = json!({"connector": "csv", "sync": {"license_kind": "standard"}});
        assert_eq!(check_job(&c, "acme", "people", &ok).unwrap().tenant, "acme");
        let e = check_job(
            &c,
            "acme",
            "p",
            &json!({"connector": "csv", "sync": {"max_rejected_percent": 400}}),
        );
        assert!(format!("{:#}", e.unwrap_err()).starts_with("jobs.sync.max_rejected_percent = 400"));
        let e = check_job(&c, "acme", "p", &json!({"connector": "csv", "sorce": {}}));
        assert!(format!("{:#}", e.unwrap_err()).contains("sorce"));
        let e = check_job(
            &c,
            "acme",
            "p",
            &json!({"connector": "csv", "source": {"path": 1}, "grants": {"http": "x"}}),
        );
        assert!(format!("{:#}", e.unwrap_err()).starts_with("jobs.grants.http"));
        let e = check_job(
            &c,
            "acme",
            "p",
            &json!({"connector": "csv", "tenant": "globex"}),
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("differs"));
    }

    #[test]
    fn network_destinations_must_be_in_tenant_origins() {
        let mut c = config();
        let job = json!({"connector": "graph", "grants": {"http": ["https://graph.example.com"]}});
        let e = format!("{:#}", check_job(&c, "acme", "p", &job).unwrap_err());
        assert!(
            e.starts_with("jobs.grants.http = \"https://graph.example.com\"")
                && e.contains("server.tenant_origins is empty"),
            "{e}"
        );
        c.server.tenant_origins = vec!["https://*.example.com".into()];
        assert!(check_job(&c, "acme", "p", &job).is_ok());
        for (job, key) in [
            (
                json!({"connector": "ldap", "ldap": {"url": "ldap://127.0.0.1:5432"}}),
                "jobs.ldap.url",
            ),
            (
                json!({"connector": "csv", "notify": {"webhook": "http://169.254.169.254/latest"}}),
                "jobs.notify.webhook",
            ),
        ] {
            let e = format!("{:#}", check_job(&c, "acme", "p", &job).unwrap_err());
            assert!(e.starts_with(key), "{e}");
        }
        // Turning TLS checks off is the operator's decision, not a tenant's.
        c.server.tenant_origins = vec!["ldaps://dc.example.com".into()];
        let ldaps = |skip| json!({"connector": "ldap", "ldap": {"url": "ldaps://dc.example.com", "insecure_skip_verify": skip}});
        assert!(check_job(&c, "acme", "p", &ldaps(false)).is_ok());
        let e = format!(
            "{:#}",
            check_job(&c, "acme", "p", &ldaps(true)).unwrap_err()
        );
        assert!(e.starts_with("jobs.ldap.insecure_skip_verify"), "{e}");
    }

    #[test]
    fn paths_stay_inside_the_tenants_files() {
        let c = config();
        let mut body = json!({"grants": {"input_dir": "data"}});
        confine_paths(&c, "acme", &mut body).unwrap();
        assert_eq!(body["grants"]["input_dir"], "/srv/tenants/acme/data");
        for bad in ["../globex/data", "/etc", "/srv/tenants/globex"] {
            let mut body = json!({"grants": {"input_dir": bad}});
            let e = confine_paths(&c, "acme", &mut body)
                .unwrap_err()
                .to_string();
            assert!(e.contains("outside this tenant's files"), "{e}");
        }
        assert!(check_tenant_id("acme-1").is_ok());
        assert!(check_tenant_id("../x").is_err() && check_tenant_id("Acme").is_err());
    }
}
