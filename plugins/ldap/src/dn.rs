//! Distinguished names compared the way the directory compares them.
//!
//! Servers re-escape DNs (`cn=Smith\, John` comes back as
//! `cn=Smith\2C John`) and keep whatever case a value was written in, so a
//! group's `member` value and the member's own DN rarely match as strings.
//! Every DN the connector hands the host as a reference goes through
//! [`normalize`]: parsed per RFC 4514, attribute types and values
//! lowercased, multi-valued RDNs sorted, values re-escaped one canonical way.

/// One `type=value` of an RDN, the value unescaped.
pub type Ava = (String, String);
/// A parsed DN: its RDNs, each one or more AVAs.
pub type Dn = Vec<Vec<Ava>>;

/// The canonical form of `dn`.
pub fn normalize(dn: &str) -> String {
    let mut out = String::new();
    normalize_into(&mut out, dn);
    out
}

/// Whether the entry `dn` is `base` or below it; both normalized.
pub fn is_under(dn: &str, base: &str) -> bool {
    base.is_empty()
        || dn
            .strip_suffix(base)
            .is_some_and(|rest| rest.is_empty() || rest.ends_with(','))
}

/// [`normalize`] into `out`, reusing its allocation in the common case.
pub fn normalize_into(out: &mut String, dn: &str) {
    // Every user, manager and member DN of a read comes through here. The
    // common case is checked, then copied and lowercased in two tight loops:
    // pushing each byte as it was checked cost a capacity check and a char
    // encoding per byte.
    out.clear();
    if lowercase_is_normal(dn) {
        out.push_str(dn);
        out.make_ascii_lowercase();
    } else {
        *out = normalize_plain(dn).unwrap_or_else(|| normalize_general(dn));
    }
}

/// Bytes the plain paths leave to the general one.
const fn special(b: u8) -> bool {
    !b.is_ascii() || matches!(b, b'\\' | b'+' | b'"' | b'#' | b'<' | b'>' | b';' | 0)
}

/// What [`lowercase_is_normal`] tells bytes apart by: a table, so the
/// common byte costs one load and one branch.
const OTHER: u8 = 0;
const COMMA: u8 = 1;
const EQUALS: u8 = 2;
const SPACE: u8 = 3;
const SPECIAL: u8 = 4;
const CLASS: [u8; 256] = {
    let mut class = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        class[b] = match b as u8 {
            b',' => COMMA,
            b'=' => EQUALS,
            b' ' => SPACE,
            x if special(x) => SPECIAL,
            _ => OTHER,
        };
        b += 1;
    }
    class
};

/// Whether [`normalize_plain`] would give `dn` lowercased, i.e. `dn` is
/// plain (see there) and has no space to trim: none at either end of a
/// type or a value. One pass over the bytes, no allocation.
#[inline(always)]
fn lowercase_is_normal(dn: &str) -> bool {
    // `=` signs in the current RDN; the start counts as after a comma.
    let (mut eqs, mut prev) = (0u32, COMMA);
    for &b in dn.as_bytes() {
        let class = CLASS[b as usize];
        if class == OTHER {
            prev = OTHER;
            continue;
        }
        match class {
            COMMA if eqs != 1 || prev == SPACE => return false,
            COMMA => eqs = 0,
            EQUALS if prev == SPACE => return false,
            EQUALS => eqs += 1,
            SPACE if prev == COMMA || prev == EQUALS => return false,
            SPACE => {}
            _ => return false,
        }
        prev = class;
    }
    eqs == 1 && prev != SPACE
}

/// Any DN: parse, lowercase, sort multi-valued RDNs, re-escape.
pub(crate) fn normalize_general(dn: &str) -> String {
    let parsed: Dn = parse(dn)
        .into_iter()
        .map(|rdn| {
            let mut avas: Vec<Ava> = rdn
                .into_iter()
                .map(|(ty, v)| (ty.to_ascii_lowercase(), v.to_lowercase()))
                .collect();
            avas.sort(); // multi-valued RDNs are unordered
            avas
        })
        .collect();
    serialize(&parsed)
}

/// One pass for DNs with nothing to unescape, sort or re-escape: ASCII,
/// no backslash, quote, `+`, `#`, `<`, `>`, `;`, and one `=` per RDN.
/// Gives exactly what the general path gives, or `None`.
fn normalize_plain(dn: &str) -> Option<String> {
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
        out.push_str(ty.trim_matches(' '));
        out.push('=');
        out.push_str(value.trim_matches(' '));
    }
    out.make_ascii_lowercase();
    Some(out)
}

/// Parse `dn` (RFC 4514, leniently: spaces around `=`, `,` and `+` are
/// dropped unless escaped; hex escapes may spell UTF-8 in either case; a
/// malformed escape is kept as the characters written). An AVA without
/// `=` becomes a type with an empty value; an empty DN has no RDNs.
pub fn parse(dn: &str) -> Dn {
    if dn.trim_matches(' ').is_empty() {
        return Vec::new();
    }
    split_unescaped(dn, ',')
        .into_iter()
        .map(|rdn| {
            split_unescaped(rdn, '+')
                .into_iter()
                .map(|ava| match find_unescaped(ava, '=') {
                    Some(eq) => (
                        ava[..eq].trim_matches(' ').to_string(),
                        unescape_value(&ava[eq + 1..]),
                    ),
                    None => (ava.trim_matches(' ').to_string(), String::new()),
                })
                .collect()
        })
        .collect()
}

/// The RFC 4514 string of a parsed DN, escaping only what must be.
pub fn serialize(dn: &Dn) -> String {
    let mut out = String::new();
    for (i, rdn) in dn.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, (ty, value)) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            out.push_str(ty);
            out.push('=');
            out.push_str(&escape(value));
        }
    }
    out
}

