//! Secrets from configuration or the environment. They print as `***` in
//! every Debug/Display, so they cannot leak into logs, errors or run records.
//!
//! Written as a table (`{ env = "VAR" }`, `{ file = "path" }`,
//! `{ value = "..." }`) or as a string: `"env:VAR"`, `"file:path"`, or the
//! value itself.

pub mod seal;
pub mod sealed_job;

use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

#[derive(Clone)]
pub struct Secret {
    /// Read from this environment variable at use time.
    env: Option<String>,
    /// Read from this file at use time (trailing newlines dropped).
    file: Option<PathBuf>,
    /// Given inline (prefer `env` or `file` outside of tests).
    value: Option<String>,
}

/// The table form, field by field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    env: Option<String>,
    file: Option<PathBuf>,
    value: Option<String>,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        struct SecretVisitor;
        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a secret: \"env:VAR\", \"file:path\", a value, or a table { env = \"VAR\" } / { file = \"path\" } / { value = \"...\" }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Secret, E> {
                Ok(Secret::parse(s))
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Secret, M::Error> {
                let f = Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let given = [f.env.is_some(), f.file.is_some(), f.value.is_some()];
                if given.iter().filter(|g| **g).count() > 1 {
                    return Err(de::Error::custom(
                        "a secret takes one of `env`, `file` or `value`, not several",
                    ));
                }
                Ok(Secret {
                    env: f.env,
                    file: f.file,
                    value: f.value,
                })
            }
        }
        d.deserialize_any(SecretVisitor)
    }
}

impl Secret {
    pub fn from_value(v: impl Into<String>) -> Self {
        Secret {
            env: None,
            file: None,
            value: Some(v.into()),
        }
    }

    /// The string form: `env:VAR`, `file:path`, or the value itself.
    fn parse(s: &str) -> Secret {
        let mut secret = Secret {
            env: None,
            file: None,
            value: None,
        };
        if let Some(var) = s.strip_prefix("env:") {
            secret.env = Some(var.to_string());
        } else if let Some(path) = s.strip_prefix("file:") {
            secret.file = Some(PathBuf::from(path));
        } else {
            secret.value = Some(s.to_string());
        }
        secret
    }

    /// Make a relative `file` path relative to `base` (the config's folder).
    pub fn anchor(&mut self, base: &Path) {
        if let Some(f) = &mut self.file {
            if f.is_relative() {
                *f = base.join(&*f);
            }
        }
    }

    /// The secret's value, or an error that names where it was looked for
    /// (never the value).
    pub fn reveal(&self) -> anyhow::Result<String> {
        if let Some(var) = &self.env {
            return std::env::var(var)
                .map_err(|_| anyhow::anyhow!("secret environment variable {var} is not set"));
        }
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read the secret file {}: {e}", path.display())
            })?;
            return Ok(text.trim_end_matches(['\r', '\n']).to_string());
        }
        self.value
            .clone()
            .ok_or_else(|| anyhow::anyhow!("secret has neither `env`, `file` nor `value`"))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.env, &self.file) {
            (Some(var), _) => write!(f, "Secret(env {var}, ***)"),
            (None, Some(path)) => write!(f, "Secret(file {}, ***)", path.display()),
            (None, None) => f.write_str("Secret(***)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::from_value("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.reveal().unwrap(), "hunter2");
    }

    #[derive(Deserialize)]
    struct Holder {
        s: Secret,
    }

    fn secret(toml_text: &str) -> Result<Secret, String> {
        toml::from_str::<Holder>(toml_text)
            .map(|h| h.s)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn string_and_table_forms_read_the_same_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "from-a-file\n").unwrap();
        let mut file = secret("s = \"file:tok\"").unwrap();
        file.anchor(dir.path());
        assert_eq!(file.reveal().unwrap(), "from-a-file");
        let mut table = secret("s = { file = \"tok\" }").unwrap();
        table.anchor(dir.path());
        assert_eq!(table.reveal().unwrap(), "from-a-file");
        assert_eq!(
            secret("s = \"literal\"").unwrap().reveal().unwrap(),
            "literal"
        );
        let env = secret("s = \"env:USERSYNC_TEST_NO_SUCH_VAR\"").unwrap();
        assert!(format!("{:#}", env.reveal().unwrap_err()).contains("USERSYNC_TEST_NO_SUCH_VAR"));
    }

    #[test]
    fn a_secret_with_two_sources_or_an_unknown_key_is_refused() {
        let two = secret("s = { env = \"A\", value = \"b\" }").unwrap_err();
        assert!(two.contains("one of `env`, `file` or `value`"), "{two}");
        let unknown = secret("s = { path = \"x\" }").unwrap_err();
        assert!(unknown.contains("path"), "{unknown}");
    }
}
