//! `usersync plugins ...`: list what is served, check a file, sign and
//! verify files (vendors), and start a new plugin project.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::new_plugin::{Kind, Lang, NewPlugin};
use crate::config::{Config, PluginPolicy};
use crate::registry::{admit, Registry};
use crate::runtime::signature::{self, KeyPair, PublicKey, TrustedKey, Verdict};
use crate::runtime::{Origin, Runtime};

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// Every plugin served (from a file or built in), and files refused.
    List,
    /// Validate one .wasm file as the host would before serving it
    /// (with the config's signature rule, if the config file exists).
    Check { file: PathBuf },
    /// Run a connector or mapper against the conformance kit: stable ids,
    /// full vs incremental reads, checkpoints, reasons on rejects,
    /// deletions, bounded memory, clean errors. Exit 1 on any failure.
    Test {
        file: PathBuf,
        /// The scenario for a connector: a folder with fixture.toml, first/
        /// and second/ (e.g. examples/conformance/csv); optional for a mapper.
        #[arg(long, value_name = "DIR")]
        fixture: Option<PathBuf>,
        /// The plugin's memory limit during the checks (like limits.memory_mb).
        #[arg(long, default_value_t = 256, value_name = "N")]
        memory_mb: u64,
    },
    /// Make an ed25519 key pair for signing plugins: OUT.key (secret, keep
    /// it safe) and OUT.pub (the public key operators add to trusted_keys).
    Keygen {
        /// Path and base name of the two files, e.g. `keys/acme`.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a .wasm with a key from `plugins keygen` (the signature is
    /// embedded in the file; a file may carry several signatures).
    Sign {
        file: PathBuf,
        /// The secret key file (OUT.key of `plugins keygen`, or a wasmsign2 secret key).
        #[arg(long)]
        key: PathBuf,
        /// Write the signed file here instead of replacing FILE.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Say who signed a .wasm. Exit 0: signed by a given key; 1: unsigned,
    /// unknown key or changed after signing.
    Verify {
        file: PathBuf,
        /// A public key (`ed25519:...`), a .pub file or a wasmsign2 public
        /// key file; repeatable. Without it, the config's trusted_keys
        /// (global and every tenant's).
        #[arg(long)]
        key: Vec<String>,
    },
    /// Start a plugin project: code with a test, build script, README.
    /// `bash build.sh` in it builds NAME.wasm and checks it.
    New {
        /// The plugin's name, as jobs will write it (`acme-hr`).
        name: String,
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
        #[arg(long, value_enum)]
        kind: Kind,
        /// The project folder (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The `sdk` folder of a usersync checkout (Rust; default: the one
        /// this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

pub async fn run(command: PluginsCommand, config_path: &Path, json: bool) -> Result<ExitCode> {
    match command {
        PluginsCommand::List => {
            // Only the plugins: no store is opened, and each refusal is
            // listed once (not also logged).
            let config = Config::load(config_path)?;
            let dir = config.resolve(&config.plugins.dir);
            let rt = Arc::new(Runtime::new(&config.resolve(&config.plugins.cache_dir))?);
            let registry = Registry::open(&rt, &dir, config.plugin_policy());
            list(&registry, &dir, json)?;
        }
        PluginsCommand::Check { file } => check(&file, config_path, json)?,
        PluginsCommand::Test {
            file,
            fixture,
            memory_mb,
        } => {
            return super::conformance::run(super::conformance::Options {
                file,
                fixture,
                memory_mb,
                json,
            })
            .await
        }
        PluginsCommand::Keygen { out } => keygen(&out, json)?,
        PluginsCommand::Sign { file, key, output } => sign(&file, &key, output, json)?,
        PluginsCommand::Verify { file, key } => return verify(&file, &key, config_path, json),
        PluginsCommand::New {
            name,
            lang,
            kind,
            dir,
            sdk,
        } => {
            let dir = super::new_plugin::create(&NewPlugin {
                name,
                lang,
                kind,
                dir,
                sdk,
            })?;
            outln!(
                "created {}: build it with `bash {}/build.sh` (see its README.md)",
                dir.display(),
                dir.display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(reg: &Registry, dir: &Path, json: bool) -> Result<()> {
    let mut served: Vec<_> = reg.all().collect();
    served.sort_by(|(ta, a), (tb, b)| (ta, &a.manifest.name).cmp(&(tb, &b.manifest.name)));
    let refused = reg.refused();
    let overridden = reg.overridden_builtins();
    if json {
        let list: Vec<_> = served
            .iter()
            .map(|(tenant, p)| serde_json::json!({ "tenant": tenant, "manifest": p.manifest, "wit_version": p.wit_version, "hash": p.hash, "origin": p.origin, "signature": (p.origin == Origin::File).then_some(&p.signature), "path": p.path, "loaded_at": p.loaded_at }))
            .collect();
        let overridden: Vec<_> = overridden
            .iter()
            .map(|(name, by)| serde_json::json!({ "name": name, "by": by }))
            .collect();
        let out = serde_json::json!({ "dir": dir, "plugins": list, "overridden_builtins": overridden, "refused": refused });
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "name",
        "version",
        "kind",
        "served from",
        "signature",
        "tenant",
        "file",
    ]);
    for (tenant, p) in &served {
        let (signature, file) = match p.origin {
            Origin::BuiltIn => ("-".to_string(), "(part of usersync)".to_string()),
            Origin::File => (p.signature.describe(), p.path.display().to_string()),
        };
        t.add_row(vec![
            p.manifest.name.clone(),
            p.manifest.version.clone(),
            p.manifest.kind.to_string(),
            p.origin.to_string(),
            signature,
            tenant.unwrap_or("(shared)").to_string(),
            file,
        ]);
    }
    if served.is_empty() {
        outln!(
            "no plugins are served: {} holds no valid .wasm and the built-in plugins are off ([plugins] builtins = false).\n\
             Copy plugin files there (temp name, then `mv`), or turn the built-ins on.",
            dir.display()
        )?;
    } else {
        outln!("{t}")?;
    }
    for (name, by) in &overridden {
        outln!(
            "built-in {name} is overridden by {} (remove the file to serve the built-in again)",
            by.display()
        )?;
    }
    for e in &refused {
        outln!("refused: {e}")?;
    }
    if !served.is_empty() && served.iter().all(|(_, p)| p.origin == Origin::BuiltIn) {
        outln!(
            "only built-in plugins are served: {} holds no plugin files. Drop a .wasm there to add a plugin, \
             or one named like a built-in to override it.",
            dir.display()
        )?;
    }
    Ok(())
}

/// The config's signature rules, if a config file is there to read.
fn policy(config_path: &Path) -> Result<Option<PluginPolicy>> {
    if !config_path.exists() {
        return Ok(None);
    }
    Ok(Some(Config::load(config_path)?.plugin_policy()))
}

/// Read, signature-check and validate one file as the plugins folder would.
pub(super) fn load_file(
    rt: &Runtime,
    file: &Path,
    policy: &PluginPolicy,
) -> Result<(crate::runtime::LoadedPlugin, Verdict)> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let verdict = signature::verify(&bytes, &policy.all_keys());
    if let Err(reason) = admit(&verdict, policy.trust(None)) {
        bail!("plugin {} refused: {reason}", file.display());
    }
    Ok((rt.load_bytes(file, &bytes, Origin::File)?, verdict))
}

fn check(file: &Path, config_path: &Path, json: bool) -> Result<()> {
    let policy = policy(config_path)?.unwrap_or_default();
    let rt = Runtime::new(&super::check_cache_dir())?;
    let (plugin, verdict) = load_file(&rt, file, &policy)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&plugin.manifest)?)?;
    } else {
        outln!(
            "ok: {} {} ({}, contract {}, {})",
            plugin.manifest.name,
            plugin.manifest.version,
            plugin.manifest.kind,
            plugin.wit_version,
            verdict.describe()
        )?;
    }
    Ok(())
}

fn keygen(out: &Path, json: bool) -> Result<()> {
    let secret = out.with_extension("key");
    let public = out.with_extension("pub");
    for f in [&secret, &public] {
        if f.exists() {
            bail!(
                "{} already exists; keygen never overwrites a key (move it away first)",
                f.display()
            );
        }
    }
    let pair = KeyPair::generate().map_err(anyhow::Error::msg)?;
    write_private(&secret, &pair.to_bytes())?;
    std::fs::write(&public, format!("{}\n", pair.public()))
        .with_context(|| format!("cannot write {}", public.display()))?;
    if json {
        let v = serde_json::json!({ "secret_key": secret, "public_key_file": public, "public_key": pair.public().to_string(), "key_id": pair.public().fingerprint() });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        outln!(
            "wrote {} (secret: keep it out of version control) and {}\n\
             public key (for operators' trusted_keys): {}\nkey id: {}",
            secret.display(),
            public.display(),
            pair.public(),
            pair.public().fingerprint()
        )?;
    }
    Ok(())
}

/// Create a file only this user can read, never following or replacing an
/// existing one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn sign(file: &Path, key: &Path, output: Option<PathBuf>, json: bool) -> Result<()> {
    let key_bytes =
        std::fs::read(key).with_context(|| format!("cannot read the key {}", key.display()))?;
    let pair = KeyPair::from_bytes(&key_bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}; sign with the .key file of `usersync plugins keygen`, not the .pub",
            key.display()
        )
    })?;
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let signed = signature::sign(&wasm, &pair)
        .map_err(|e| anyhow::anyhow!("cannot sign {}: {e}", file.display()))?;
    let target = output.unwrap_or_else(|| file.to_path_buf());
    // Temp name then rename: a host watching the folder never sees half a file.
    let name = target
        .file_name()
        .context("the output needs a file name")?
        .to_string_lossy();
    let tmp = target.with_file_name(format!(".{name}.signing"));
    std::fs::write(&tmp, &signed).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &target)
        .with_context(|| format!("cannot move the signed file to {}", target.display()))?;
    let id = pair.public().fingerprint();
    if json {
        let v = serde_json::json!({ "file": target, "key_id": id });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        outln!("signed {} with key {id}", target.display())?;
    }
    Ok(())
}

