//! `usersync plugins new NAME --lang L --kind K`: a ready plugin project
//! (code with a test, build script, README) from the templates in
//! host/templates/<lang>/. Rust is built in; each other language plugs in
//! as one function in `files_for` returning its files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Mapper,
    Connector,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Mapper => "mapper",
            Kind::Connector => "connector",
        }
    }
}

/// What to create.
pub struct NewPlugin {
    pub name: String,
    pub lang: Lang,
    pub kind: Kind,
    /// The project folder (default: `./NAME`).
    pub dir: Option<PathBuf>,
    /// The usersync-sdk crate folder, for a Rust project.
    pub sdk: Option<PathBuf>,
}

/// One file of a project: path relative to the project folder, content,
/// executable or not.
pub struct File {
    pub path: &'static str,
    pub content: String,
    pub executable: bool,
}

/// Write the project; returns its folder.
pub fn create(req: &NewPlugin) -> Result<PathBuf> {
    check_name(&req.name)?;
    let dir = req.dir.clone().unwrap_or_else(|| PathBuf::from(&req.name));
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} already exists and is not empty; pick another --dir",
            dir.display()
        );
    }
    let files = files_for(req)?;
    for f in &files {
        let path = dir.join(f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, &f.content)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if f.executable {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(dir)
}

/// The templates of each language: Rust here, Python and JavaScript from
/// sdk/templates/ (which scripts/build-polyglot.sh builds in the test suite).
fn files_for(req: &NewPlugin) -> Result<Vec<File>> {
    match req.lang {
        Lang::Rust => rust(req),
        Lang::Python | Lang::Js => polyglot(req),
    }
}

/// A template file: (path in the project, content, executable).
type Source = (&'static str, &'static str, bool);

macro_rules! template {
    ($dir:literal: $($file:literal $exec:literal),+) => {
        &[$(($file, include_str!(concat!("../../../sdk/templates/", $dir, "/", $file)), $exec)),+]
    };
}

/// The contract, copied into the project's wit/ (the tools build from it).
const WIT: &[Source] = &[
    (
        "wit/http.wit",
        include_str!("../../../wit/v0.1/http.wit"),
        false,
    ),
    (
        "wit/ldap.wit",
        include_str!("../../../wit/v0.1/ldap.wit"),
        false,
    ),
    (
        "wit/licensing.wit",
        include_str!("../../../wit/v0.1/licensing.wit"),
        false,
    ),
    (
        "wit/log.wit",
        include_str!("../../../wit/v0.1/log.wit"),
        false,
    ),
    (
        "wit/schedule.wit",
        include_str!("../../../wit/v0.1/schedule.wit"),
        false,
    ),
    (
        "wit/state.wit",
        include_str!("../../../wit/v0.1/state.wit"),
        false,
    ),
    (
        "wit/target.wit",
        include_str!("../../../wit/v0.1/target.wit"),
        false,
    ),
    (
        "wit/types.wit",
        include_str!("../../../wit/v0.1/types.wit"),
        false,
    ),
    (
        "wit/worlds.wit",
        include_str!("../../../wit/v0.1/worlds.wit"),
        false,
    ),
];

const GITIGNORE: Source = (".gitignore", "*.wasm\n.tools/\n__pycache__/\n", false);

fn polyglot(req: &NewPlugin) -> Result<Vec<File>> {
    let sources: &[Source] = match (req.lang, req.kind) {
        (Lang::Python, Kind::Mapper) => {
            template!("python-mapper": "app.py" false, "build.sh" true, "test.sh" true, "README.md" false)
        }
        (Lang::Python, Kind::Connector) => {
            template!("python-connector": "app.py" false, "build.sh" true, "test.sh" true, "README.md" false)
        }
        (Lang::Js, Kind::Mapper) => {
            template!("js-mapper": "mapper.js" false, "build.sh" true, "test.sh" true, "README.md" false)
        }
        (Lang::Js, Kind::Connector) => {
            template!("js-connector": "connector.js" false, "build.sh" true, "test.sh" true, "README.md" false)
        }
        (Lang::Rust, _) => unreachable!("Rust projects come from `rust`"),
    };
    Ok(sources
        .iter()
        .chain(WIT)
        .chain(std::iter::once(&GITIGNORE))
        .map(|&(path, content, executable)| File {
            path,
            content: content.replace("{{name}}", &req.name),
            executable,
        })
        .collect())
}

/// A plugin name: what jobs write in `connector =` / `mappers = [...]`.
fn check_name(name: &str) -> Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "{name:?} is not a plugin name: use lowercase letters, digits and `-`, starting with a letter (e.g. `acme-hr`), at most 64 characters"
        );
    }
    Ok(())
}

