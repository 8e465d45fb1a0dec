//! LDAP entries to source records: the immutable id, the enabled flag,
//! the fields in the default mapper's vocabulary (users are built in
//! user.rs), references as normalized DNs.

use usersync_sdk::host::ldap::{EntryRef, ValueRef};
use usersync_sdk::{AttrValue, Attribute, ObjectKind, SourceObject};

use crate::config::Resolved;
use crate::dn;

/// userAccountControl bit 2: ACCOUNTDISABLE.
const UAC_DISABLED: u32 = 0x2;

/// The entry's immutable id as text: entryUUID as is, objectGUID in the
/// registry form Windows shows (`{...}` without braces, lowercase).
pub fn id_of(e: EntryRef<'_>, id_attr: &str) -> Option<String> {
    match e.values(id_attr).next()? {
        ValueRef::Text(t) if !t.is_empty() => Some(t.to_ascii_lowercase()),
        ValueRef::Binary(b) if b.len() == 16 => Some(guid_string(b)),
        ValueRef::Binary(b) if !b.is_empty() => Some(crate::cursor::hex(b)),
        _ => None,
    }
}

/// The RID of an entry's objectSid (its last sub-authority), which
/// members name in `primaryGroupID`.
pub fn rid(e: EntryRef<'_>) -> Option<u32> {
    match e.values("objectSid").next()? {
        ValueRef::Binary(b) if b.len() >= 12 && b.len() == 8 + 4 * b[1] as usize => {
            let last = &b[b.len() - 4..];
            Some(u32::from_le_bytes([last[0], last[1], last[2], last[3]]))
        }
        _ => None,
    }
}

/// A GUID's bytes are little-endian in their first three fields.
pub fn guid_string(b: &[u8]) -> String {
    // The bytes in the order Windows prints them.
    const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, &at) in ORDER.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(DIGITS[usize::from(b[at] >> 4)]));
        out.push(char::from(DIGITS[usize::from(b[at] & 15)]));
    }
    out
}

pub fn enabled(e: EntryRef<'_>, cfg: &Resolved) -> bool {
    if cfg.is_ad() {
        let uac = e
            .first_text("userAccountControl")
            .and_then(|v| v.parse::<u32>().ok());
        if uac.is_some_and(|v| v & UAC_DISABLED != 0) {
            return false;
        }
    }
    match &cfg.disabled {
        Some((attr, value)) => !e.texts(attr).any(|v| v.eq_ignore_ascii_case(value)),
        None => true,
    }
}

/// A group record with its direct members as normalized DNs (nested
/// groups are members too; the engine resolves them).
pub fn group(
    e: EntryRef<'_>,
    cfg: &Resolved,
    members: Vec<String>,
) -> Result<SourceObject, String> {
    let id = id_of(e, &cfg.id_attr).ok_or_else(|| {
        format!(
            "group {} has no {} (the immutable id); check source.attributes.id",
            e.dn(),
            cfg.id_attr
        )
    })?;
    let mut o = SourceObject::new(ObjectKind::Group, id);
    o.ref_key = dn::normalize(e.dn());
    let name = e
        .first_text(&cfg.group_name_attr)
        .map(str::to_string)
        .or_else(|| dn::first_value(e.dn()))
        .unwrap_or_else(|| e.dn().to_string());
    o.attributes.push(text_attr("name", vec![name]));
    o.attributes.push(text_attr("dn", vec![e.dn().to_string()]));
    if let Some(d) = e.first_text("description") {
        o.attributes
            .push(text_attr("description", vec![d.to_string()]));
    }
    o.members = members;
    Ok(o)
}

/// `member` and `uniqueMember` DNs of an entry, as the server wrote them
/// (not normalized), handed to `each` one at a time (the entry stays in its
/// page, so a group of 500,000 members is never held twice).
pub fn each_member_dn(
    e: EntryRef<'_>,
    mut each: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), String> {
    for a in e.attributes() {
        // groupOfUniqueNames values may carry an optional "#'0101'B" uid suffix.
        let unique = a.name().eq_ignore_ascii_case("uniqueMember");
        if !unique && !a.name().eq_ignore_ascii_case("member") {
            continue;
        }
        for t in a.values().filter_map(ValueRef::text) {
            let t = if unique { without_uid_suffix(t) } else { t };
            each(t)?;
        }
    }
    Ok(())
}

/// A uniqueMember value may end in an optional uid, `#'0101'B` (RFC 4517
/// NameAndOptionalUID); an escaped `\#` in the DN itself is not one.
fn without_uid_suffix(v: &str) -> &str {
    match v.rsplit_once("#'") {
        Some((dn, bits))
            if !dn.ends_with('\\')
                && bits
                    .strip_suffix("'B")
                    .is_some_and(|b| b.bytes().all(|c| c == b'0' || c == b'1')) =>
        {
            dn
        }
        _ => v,
    }
}

fn text_attr(name: &str, values: Vec<String>) -> Attribute {
    Attribute {
        name: name.to_string(),
        values: values.into_iter().map(AttrValue::Text).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_read_as_windows_shows_them() {
        // objectGUID bytes of {01020304-0506-0708-090a-0b0c0d0e0f10}
        let b = [4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16];
        assert_eq!(guid_string(&b), "01020304-0506-0708-090a-0b0c0d0e0f10");
    }

    #[test]
    fn a_unique_member_loses_only_a_real_uid_suffix() {
        assert_eq!(without_uid_suffix("cn=a,dc=x#'0101'B"), "cn=a,dc=x");
        assert_eq!(without_uid_suffix("cn=a\\#'x'B,dc=x"), "cn=a\\#'x'B,dc=x");
        assert_eq!(without_uid_suffix("cn=it#'s,dc=x"), "cn=it#'s,dc=x");
    }
}
