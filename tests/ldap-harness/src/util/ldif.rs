//! Writing LDIF and DNs: `name: value` lines (base64 when needed), DN value escaping, DN parents.

use super::base64::base64_encode;

/// True when an LDIF value can be written as-is (RFC 2849 SAFE-STRING, no trailing space).
fn ldif_safe(v: &[u8]) -> bool {
    match v.first() {
        None => return true,
        Some(b' ' | b':' | b'<') => return false,
        _ => {}
    }
    if v.last() == Some(&b' ') {
        return false;
    }
    v.iter()
        .all(|&b| b != 0 && b != b'\n' && b != b'\r' && b < 0x80)
}

/// Appends one `name: value` line to `out`, base64-encoding (`name:: ...`) when RFC 2849 requires
/// it (non-ASCII, leading space/colon/`<`, trailing space, newlines).
pub fn ldif_line(out: &mut String, name: &str, value: impl AsRef<[u8]>) {
    let v = value.as_ref();
    out.push_str(name);
    if ldif_safe(v) {
        out.push_str(": ");
        out.push_str(std::str::from_utf8(v).expect("safe LDIF values are ASCII"));
    } else {
        out.push_str(":: ");
        out.push_str(&base64_encode(v));
    }
    out.push('\n');
}

/// Escapes an attribute value for use in a DN (RFC 4514): `Smith, John` → `Smith\, John`.
pub fn escape_dn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == n - 1 => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// The parent of a DN string: what follows the first unescaped comma (`cn=a\,b,dc=x` → `dc=x`).
pub fn dn_parent(dn: &str) -> Option<&str> {
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            ',' if !escaped => return Some(&dn[i + 1..]),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_escaping() {
        assert_eq!(escape_dn_value("Smith, John"), "Smith\\, John");
        assert_eq!(escape_dn_value(" a+b "), "\\ a\\+b\\ ");
        assert_eq!(escape_dn_value("#1"), "\\#1");
        assert_eq!(
            dn_parent("cn=Smith\\, John,cn=Users,dc=x"),
            Some("cn=Users,dc=x")
        );
        assert_eq!(dn_parent("cn=a\\\\,dc=x"), Some("dc=x"));
        assert_eq!(dn_parent("dc=x"), None);
    }
}