/// The value of the first RDN of `dn`, unescaped (`cn=Team 7\, Ops,...`
/// gives `Team 7, Ops`).
pub fn first_value(dn: &str) -> Option<String> {
    parse(dn)
        .into_iter()
        .next()?
        .into_iter()
        .next()
        .map(|(_, v)| v)
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

fn find_unescaped(s: &str, wanted: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == wanted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Exactly two hex digits (`u8::from_str_radix` alone would take `+A`).
fn hex_pair(h: &[u8]) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    match h {
        [a, b, ..] => Some((digit(*a)? * 16 + digit(*b)?) as u8),
        _ => None,
    }
}

/// Decode a value's `\,` and `\2C` style escapes (hex pairs may spell
/// UTF-8). Unescaped spaces at either end are insignificant and dropped;
/// escaped ones (`\ `, `\20`) are part of the value.
fn unescape_value(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    // Length of `out` up to its last character that is not a plain space.
    let mut significant = 0;
    let mut i = 0;
    while i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match hex_pair(&bytes[i + 1..]) {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    // A backslash before any other character escapes it;
                    // a multi-byte character is copied whole below.
                    i += 1;
                    let len = utf8_len(bytes[i]);
                    out.extend_from_slice(&bytes[i..(i + len).min(bytes.len())]);
                    i += len;
                }
            }
            significant = out.len();
        } else {
            out.push(bytes[i]);
            if bytes[i] != b' ' {
                significant = out.len();
            }
            i += 1;
        }
    }
    out.truncate(significant);
    String::from_utf8_lossy(&out).into_owned()
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// RFC 4514 escaping: special characters, NUL, and spaces or `#` at the
/// ends.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
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
mod props;

#[cfg(test)]
mod tests {

    #[test]
    fn under_a_base_means_below_it_at_an_rdn_boundary() {
        let base = "ou=groups,dc=example,dc=com";
        assert!(is_under(base, base));
        assert!(is_under("cn=a,ou=groups,dc=example,dc=com", base));
        assert!(!is_under("cn=a,ou=people,dc=example,dc=com", base));
        assert!(!is_under("cn=a,xou=groups,dc=example,dc=com", base));
        assert!(is_under("cn=a,dc=com", ""));
    }

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
    fn the_lowercase_fast_path_agrees_with_the_general_one() {
        let tricky = [
            "uid=u1,ou=people,dc=example,dc=com",
            "UID=U1,OU=People,DC=Example,DC=COM",
            "cn=Big Group,ou=groups,dc=x",
            "cn=Big  Group,ou=groups",
            " cn=a,dc=x",
            "cn=a ,dc=x",
            "cn =a,dc=x",
            "cn= a,dc=x",
            "cn=a, dc=x",
            "cn=a,dc=x ",
            "cn=Smith\\, John,ou=people",
            "cn=Smith\\2C John,ou=people",
            "cn=\\20x,dc=x",
            "cn=x\\ ,dc=x",
            "uid=a+cn=b,dc=x",
            "cn=B+uid=A,dc=x",
            "cn=#04024869,dc=x",
            "cn=a#b,dc=x",
            "cn=Zoë,dc=x",
            "cn=Ren\\C3\\A9,dc=x",
            "cn=田中,dc=x",
            "cn=a=b,dc=x",
            "cn=,dc=x",
            "=x,dc=y",
            "dc=x,,dc=y",
            "dc=x,",
            ",dc=x",
            "cn",
            "",
            " ",
            "cn=a;b,dc=x",
            "cn=\"q\",dc=x",
            "cn=a<b>,dc=x",
            "cn=a\0,dc=x",
            "cn=tab\t,dc=x",
        ];
        for dn in tricky {
            let general = normalize_general(dn);
            if lowercase_is_normal(dn) {
                assert_eq!(dn.to_ascii_lowercase(), general, "{dn:?}");
            }
            assert_eq!(normalize(dn), general, "{dn:?}");
            let mut into = "Left Over".to_string();
            normalize_into(&mut into, dn);
            assert_eq!(into, general, "{dn:?}");
        }
        // The fast path is the one taken for the common shapes.
        assert!(lowercase_is_normal("UID=U1,OU=People,DC=Example,DC=COM"));
        assert!(lowercase_is_normal("cn=Big Group,ou=groups,dc=x"));
        assert!(!lowercase_is_normal("cn=a, dc=x"));
        assert!(!lowercase_is_normal("cn=B+uid=A,dc=x"));
    }

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(filter_escape("a*(b)\\"), "a\\2a\\28b\\29\\5c");
    }

    #[test]
    fn a_plus_after_the_backslash_is_not_hex() {
        // `\+A` is an escaped `+` then `A`, not the byte 0x0A.
        assert_eq!(
            normalize("cn=Megan\\+Arthur Nichols,ou=people"),
            normalize("cn=Megan\\2BArthur Nichols,ou=people")
        );
        assert_eq!(
            first_value("cn=Megan\\+Arthur"),
            Some("Megan+Arthur".into())
        );
        assert_eq!(first_value("cn=a\\-1"), Some("a-1".into()));
    }

    #[test]
    fn escaped_spaces_at_the_ends_are_kept() {
        let dn = "cn=\\ Spacey Person\\ ,ou=people";
        assert_eq!(first_value(dn), Some(" Spacey Person ".into()));
        assert_eq!(
            normalize(dn),
            normalize("CN=\\20Spacey Person\\20, ou=people")
        );
        assert_ne!(normalize(dn), normalize("cn=Spacey Person,ou=people"));
        // Unescaped spaces around a value are not part of it.
        assert_eq!(
            normalize("cn = Spacey Person , ou=people"),
            normalize("cn=Spacey Person,ou=people")
        );
    }
}
