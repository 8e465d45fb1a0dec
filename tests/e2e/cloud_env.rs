//! Jobs against the local cloud fakes (tests/cloud-servers): the connector
//! plugin, the default mapper, `[jobs.grants] http` for the fake's origin,
//! the fakes' CA as `http_ca_file`, and the job's credentials.

use cloud_servers::{FileServer, GraphServer, OktaServer};

use crate::env::TestEnv;

/// An installation with `plugin` + default-mapper and this job TOML; the
/// test CA is written to `ca.pem` beside the config.
pub fn cloud_env(plugin: &str, job: &str) -> TestEnv {
    let env = TestEnv::new(
        &[("plugins", plugin), ("plugins", "default-mapper")],
        &format!("connector = \"{plugin}\"\nmappers = [\"default-mapper\"]\n{job}"),
    );
    std::fs::write(env.dir.path().join("ca.pem"), cloud_servers::ca_pem()).unwrap();
    env
}

/// A Graph job: client credentials against the fake's token endpoint.
pub fn graph_job(g: &GraphServer, secret: &str) -> TestEnv {
    cloud_env(
        "graph",
        &format!(
            r#"
[jobs.grants]
http = ["{origin}"]
http_ca_file = "ca.pem"
[jobs.credentials.graph]
type = "oauth2_client_credentials"
token_url = "{token_url}"
client_id = "{client_id}"
client_secret = {{ value = "{secret}" }}
scope = "https://graph.microsoft.com/.default"
[jobs.source]
graph_url = "{graph_url}"
[jobs.mapping]
phone = "{{mobilePhone}}"
"#,
            origin = g.origin(),
            token_url = g.token_url(),
            client_id = g.client_id(),
            graph_url = g.graph_url(),
        ),
    )
}

/// An Okta job with an SSWS API token and optional extra `[jobs.source]` lines.
pub fn okta_job(o: &OktaServer, token: &str, source: &str) -> TestEnv {
    cloud_env(
        "okta",
        &format!(
            r#"
[jobs.grants]
http = ["{origin}"]
http_ca_file = "ca.pem"
[jobs.credentials.okta]
type = "header"
prefix = "SSWS "
token = {{ value = "{token}" }}
[jobs.source]
domain = "{origin}"
{source}
[jobs.mapping]
username = "{{login}}"
phone = "{{mobilePhone}}"
"#,
            origin = o.origin(),
        ),
    )
}

/// The CSV connector fetching `path` from the file server with basic auth.
pub fn remote_csv_job(f: &FileServer, password: &str, grants: &str, ca: bool) -> TestEnv {
    cloud_env(
        "csv",
        &format!(
            r#"
[jobs.grants]
http = [{grants}]
{ca}
[jobs.credentials.exports]
type = "basic"
username = "sync"
password = {{ value = "{password}" }}
[jobs.source]
url = "{origin}/exports/people.csv"
credential = "exports"
match_field = "login"
manager_column = "boss"
enabled_column = "active"
groups_column = "groups"
"#,
            origin = f.origin(),
            ca = if ca { "http_ca_file = \"ca.pem\"" } else { "" },
        ),
    )
}

/// The error chain of a failed run, as one line.
pub fn failure(result: anyhow::Result<usersync_host::sync::RunReport>) -> String {
    match result {
        Ok(r) => panic!(
            "the run should have failed: {:?} {:?}",
            r.run.outcome, r.run.message
        ),
        Err(e) => format!("{e:#}"),
    }
}
