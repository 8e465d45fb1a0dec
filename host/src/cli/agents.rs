//! `usersync agent`: enrol this machine (`--enroll CODE`) or run as the
//! agent; `usersync agents enroll|list|revoke`: a tenant's agents, through
//! a running daemon's admin API.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use super::tenants::{call, Server};
use crate::agent::AgentConfig;

#[derive(Args)]
pub struct AgentArgs {
    /// The hosted usersync to enrol with, e.g. https://sync.example.com.
    #[arg(long)]
    server: Option<String>,
    /// A one-time enrolment code from the tenant's admin: exchange it for
    /// this agent's credential (kept in the credential file), then exit.
    #[arg(
        long,
        value_name = "CODE",
        env = "USERSYNC_ENROLL_CODE",
        hide_env_values = true
    )]
    enroll: Option<String>,
}

#[derive(Subcommand)]
pub enum AgentsCommand {
    /// A one-time enrolment code for a new agent of the tenant (printed once).
    Enroll {
        #[arg(long)]
        tenant: String,
        /// How long the code is valid (1 to 10080 minutes).
        #[arg(long, default_value_t = 60)]
        ttl_minutes: u32,
        /// Limit the agent to this job (repeatable; default: every agent job of the tenant).
        #[arg(long = "job")]
        jobs: Vec<String>,
        #[command(flatten)]
        server: Server,
    },
    /// The tenant's agents: version, last seen, jobs, last error.
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        server: Server,
    },
    /// Revoke an agent: its credential is refused from now on.
    Revoke {
        id: String,
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        server: Server,
    },
}

/// The agent's config: `-c` if given, else `agent.toml`; a missing file
/// is fine for enrolling (everything beside the working folder).
fn agent_config(path: &Path, enrolling: bool) -> Result<AgentConfig> {
    let path = if path == Path::new("usersync.toml") {
        PathBuf::from("agent.toml")
    } else {
        path.to_path_buf()
    };
    if enrolling && !path.exists() {
        let mut config: AgentConfig = toml::from_str("")?;
        config.base_dir = std::path::absolute(".")?;
        return Ok(config);
    }
    AgentConfig::load(&path)
}

pub async fn agent(config: &Path, args: AgentArgs) -> Result<ExitCode> {
    let config = agent_config(config, args.enroll.is_some())?;
    if let Some(code) = &args.enroll {
        let cred = crate::agent::enroll(&config, args.server.as_deref(), code).await?;
        outln!(
            "enrolled as agent {} of tenant {}; credential kept in {} (owner-only). Start the agent with `usersync agent`.",
            cred.agent_id,
            cred.tenant,
            config.credential_path().display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    crate::agent::serve(config).await?;
    Ok(ExitCode::SUCCESS)
}

/// A job id for a query string.
fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn agents(command: AgentsCommand, json_out: bool) -> Result<ExitCode> {
    let (server, method, path) = match command {
        AgentsCommand::Enroll {
            tenant,
            ttl_minutes,
            jobs,
            server,
        } => {
            let mut path =
                format!("/tenants/{tenant}/agents/enrollments?ttl_minutes={ttl_minutes}");
            if !jobs.is_empty() {
                let list: Vec<String> = jobs.iter().map(|j| url_escape(j)).collect();
                path.push_str(&format!("&jobs={}", list.join(",")));
            }
            (server, Method::POST, path)
        }
        AgentsCommand::List { tenant, server } => {
            (server, Method::GET, format!("/tenants/{tenant}/agents"))
        }
        AgentsCommand::Revoke { id, tenant, server } => (
            server,
            Method::DELETE,
            format!("/tenants/{tenant}/agents/{id}"),
        ),
    };
    let answer = call(&server, method, &path, None).await?;
    if json_out {
        outln!("{}", serde_json::to_string_pretty(&answer)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    match &answer {
        Value::Array(agents) => {
            for a in agents {
                let text = |k: &str| a[k].as_str().unwrap_or("-").to_string();
                let jobs: Vec<&str> = a["jobs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                outln!(
                    "{}  {}  version {}  last seen {}  jobs {}{}",
                    text("id"),
                    text("name"),
                    text("version"),
                    text("last_seen"),
                    jobs.join(","),
                    a["last_error"]
                        .as_str()
                        .map(|e| format!("  last error: {e}"))
                        .unwrap_or_default()
                )?;
            }
        }
        v if v["code"].is_string() => {
            outln!(
                "enrolment code (shown once, valid until {}): {}",
                v["expires_at"].as_str().unwrap_or("?"),
                v["code"].as_str().unwrap_or("")
            )?;
        }
        v => outln!("{}", v["deleted"].as_str().unwrap_or("done"))?,
    }
    Ok(ExitCode::SUCCESS)
}
