//! Reading LDIF: parsing `ldapsearch -LLL` output into entries, counting entries.

use anyhow::{bail, Context, Result};

use super::base64::base64_decode;

/// One entry of an LDIF search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdifEntry {
    /// The DN exactly as the server wrote it (servers re-escape: `\,` may come back as `\2C`).
    pub dn: String,
    /// Attribute descriptions (with options such as `;range=0-1499`) and raw values, in order.
    pub attrs: Vec<(String, Vec<u8>)>,
}

impl LdifEntry {
    /// Values of `name` (case-insensitive, options included in the name), as lossy UTF-8.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.raw_values(name)
            .into_iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    pub fn raw_values(&self, name: &str) -> Vec<&[u8]> {
        self.attrs
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    pub fn first(&self, name: &str) -> Option<String> {
        self.values(name).into_iter().next()
    }

    /// Distinct attribute descriptions, in order of first appearance.
    pub fn attr_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for (n, _) in &self.attrs {
            if !names.iter().any(|m| m.eq_ignore_ascii_case(n)) {
                names.push(n);
            }
        }
        names
    }
}

/// Parses `ldapsearch -LLL` style output (comments and `ref:` lines ignored, folded lines joined,
/// `::` base64 values decoded).
pub fn parse_ldif(text: &str) -> Result<Vec<LdifEntry>> {
    // unfold
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(cont) = line.strip_prefix(' ') {
            if let Some(last) = lines.last_mut() {
                last.push_str(cont);
                continue;
            }
        }
        lines.push(line.to_string());
    }
    let mut entries = Vec::new();
    let mut cur: Option<LdifEntry> = None;
    for line in lines {
        if line.is_empty() {
            if let Some(e) = cur.take() {
                entries.push(e);
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some(colon) = line.find(':') else {
            bail!("unexpected LDIF line {line:?}");
        };
        let name = &line[..colon];
        let rest = &line[colon + 1..];
        let value = if let Some(b) = rest.strip_prefix(':') {
            base64_decode(b.trim())?
        } else {
            rest.strip_prefix(' ').unwrap_or(rest).as_bytes().to_vec()
        };
        if name.eq_ignore_ascii_case("dn") {
            if let Some(e) = cur.take() {
                entries.push(e);
            }
            cur = Some(LdifEntry {
                dn: String::from_utf8(value).context("DN is not UTF-8")?,
                attrs: Vec::new(),
            });
        } else if name.eq_ignore_ascii_case("ref") || name.eq_ignore_ascii_case("version") {
            continue;
        } else if let Some(e) = cur.as_mut() {
            e.attrs.push((name.to_string(), value));
        }
    }
    if let Some(e) = cur.take() {
        entries.push(e);
    }
    Ok(entries)
}

/// Counts entries (`dn:` lines) in unfolded ldapsearch output; referrals (`ref:`) don't count.
pub(crate) fn count_dns(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("dn:")).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::ldif_line;

    #[test]
    fn ldif_lines_and_parse() {
        let mut s = String::new();
        ldif_line(&mut s, "dn", "cn=Zoë,dc=x");
        ldif_line(&mut s, "cn", "Zoë");
        ldif_line(&mut s, "sn", "plain");
        ldif_line(&mut s, "description", " leading");
        s.push('\n');
        assert!(s.contains("dn:: "));
        assert!(s.contains("sn: plain\n"));
        let e = parse_ldif(&s).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].dn, "cn=Zoë,dc=x");
        assert_eq!(e[0].first("CN").unwrap(), "Zoë");
        assert_eq!(e[0].first("description").unwrap(), " leading");
    }
}
