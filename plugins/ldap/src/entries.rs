//! LDAP entries to source records: the immutable id, the enabled flag,
//! the fields in the default mapper's vocabulary, references as normalized
//! DNs.

use usersync_sdk::host::ldap::Entry;
use usersync_sdk::{AttrValue, Attribute, ObjectKind, SourceObject};

use crate::config::Resolved;
use crate::dn;

/// userAccountControl bit 2: ACCOUNTDISABLE.
const UAC_DISABLED: u32 = 0x2;

/// The values of `name` (case-insensitive; `member;range=...` is not `member`).
pub fn values<'a>(e: &'a Entry, name: &str) -> &'a [AttrValue] {
    e.attributes
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.values.as_slice())
        .unwrap_or(&[])
}

pub fn texts<'a>(e: &'a Entry, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    values(e, name).iter().filter_map(|v| match v {
        AttrValue::Text(t) => Some(t.as_str()),
        AttrValue::Binary(_) => None,
    })
}

pub fn first_text<'a>(e: &'a Entry, name: &str) -> Option<&'a str> {
    texts(e, name).next()
}

/// The entry's immutable id as text: entryUUID as is, objectGUID in the
/// registry form Windows shows (`{...}` without braces, lowercase).
pub fn id_of(e: &Entry, id_attr: &str) -> Option<String> {
    match values(e, id_attr).first()? {
        AttrValue::Text(t) if !t.is_empty() => Some(t.to_ascii_lowercase()),
        AttrValue::Binary(b) if b.len() == 16 => Some(guid_string(b)),
        AttrValue::Binary(b) if !b.is_empty() => {
            Some(b.iter().map(|x| format!("{x:02x}")).collect())
        }
        _ => None,
    }
}

/// The RID of an entry's objectSid (its last sub-authority), which
/// members name in `primaryGroupID`.
pub fn rid(e: &Entry) -> Option<u32> {
    match values(e, "objectSid").first()? {
        AttrValue::Binary(b) if b.len() >= 12 && b.len() == 8 + 4 * b[1] as usize => {
            let last = &b[b.len() - 4..];
            Some(u32::from_le_bytes([last[0], last[1], last[2], last[3]]))
        }
        _ => None,
    }
}

/// A GUID's bytes are little-endian in their first three fields.
pub fn guid_string(b: &[u8]) -> String {
    let h = |r: &[u8]| r.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let rev = |r: &[u8]| {
        r.iter()
            .rev()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    };
    format!(
        "{}-{}-{}-{}-{}",
        rev(&b[0..4]),
        rev(&b[4..6]),
        rev(&b[6..8]),
        h(&b[8..10]),
        h(&b[10..16])
    )
}

fn enabled(e: &Entry, cfg: &Resolved) -> bool {
    if cfg.is_ad() {
        let uac = first_text(e, "userAccountControl").and_then(|v| v.parse::<u32>().ok());
        if uac.is_some_and(|v| v & UAC_DISABLED != 0) {
            return false;
        }
    }
    match &cfg.disabled {
        Some((attr, value)) => !texts(e, attr).any(|v| v.eq_ignore_ascii_case(value)),
        None => true,
    }
}

/// How [`user`] builds records, worked out once per read from the
/// configured fields: which of them read the same attribute, so values are
/// moved out of the entry and cloned only when they really go out twice.
pub struct UserPlan {
    fields: Vec<FieldPlan>,
    extras: Vec<String>,
    /// Attributes a record has at most (`dn`, two per field, extras).
    most: usize,
}

struct FieldPlan {
    field: String,
    source: String,
    /// A reference: the engine resolves it to the manager's id.
    manager: bool,
    /// Mappings may name the directory's own attribute as well as the
    /// field (`from = "sAMAccountName"` or `from = "username"`), so the
    /// values go out under the source's name too.
    own_name: bool,
    /// A later field reads the same attribute: clone, do not take.
    shared: bool,
}

impl UserPlan {
    pub fn new(cfg: &Resolved) -> UserPlan {
        let fields: Vec<FieldPlan> = cfg
            .fields
            .iter()
            .enumerate()
            .map(|(i, (field, source))| FieldPlan {
                field: field.clone(),
                source: source.clone(),
                manager: field == "manager",
                own_name: !source.eq_ignore_ascii_case(field),
                shared: cfg.fields[i + 1..]
                    .iter()
                    .any(|(_, later)| later.eq_ignore_ascii_case(source)),
            })
            .collect();
        UserPlan {
            most: 1 + 2 * fields.len() + cfg.extra.len(),
            fields,
            extras: cfg.extra.clone(),
        }
    }
}

/// Where the attribute `name` is (case-insensitive, the first one, as
/// [`values`] reads it).
fn position(e: &Entry, name: &str) -> Option<usize> {
    e.attributes
        .iter()
        .position(|a| a.name.eq_ignore_ascii_case(name))
}

