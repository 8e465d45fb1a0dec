//! Secrets from configuration or the environment. They print as `***` in
//! every Debug/Display, so they cannot leak into logs, errors or run records.

use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// Read from this environment variable at use time.
    env: Option<String>,
    /// Given inline (prefer `env` outside of tests).
    value: Option<String>,
}

impl Secret {
    pub fn from_value(v: impl Into<String>) -> Self {
        Secret {
            env: None,
            value: Some(v.into()),
        }
    }

    /// The secret's value, or an error that names where it was looked for
    /// (never the value).
    pub fn reveal(&self) -> anyhow::Result<String> {
        if let Some(var) = &self.env {
            return std::env::var(var)
                .map_err(|_| anyhow::anyhow!("secret environment variable {var} is not set"));
        }
        self.value
            .clone()
            .ok_or_else(|| anyhow::anyhow!("secret has neither `env` nor `value`"))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.env {
            Some(var) => write!(f, "Secret(env {var}, ***)"),
            None => f.write_str("Secret(***)"),
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
}