fn verify(file: &Path, keys: &[String], config_path: &Path, json: bool) -> Result<ExitCode> {
    let keys = if keys.is_empty() {
        let Some(policy) = policy(config_path)? else {
            bail!(
                "no keys to verify against: pass --key ed25519:... (or a .pub file), or a config with trusted_keys (-c)"
            );
        };
        policy.all_keys()
    } else {
        keys.iter().map(|k| given_key(k)).collect::<Result<_>>()?
    };
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let verdict = signature::verify(&bytes, &keys);
    if json {
        outln!("{}", serde_json::to_string_pretty(&verdict)?)?;
    } else {
        outln!("{}: {}", file.display(), verdict.describe())?;
    }
    Ok(match verdict {
        Verdict::Signed { .. } => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// `--key`: the key itself, or a file holding it (named by its path):
/// a `.pub` of `plugins keygen`, or wasmsign2's public key file.
fn given_key(text: &str) -> Result<TrustedKey> {
    if text.starts_with(signature::KEY_PREFIX) {
        let key = PublicKey::parse(text).map_err(anyhow::Error::msg)?;
        return Ok(TrustedKey {
            name: format!("key {}", key.fingerprint()),
            key,
        });
    }
    let content =
        std::fs::read(text).with_context(|| format!("cannot read the key file {text}"))?;
    let key = PublicKey::from_file_bytes(&content).map_err(|e| anyhow::anyhow!("{text}: {e}"))?;
    Ok(TrustedKey {
        name: text.to_string(),
        key,
    })
}
