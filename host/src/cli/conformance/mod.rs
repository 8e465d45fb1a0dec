//! `usersync plugins test FILE`: the vendor conformance kit. It loads the
//! plugin like the plugins folder would, runs it with the host's real
//! imports against a standard scenario (a fixture's data as files under
//! `/input`, and over HTTPS from a throwaway server on 127.0.0.1 through the
//! brokered `http`), and prints one verdict per rule every plugin must keep.
//! No config file, no store.

mod capture;
mod connector;
mod failures;
mod fixture;
mod https;
mod mapper;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::config::Limits;
use crate::model::PluginKind;
use crate::runtime::{Grant, Runtime};
use capture::Subject;
use fixture::{Fixture, Scratch};
use report::Verdict;

pub struct Options {
    pub file: PathBuf,
    pub fixture: Option<PathBuf>,
    pub memory_mb: u64,
    pub json: bool,
}

pub async fn run(opts: Options) -> Result<ExitCode> {
    let (min, max) = crate::config::limits::MEMORY_MB;
    if !(min..=max).contains(&opts.memory_mb) {
        bail!(
            "--memory-mb {} is out of range; give {min} to {max} (like limits.memory_mb)",
            opts.memory_mb
        );
    }
    let limits = Limits {
        memory_mb: opts.memory_mb,
        ..Limits::default()
    };
    let rt = Arc::new(Runtime::new(&super::check_cache_dir())?);
    let plugin = super::plugins::load_file(&rt, &opts.file, &Default::default())?.0;
    let fixture = opts.fixture.as_deref().map(Fixture::load).transpose()?;
    let verdicts = match plugin.manifest.kind {
        PluginKind::Mapper => {
            let mapping = fixture.as_ref().and_then(|f| f.mapping.clone());
            let (rt, plugin) = (rt.clone(), plugin.clone());
            tokio::task::spawn_blocking(move || mapper::check(&rt, &plugin, &limits, mapping.as_deref())).await?
        }
        PluginKind::Connector if plugin.manifest.capabilities.iter().any(|c| c == "ldap") => vec![Verdict::skip(
            "directory scenario",
            "the kit has no directory scenario yet; test against slapd with `usersync test-connection --job J` \
             and a sync of a job whose [jobs.ldap] points at it (examples/openldap has a ready setup)",
        )],
        PluginKind::Connector => {
            let Some(fixture) = fixture else {
                bail!(
                    "{} is a connector, and the kit needs data for it to read: no fixture was given; {}",
                    plugin.manifest.name,
                    fixture::HOW_TO_GIVE_ONE
                );
            };
            connector_checks(Subject::new(rt.clone(), plugin.clone(), limits), fixture).await?
        }
    };
    let shown = opts.fixture.as_ref().map(|f| f.display().to_string());
    let passed = report::print(&plugin, shown.as_deref(), &verdicts, opts.json)?;
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn connector_checks(subject: Subject, fixture: Fixture) -> Result<Vec<Verdict>> {
    if fixture.source.is_none() && fixture.https.is_none() {
        bail!(
            "{} has neither [source] (data as files) nor [https] (data over HTTPS); {}",
            fixture.dir.join("fixture.toml").display(),
            fixture::HOW_TO_GIVE_ONE
        );
    }
    let scratch = Scratch::new()?;
    // The server lives on this runtime while the plugin runs on a blocking thread.
    let server = match &fixture.https {
        Some(h) => Some(https::FileServer::start(scratch.input(), &h.username, &h.password).await?),
        None => None,
    };
    let ca_file = scratch.path("ca.pem");
    if let Some(s) = &server {
        std::fs::write(&ca_file, &s.ca_pem).context("cannot write the throwaway CA")?;
    }
    let origin = server.as_ref().map(|s| s.origin.clone());
    let verdicts = tokio::task::spawn_blocking(move || {
        scenario(&subject, &fixture, &scratch, origin.as_deref(), &ca_file)
    })
    .await??;
    drop(server);
    Ok(verdicts)
}

fn scenario(
    subject: &Subject,
    fixture: &Fixture,
    scratch: &Scratch,
    origin: Option<&str>,
    ca_file: &Path,
) -> Result<Vec<Verdict>> {
    let secrets: Vec<&str> = fixture.https.iter().map(|h| h.password.as_str()).collect();
    let mut out = Vec::new();
    match &fixture.source {
        Some(source) => {
            out.extend(connector::files(subject, fixture, source, scratch)?);
            let grant = Grant {
                input_dir: Some(scratch.input()),
                ..Grant::default()
            };
            out.push(failures::memory(
                subject,
                &grant,
                source,
                scratch,
                &fixture.first,
            )?);
            out.push(failures::missing_file(subject, source, scratch, &secrets));
        }
        None => out.push(Verdict::skip(
            connector::FULL,
            "the fixture has no [source] for data as files",
        )),
    }
    match (&fixture.https, origin) {
        (Some(h), Some(origin)) => out.extend(failures::https(subject, fixture, h, origin, ca_file, scratch)?),
        _ => out.push(Verdict::skip(
            failures::HTTPS_FULL,
            "the fixture has no [https] section, so the HTTPS, 401 and unreachable-server checks do not apply",
        )),
    }
    Ok(out)
}
