//! A fixture folder: `fixture.toml` (the `[source]` to give the connector,
//! optional `[https]` and `[mapping]`, and `[expect]`ed ids), a first data
//! set in `first/` and a changed one in `second/`. The kit copies a data set
//! into a scratch folder that it mounts at `/input` and serves over HTTPS.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

pub const HOW_TO_GIVE_ONE: &str = "give one with --fixture DIR: a folder with fixture.toml \
    ([source] for the connector, [expect] ids), first/ (the data) and second/ (the same data \
    changed); see docs/PLUGINS.md, \"Conformance kit\", and examples/conformance/csv";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    /// The connector's `[source]` when the data is files under `/input`.
    source: Option<toml::Table>,
    https: Option<Https>,
    #[serde(default)]
    expect: Expect,
    /// The mapper's `[mapping]`.
    mapping: Option<toml::Table>,
}

/// The same data served by the kit over HTTPS with basic auth.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Https {
    /// The connector's `[source]`; `{origin}` becomes the kit's
    /// `https://127.0.0.1:PORT`, and the credential is named `fixture`.
    pub source: toml::Table,
    pub username: String,
    /// Made up for the fixture; the kit checks no error ever shows it.
    pub password: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Every user id a full read of `first/` returns.
    #[serde(default)]
    pub ids: Vec<String>,
    /// Users new or changed in `second/`: all an incremental read returns.
    #[serde(default)]
    pub changed: Vec<String>,
    /// Users gone from `second/`: an incremental read removes them.
    #[serde(default)]
    pub removed: Vec<String>,
}

pub struct Fixture {
    pub dir: PathBuf,
    pub source: Option<String>,
    pub https: Option<Https>,
    pub expect: Expect,
    pub mapping: Option<String>,
    pub first: PathBuf,
    pub second: Option<PathBuf>,
}

impl Fixture {
    pub fn load(dir: &Path) -> Result<Fixture> {
        let file = dir.join("fixture.toml");
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "cannot read {}; a fixture folder holds fixture.toml, first/ and second/",
                file.display()
            )
        })?;
        let parsed: FixtureFile = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid fixture", file.display()))?;
        let json =
            |t: &toml::Table| serde_json::to_string(t).expect("TOML tables serialize to JSON");
        let first = dir.join("first");
        let second = dir.join("second");
        if parsed.source.is_some() || parsed.https.is_some() {
            if !first.is_dir() {
                bail!(
                    "{} has no first/ folder with the data to read",
                    dir.display()
                );
            }
            for (name, list) in [
                ("changed", &parsed.expect.changed),
                ("removed", &parsed.expect.removed),
            ] {
                if !list.is_empty() && !second.is_dir() {
                    bail!(
                        "{} sets expect.{name} but has no second/ folder with the changed data",
                        file.display()
                    );
                }
            }
        }
        Ok(Fixture {
            dir: dir.to_path_buf(),
            source: parsed.source.as_ref().map(json),
            https: parsed.https,
            expect: parsed.expect,
            mapping: parsed.mapping.as_ref().map(json),
            first,
            second: second.is_dir().then_some(second),
        })
    }
}

impl Https {
    /// The `[source]` JSON pointing at `origin`.
    pub fn source_for(&self, origin: &str) -> String {
        serde_json::to_string(&self.source)
            .expect("TOML tables serialize to JSON")
            .replace("{origin}", origin)
    }

    /// The `[jobs.credentials.fixture]` the kit holds for the plugin.
    pub fn credential(&self, password: &str) -> Result<crate::config::Credential> {
        Ok(serde_json::from_value(serde_json::json!({
            "type": "basic",
            "username": self.username,
            "password": { "value": password },
        }))?)
    }
}

/// The scratch folder a data set is copied into (mounted at `/input`,
/// served over HTTPS); removed when dropped.
pub struct Scratch {
    root: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Result<Scratch> {
        let root = tempfile::Builder::new()
            .prefix("usersync-conformance-")
            .tempdir()
            .context("cannot create a scratch folder")?;
        std::fs::create_dir(root.path().join("input"))?;
        std::fs::create_dir(root.path().join("empty"))?;
        Ok(Scratch { root })
    }

    /// The folder holding the current data set.
    pub fn input(&self) -> PathBuf {
        self.root.path().join("input")
    }

    /// A folder with nothing in it: the "missing file" scenario.
    pub fn empty(&self) -> PathBuf {
        self.root.path().join("empty")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Replace the current data set with the files of `set`.
    pub fn load(&self, set: &Path) -> Result<()> {
        let input = self.input();
        std::fs::remove_dir_all(&input)?;
        copy_dir(set, &input).with_context(|| format!("cannot copy the data set {}", set.display()))
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