/// A user record, or the reason it cannot be one (then `e` is as it was).
/// What the record sends is moved out of `e`: its DN, and the values and
/// names of the attributes sent.
pub fn user(e: &mut Entry, cfg: &Resolved, plan: &UserPlan) -> Result<SourceObject, String> {
    let id = id_of(e, &cfg.id_attr).ok_or_else(|| {
        format!(
            "{} has no {} (the immutable id); check source.attributes.id",
            e.dn, cfg.id_attr
        )
    })?;
    let mut o = SourceObject::new(ObjectKind::User, id);
    o.enabled = enabled(e, cfg);
    let dn = std::mem::take(&mut e.dn);
    o.ref_key = dn::normalize(&dn);
    o.attributes.reserve_exact(plan.most);
    o.attributes.push(text_attr("dn", vec![dn]));
    for f in &plan.fields {
        let Some(at) = position(e, &f.source) else {
            continue;
        };
        let a = &mut e.attributes[at];
        if a.values.is_empty() {
            continue;
        }
        let vals = if f.shared {
            a.values.clone()
        } else {
            std::mem::take(&mut a.values)
        };
        if f.own_name {
            // The entry's own spelling of the name when it is the one
            // configured: no later field reads this attribute, and an
            // extra of the same name is not sent again.
            let name = if !f.shared && a.name == f.source {
                std::mem::take(&mut a.name)
            } else {
                f.source.clone()
            };
            o.attributes.push(Attribute {
                name,
                values: vals.clone(),
            });
        }
        let vals = if f.manager {
            vals.into_iter()
                .filter_map(|v| match v {
                    AttrValue::Text(t) => Some(AttrValue::Text(dn::normalize_owned(t))),
                    AttrValue::Binary(_) => None,
                })
                .collect()
        } else {
            vals
        };
        o.attributes.push(Attribute {
            name: f.field.clone(),
            values: vals,
        });
    }
    for extra in &plan.extras {
        let sent = o
            .attributes
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(extra));
        // An attribute a field sent is sent under its name, so what is
        // taken here went out nowhere else.
        if let (false, Some(at)) = (sent, position(e, extra)) {
            let values = std::mem::take(&mut e.attributes[at].values);
            if !values.is_empty() {
                o.attributes.push(Attribute {
                    name: extra.clone(),
                    values,
                });
            }
        }
    }
    Ok(o)
}

/// The DN of a record [`user`] built (its first attribute).
pub fn user_dn(u: &SourceObject) -> &str {
    match u.attributes.first().and_then(|a| a.values.first()) {
        Some(AttrValue::Text(dn)) => dn,
        _ => "",
    }
}

/// A group record with its direct members as normalized DNs (nested
/// groups are members too; the engine resolves them).
pub fn group(e: &Entry, cfg: &Resolved, members: Vec<String>) -> Result<SourceObject, String> {
    let id = id_of(e, &cfg.id_attr).ok_or_else(|| {
        format!(
            "group {} has no {} (the immutable id); check source.attributes.id",
            e.dn, cfg.id_attr
        )
    })?;
    let mut o = SourceObject::new(ObjectKind::Group, id);
    o.ref_key = dn::normalize(&e.dn);
    let name = first_text(e, &cfg.group_name_attr)
        .map(str::to_string)
        .or_else(|| dn::first_value(&e.dn))
        .unwrap_or_else(|| e.dn.clone());
    o.attributes.push(text_attr("name", vec![name]));
    o.attributes.push(text_attr("dn", vec![e.dn.clone()]));
    if let Some(d) = first_text(e, "description") {
        o.attributes
            .push(text_attr("description", vec![d.to_string()]));
    }
    o.members = members;
    Ok(o)
}

/// `member` and `uniqueMember` DNs of an entry, normalized, handed to `each`
/// one at a time and taken out of the entry as they go, so a group of
/// 500,000 members is never held twice.
pub fn take_member_dns(
    e: &mut Entry,
    mut each: impl FnMut(String) -> Result<(), String>,
) -> Result<(), String> {
    for a in e.attributes.iter_mut() {
        // groupOfUniqueNames values may carry an optional "#'0101'B" uid suffix.
        let unique = a.name.eq_ignore_ascii_case("uniqueMember");
        if !unique && !a.name.eq_ignore_ascii_case("member") {
            continue;
        }
        for v in std::mem::take(&mut a.values) {
            if let AttrValue::Text(mut t) = v {
                if unique {
                    let dn_len = without_uid_suffix(&t).len();
                    t.truncate(dn_len);
                }
                each(dn::normalize_owned(t))?;
            }
        }
    }
    Ok(())
}

/// The text values of `name`, taken out of the entry.
pub fn take_texts(e: &mut Entry, name: &str) -> Vec<String> {
    let Some(a) = e
        .attributes
        .iter_mut()
        .find(|a| a.name.eq_ignore_ascii_case(name))
    else {
        return Vec::new();
    };
    std::mem::take(&mut a.values)
        .into_iter()
        .filter_map(|v| match v {
            AttrValue::Text(t) => Some(t),
            AttrValue::Binary(_) => None,
        })
        .collect()
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
mod user_tests;

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
