//! The CSV connector's `[source]` table.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[source]` for `connector = "csv"`. Unknown keys are rejected so that a
/// typo (`id_colum`) fails loudly instead of being silently ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file inside the sandbox, typically `/input/<file>.csv`.
    #[serde(default)]
    pub path: String,
    /// Or fetch the file over HTTPS through the host (its origin must be in
    /// `[jobs.grants] http`), e.g. `https://files.example.com/people.csv`.
    #[serde(default)]
    pub url: Option<String>,
    /// The job's credential for `url` (e.g. `[jobs.credentials.csv]` with
    /// type = "basic"); the host adds it, the plugin never sees it.
    #[serde(default)]
    pub credential: Option<String>,
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// The column holding each user's immutable id (default: `match_field`).
    #[serde(default)]
    pub id_column: String,
    /// The user match field: the column whose value becomes the username
    /// (sent as attribute `username`); other rows' manager column refers to it.
    #[serde(default)]
    pub match_field: Option<String>,
    /// The column holding the user's manager, by the manager's match field
    /// value (or id); sent as attribute `manager`.
    #[serde(default)]
    pub manager_column: Option<String>,
    /// Column whose false/0/no/n/disabled/inactive marks a disabled user.
    #[serde(default)]
    pub enabled_column: Option<String>,
    /// Column listing the groups a user belongs to.
    #[serde(default)]
    pub groups_column: Option<String>,
    /// Between a user's groups; `;` like `multi_value_separator`, so one
    /// convention serves every list in a file.
    #[serde(default = "default_groups_separator")]
    pub groups_separator: String,
    /// Columns whose values hold several values.
    #[serde(default)]
    pub multi_valued: Vec<String>,
    /// Between the values of a `multi_valued` column; `;` by default.
    #[serde(default = "default_multi_value_separator")]
    pub multi_value_separator: String,
    /// Column header -> attribute name (default: the header itself).
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

fn default_delimiter() -> char {
    ','
}
fn default_groups_separator() -> String {
    ";".into()
}
fn default_multi_value_separator() -> String {
    default_groups_separator()
}
fn default_batch_size() -> usize {
    500
}

impl Config {
    /// The id column: `id_column`, else the match field.
    pub fn id_column(&self) -> &str {
        match (&self.match_field, self.id_column.trim().is_empty()) {
            (Some(m), true) => m,
            _ => &self.id_column,
        }
    }

    /// Where the file comes from, for messages.
    pub fn source(&self) -> &str {
        self.url.as_deref().unwrap_or(&self.path)
    }

    /// Checks serde cannot express; each message says how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        match (self.path.trim().is_empty(), &self.url) {
            (true, None) => return Err("`path` is empty; set it to the file inside the sandbox, e.g. \"/input/people.csv\", or set `url`".into()),
            (false, Some(_)) => return Err("set either `path` (a granted folder) or `url` (HTTPS), not both".into()),
            (_, Some(url)) if !url.starts_with("https://") => {
                return Err(format!("`url` {url:?} must be an https:// URL"))
            }
            _ => {}
        }
        if self.credential.is_some() && self.url.is_none() {
            return Err("`credential` is only used with `url`".into());
        }
        if !self.delimiter.is_ascii() || matches!(self.delimiter, '"' | '\n' | '\r') {
            return Err(format!(
                "`delimiter` {:?} is not usable; use a single ASCII character such as \",\", \";\" or \"\\t\"",
                self.delimiter
            ));
        }
        if self.id_column().trim().is_empty() {
            return Err(
                "`id_column` is empty; name the column that holds each user's immutable id (or set `match_field`)".into(),
            );
        }
        if self.groups_separator.is_empty() {
            return Err("`groups_separator` is empty; use e.g. \";\"".into());
        }
        if self.multi_value_separator.is_empty() {
            return Err("`multi_value_separator` is empty; use e.g. \";\"".into());
        }
        if self.batch_size == 0 {
            return Err("`batch_size` must be at least 1 (default 500)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Config, String> {
        serde_json::from_str::<Config>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_apply() {
        let c = parse(r#"{"path":"/input/a.csv","id_column":"id"}"#).unwrap();
        assert_eq!(c.delimiter, ',');
        assert_eq!(c.groups_separator, ";");
        assert_eq!(c.multi_value_separator, ";");
        assert_eq!(c.batch_size, 500);
        c.validate().unwrap();
    }

    #[test]
    fn typo_is_named() {
        let e = parse(r#"{"path":"/input/a.csv","id_colum":"id"}"#).unwrap_err();
        assert!(e.contains("id_colum"), "{e}");
    }

    #[test]
    fn remote_and_match_field() {
        let c = parse(
            r#"{"url":"https://files.example.com/p.csv","credential":"csv","match_field":"login"}"#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.id_column(), "login");
        let c = parse(r#"{"url":"http://files.example.com/p.csv","id_column":"id"}"#).unwrap();
        assert!(c.validate().unwrap_err().contains("https://"));
        let c =
            parse(r#"{"path":"/input/a.csv","url":"https://x/a.csv","id_column":"id"}"#).unwrap();
        assert!(c.validate().unwrap_err().contains("not both"));
        let c = parse(r#"{"id_column":"id"}"#).unwrap();
        assert!(c.validate().unwrap_err().contains("`path`"));
    }

    #[test]
    fn bad_delimiter_and_batch_size() {
        let mut c = parse(r#"{"path":"/input/a.csv","id_column":"id","delimiter":"\""}"#).unwrap();
        assert!(c.validate().unwrap_err().contains("delimiter"));
        c.delimiter = ';';
        c.batch_size = 0;
        assert!(c.validate().unwrap_err().contains("batch_size"));
    }
}
