//! Where each configured column sits in the header row.

use std::collections::HashSet;

use csv::ByteRecord;

use crate::config::Config;

/// Where each configured column sits in the header.
pub struct Layout {
    pub headers: Vec<String>,
    pub id: usize,
    pub enabled: Option<usize>,
    pub groups: Option<usize>,
    /// The user match field and the manager column.
    pub matching: Option<usize>,
    pub manager: Option<usize>,
    /// Per header position: (attribute name, multi-valued); `None` = not an attribute.
    pub attrs: Vec<Option<(String, bool)>>,
    pub warnings: Vec<String>,
}

/// Exact match first, then case-insensitive, so `Mail` finds `mail`.
fn position(headers: &[String], name: &str) -> Option<usize> {
    let name = name.trim();
    headers
        .iter()
        .position(|h| h == name)
        .or_else(|| headers.iter().position(|h| h.eq_ignore_ascii_case(name)))
}

impl Layout {
    pub fn new(config: &Config, header: &ByteRecord) -> Result<Layout, String> {
        let mut headers = Vec::with_capacity(header.len());
        for (i, raw) in header.iter().enumerate() {
            let text = std::str::from_utf8(raw).map_err(|_| {
                format!(
                    "header column {} is not valid UTF-8; save the file as UTF-8",
                    i + 1
                )
            })?;
            // A UTF-8 byte-order mark (Excel adds one) must not become part of the first name.
            let text = if i == 0 {
                text.trim_start_matches('\u{feff}')
            } else {
                text
            };
            headers.push(text.trim().to_string());
        }
        let find = |key: &str, name: &str| {
            position(&headers, name).ok_or_else(|| {
                format!(
                    "{key} `{name}` is not a column; the header has: {}",
                    headers.join(", ")
                )
            })
        };
        let id = find("id_column", config.id_column())?;
        let matching = config
            .match_field
            .as_deref()
            .map(|c| find("match_field", c))
            .transpose()?;
        let manager = config
            .manager_column
            .as_deref()
            .map(|c| find("manager_column", c))
            .transpose()?;
        let enabled = config
            .enabled_column
            .as_deref()
            .map(|c| find("enabled_column", c))
            .transpose()?;
        let groups = config
            .groups_column
            .as_deref()
            .map(|c| find("groups_column", c))
            .transpose()?;

        let mut warnings = Vec::new();
        for (key, what) in config
            .columns
            .keys()
            .map(|k| (k, "columns"))
            .chain(config.multi_valued.iter().map(|k| (k, "multi_valued")))
        {
            if position(&headers, key).is_none() {
                warnings.push(format!(
                    "{what} names `{key}`, which is not a column; the header has: {}",
                    headers.join(", ")
                ));
            }
        }
        let mut seen = HashSet::new();
        let mut attrs = Vec::with_capacity(headers.len());
        for (i, h) in headers.iter().enumerate() {
            // The enabled and groups columns become `enabled` / `member_of`, not attributes.
            if Some(i) == enabled || Some(i) == groups {
                attrs.push(None);
                continue;
            }
            if h.is_empty() {
                warnings.push(format!(
                    "header column {} has no name; its values are ignored",
                    i + 1
                ));
                attrs.push(None);
                continue;
            }
            if !seen.insert(h.to_ascii_lowercase()) {
                warnings.push(format!(
                    "header `{h}` appears twice; only the first column is read"
                ));
                attrs.push(None);
                continue;
            }
            let mapped = config
                .columns
                .iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(h));
            let name = mapped.map_or_else(|| h.clone(), |(_, v)| v.clone());
            let multi = config
                .multi_valued
                .iter()
                .any(|m| m.trim().eq_ignore_ascii_case(h) || m.trim() == name);
            attrs.push(Some((name, multi)));
        }
        Ok(Layout {
            headers,
            id,
            enabled,
            groups,
            matching,
            manager,
            attrs,
            warnings,
        })
    }
}