/// The SDK folder for a Rust project: `--sdk`, else the one this binary
/// was built from, if it is still there.
fn sdk_dir(given: Option<&Path>) -> Result<PathBuf> {
    let dir = match given {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk")),
    };
    let found = dir.join("Cargo.toml").is_file();
    match (found, given) {
        (true, _) => Ok(dir.canonicalize()?),
        (false, Some(d)) => bail!(
            "--sdk {}: no usersync-sdk crate there (expected its Cargo.toml); give the `sdk` folder of a usersync checkout",
            d.display()
        ),
        (false, None) => bail!(
            "where is usersync-sdk? pass --sdk PATH with the `sdk` folder of a usersync checkout (the SDK is used by path: it is not published to a package registry)"
        ),
    }
}

fn rust(req: &NewPlugin) -> Result<Vec<File>> {
    let sdk = sdk_dir(req.sdk.as_deref())?;
    let name = req.name.as_str();
    let kind = req.kind.as_str();
    let usage = match req.kind {
        Kind::Mapper => format!(
            "Use it in a job after the default mapper (later mappers' fields win):\n\n\
             ```toml\nmappers = [\"default-mapper\", \"{name}\"]\n[jobs.mapping]\ntitle_prefix = \"EXT-\"\n```\n\n\
             Try it before swapping it in: `usersync sync --job JOB --dry-run --mapper {name}.wasm` \
             shows exactly what it would change, and installs nothing."
        ),
        Kind::Connector => format!(
            "Use it in a job:\n\n```toml\nconnector = \"{name}\"\n[jobs.source]\nusers = [{{ id = \"e-1\", uid = \"ada\", mail = \"ada@example.com\" }}]\n```\n\n\
             `usersync test-connection --job JOB` calls its `test_connection`."
        ),
    };
    let vars = [
        ("{{name}}", name.to_string()),
        ("{{crate}}", name.to_string()),
        ("{{crate_file}}", name.replace('-', "_")),
        ("{{kind}}", kind.to_string()),
        ("{{sdk_dep}}", format!("path = {:?}", sdk.display().to_string())),
        (
            "{{sdk_note}}",
            "Used by path (it is not on a package registry); point it at the `sdk` folder of your usersync checkout.".to_string(),
        ),
        ("{{sdk_doc}}", sdk.join("src/lib.rs").display().to_string()),
        ("{{usage}}", usage),
    ];
    let fill = |template: &str| {
        vars.iter()
            .fold(template.to_string(), |t, (k, v)| t.replace(k, v))
    };
    let lib = match req.kind {
        Kind::Mapper => include_str!("../../templates/rust/mapper/src/lib.rs"),
        Kind::Connector => include_str!("../../templates/rust/connector/src/lib.rs"),
    };
    let file = |path, template: &str, executable| File {
        path,
        content: fill(template),
        executable,
    };
    Ok(vec![
        file(
            "Cargo.toml",
            include_str!("../../templates/rust/common/Cargo.toml"),
            false,
        ),
        file("src/lib.rs", lib, false),
        file(
            "build.sh",
            include_str!("../../templates/rust/common/build.sh"),
            true,
        ),
        file(
            "README.md",
            include_str!("../../templates/rust/common/README.md"),
            false,
        ),
        file(
            ".gitignore",
            include_str!("../../templates/rust/common/gitignore"),
            false,
        ),
        file(
            "rust-toolchain.toml",
            include_str!("../../../rust-toolchain.toml"),
            false,
        ),
    ])
}
