//! Distinguished names compared the way the directory compares them.
//!
//! Servers re-escape DNs (`cn=Smith\, John` comes back as
//! `cn=Smith\2C John`) and keep whatever case a value was written in, so a
//! group's `member` value and the member's own DN rarely match as strings.
//! Every DN the connector hands the host as a reference goes through
//! [`normalize`]: attribute types and values lowercased, escapes decoded and
//! re-encoded one canonical way, spaces around separators dropped.

/// The canonical form of `dn`.
pub fn normalize(dn: &str) -> String {
    // Every user, manager and member DN of a read comes through here:
    // the common case takes one allocation instead of one per part.
    normalize_plain(dn).unwrap_or_else(|| normalize_general(dn))
}

/// Any DN: unescape, lowercase, sort multi-valued RDNs, re-escape.
fn normalize_general(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    for (i, rdn) in split_unescaped(dn, ',').iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let mut parts: Vec<String> = split_unescaped(rdn, '+')
            .iter()
            .map(|ava| normalize_ava(ava))
            .collect();
        parts.sort(); // multi-valued RDNs are unordered
        out.push_str(&parts.join("+"));
    }
    out
}

/// One pass for DNs with nothing to unescape, sort or re-escape: ASCII,
/// no backslash, quote, `+`, `#`, `<`, `>`, `;`, and one `=` per RDN.
/// Gives exactly what the general path gives, or `None`.
fn normalize_plain(dn: &str) -> Option<String> {
    let special =
        |b: u8| !b.is_ascii() || matches!(b, b'\\' | b'+' | b'"' | b'#' | b'<' | b'>' | b';');
    if dn.bytes().any(special) {
        return None;
    }
    let mut out = String::with_capacity(dn.len());
    for (i, rdn) in dn.split(',').enumerate() {
        let (ty, value) = rdn.split_once('=')?;
        if value.contains('=') {
            return None;
        }
        if i > 0 {
            out.push(',');
        }
        out.extend(ty.trim().chars().map(|c| c.to_ascii_lowercase()));
        out.push('=');
        out.extend(value.trim().chars().map(|c| c.to_ascii_lowercase()));
    }
    Some(out)
}

fn normalize_ava(ava: &str) -> String {
    let (ty, value) = match ava.find('=') {
        Some(eq) => (&ava[..eq], &ava[eq + 1..]),
        None => return ava.trim().to_lowercase(),
    };
    let value = unescape(value.trim());
    format!(
        "{}={}",
        ty.trim().to_ascii_lowercase(),
        escape(&value.to_lowercase())
    )
}

/// Split on `sep` where it is not escaped by a backslash.
fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == sep => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Decode `\,` and `\2C` style escapes (hex pairs may spell UTF-8).
fn unescape(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            });
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(bytes[i + 1]);
                    i += 2;
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 4514 escaping: special characters, and spaces or `#` at the ends.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escape a value for use inside an LDAP search filter (RFC 4515).
pub fn filter_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_case_do_not_matter() {
        let a = normalize("CN=Smith\\, John,OU=People,DC=Example,DC=com");
        let b = normalize("cn=smith\\2C john, ou=people,dc=example,dc=com");
        assert_eq!(a, b);
        assert_eq!(a, "cn=smith\\, john,ou=people,dc=example,dc=com");
    }

    #[test]
    fn unicode_hex_escapes_decode() {
        // "é" is C3 A9 in UTF-8
        assert_eq!(normalize("cn=Ren\\C3\\A9"), normalize("cn=René"));
    }

    #[test]
    fn leading_spaces_and_multi_valued_rdns() {
        assert_eq!(normalize("cn=\\20x"), "cn=\\ x");
        assert_eq!(normalize("uid=a+cn=b,dc=x"), normalize("cn=B+uid=A,dc=x"));
    }

    #[test]
    fn the_plain_path_agrees_with_the_general_one() {
        for dn in [
            "uid=u1,ou=People,dc=example,dc=com",
            " CN = Big Group , OU=Groups,DC=Example,DC=COM",
            "cn=,dc=x",
            "dc=x,,dc=y",
            "cn=a=b,dc=x",
            "cn",
            "",
            "CN=Smith\\, John,OU=People",
            "cn=Zoë,dc=x",
        ] {
            let general = normalize_general(dn);
            if let Some(plain) = normalize_plain(dn) {
                assert_eq!(plain, general, "{dn:?}");
            }
            assert_eq!(normalize(dn), general, "{dn:?}");
        }
    }

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(filter_escape("a*(b)\\"), "a\\2a\\28b\\29\\5c");
    }
}
