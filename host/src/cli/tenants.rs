//! `usersync tenants list|create|show|set|delete`: tenants managed through
//! a running daemon's admin API (`--server`/`USERSYNC_URL`,
//! `--token`/`USERSYNC_TOKEN`), since they live in its store.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Args)]
pub struct Server {
    /// The daemon's API, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "USERSYNC_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The operator token (or a tenant's own, for `list` and `show`).
    #[arg(long, env = "USERSYNC_TOKEN", hide_env_values = true)]
    token: String,
    /// A PEM CA certificate to trust for an HTTPS server with a private CA.
    #[arg(long, env = "USERSYNC_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Every tenant the token sees.
    List {
        #[command(flatten)]
        server: Server,
    },
    /// One tenant: licenses, limits, jobs, uploaded plugins.
    Show {
        id: String,
        #[command(flatten)]
        server: Server,
    },
    /// Make a tenant; its new token is printed once.
    Create {
        id: String,
        /// License seats, e.g. `--license standard=100` (repeatable).
        #[arg(long = "license", value_name = "KIND=SEATS")]
        licenses: Vec<String>,
        #[command(flatten)]
        server: Server,
    },
    /// Change a tenant's licenses, state or token.
    Set {
        id: String,
        /// Replaces every license count, e.g. `--license standard=100`.
        #[arg(long = "license", value_name = "KIND=SEATS")]
        licenses: Vec<String>,
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
        /// Generate a new token (printed once); the old one stops working.
        #[arg(long)]
        new_token: bool,
        #[command(flatten)]
        server: Server,
    },
    /// Delete a tenant with its jobs and uploaded plugins.
    Delete {
        id: String,
        #[command(flatten)]
        server: Server,
    },
}

pub async fn run(command: TenantsCommand, json_out: bool) -> Result<ExitCode> {
    use reqwest::Method;
    let (server, method, path, body) = match command {
        TenantsCommand::List { server } => (server, Method::GET, "/tenants".to_string(), None),
        TenantsCommand::Show { id, server } => {
            (server, Method::GET, format!("/tenants/{id}"), None)
        }
        TenantsCommand::Create {
            id,
            licenses,
            server,
        } => {
            let body = json!({"id": id, "licenses": seats(&licenses)?});
            (server, Method::POST, "/tenants".into(), Some(body))
        }
        TenantsCommand::Set {
            id,
            licenses,
            disable,
            enable,
            new_token,
            server,
        } => {
            let mut body = json!({});
            if !licenses.is_empty() {
                body["licenses"] = json!(seats(&licenses)?);
            }
            if disable || enable {
                body["disabled"] = json!(disable);
            }
            if new_token {
                body["new_token"] = json!(true);
            }
            (server, Method::PATCH, format!("/tenants/{id}"), Some(body))
        }
        TenantsCommand::Delete { id, server } => {
            (server, Method::DELETE, format!("/tenants/{id}"), None)
        }
    };
    let answer = call(&server, method, &path, body.as_ref()).await?;
    if json_out {
        outln!("{}", serde_json::to_string_pretty(&answer)?)?;
    } else {
        print(&answer)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `KIND=SEATS` pairs as a map.
fn seats(pairs: &[String]) -> Result<BTreeMap<String, u32>> {
    pairs
        .iter()
        .map(|p| {
            let (kind, n) = p
                .split_once('=')
                .with_context(|| format!("--license {p:?}: write KIND=SEATS, e.g. standard=100"))?;
            let n = n
                .parse()
                .with_context(|| format!("--license {p:?}: SEATS must be a whole number"))?;
            Ok((kind.to_string(), n))
        })
        .collect()
}

pub(super) async fn call(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value> {
    let url = format!("{}{path}", s.server.trim_end_matches('/'));
    let mut client = reqwest::Client::builder();
    if let Some(f) = &s.ca_file {
        let pem =
            std::fs::read(f).with_context(|| format!("cannot read --ca-file {}", f.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
            client = client.add_root_certificate(cert);
        }
    }
    let mut req = client.build()?.request(method, &url).bearer_auth(&s.token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req
        .send()
        .await
        .with_context(|| format!("cannot reach the usersync API at {}; is `usersync serve` running there (--server, USERSYNC_URL)?", s.server))?;
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let why = answer["error"].as_str().unwrap_or("no reason given");
        bail!("the API answered {status}: {why}");
    }
    Ok(answer)
}

/// One line per tenant; a new token on a line of its own.
fn print(answer: &Value) -> Result<()> {
    let tenants = match answer {
        Value::Array(list) => list.clone(),
        Value::Object(o) if o.contains_key("deleted") => {
            outln!("deleted {}", answer["deleted"].as_str().unwrap_or_default())?;
            return Ok(());
        }
        other => vec![other.clone()],
    };
    for t in &tenants {
        let licenses: Vec<String> = t["licenses"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        outln!(
            "{}  defined in {}  licenses [{}]  jobs [{}]{}",
            t["id"].as_str().unwrap_or_default(),
            t["defined_in"].as_str().unwrap_or_default(),
            licenses.join(", "),
            t["jobs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            if t["disabled"] == true {
                "  DISABLED"
            } else {
                ""
            }
        )?;
        if let Some(token) = t["token"].as_str() {
            outln!("token (shown once, keep it): {token}")?;
        }
    }
    Ok(())
}
