//! The host's side of contract 0.2's packed pages (`wit/v0.2/PACKED.md`).
//! Decoding borrows from the page and allocates once per string kept.

use usersync_packed::{Malformed, PageKind, Reader, Writer};

use super::capability::ldap::{Change, Entry, Value};
use super::wit::{WireAttribute, WireKind, WireObject, WireValue};
use crate::model::{RecordError, UserFields};

/// A mapper's answer for one record, before the host names the record.
pub type Mapped<T> = Result<Option<T>, (Option<String>, String)>;
/// A mapped group: name and optional description.
pub type GroupNaming = (String, Option<String>);

fn read_attributes(r: &mut Reader) -> Result<Vec<WireAttribute>, Malformed> {
    let n = r.len(8)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str()?.to_owned();
        let count = r.len(5)?;
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(match r.u8()? {
                0 => WireValue::Text(r.str()?.to_owned()),
                1 => WireValue::Binary(r.bytes()?.to_vec()),
                _ => return Err(Malformed("attribute value tag".into())),
            });
        }
        out.push(WireAttribute { name, values });
    }
    Ok(out)
}

/// A connector's `put-users` / `put-groups` page.
pub fn decode_objects(page: &[u8]) -> Result<Vec<WireObject>, Malformed> {
    read_objects(page, read_attributes)
}

/// Each record of a `SourceObjects` page, its attributes read by `attributes`
/// (all of them, or only what the host needs); the page is checked whole either way.
fn read_objects(
    page: &[u8],
    attributes: fn(&mut Reader) -> Result<Vec<WireAttribute>, Malformed>,
) -> Result<Vec<WireObject>, Malformed> {
    let (mut r, count) = Reader::open(page, PageKind::SourceObjects)?;
    // Each record takes at least 22 bytes: no forged count reserves more.
    let mut out = Vec::with_capacity((count as usize).min(page.len() / 22));
    for _ in 0..count {
        let kind = match r.u8()? {
            0 => WireKind::User,
            1 => WireKind::Group,
            _ => return Err(Malformed("object kind".into())),
        };
        out.push(WireObject {
            kind,
            id: r.str()?.to_owned(),
            ref_key: r.str()?.to_owned(),
            enabled: r.bool()?,
            attributes: attributes(&mut r)?,
            member_of: r.strings()?,
            members: r.strings()?,
        });
    }
    r.end()?;
    Ok(out)
}

/// A connector's `put-users` page kept as it came, for 0.2 mappers, with
/// the parts of each record the host itself reads decoded beside it.
pub struct PackedUsers {
    pub page: Vec<u8>,
    /// Each record without its attributes (they stay in the page) but
    /// `dn`: its id, ref key, enabled flag, groups, and what names it in
    /// errors.
    pub heads: Vec<WireObject>,
}

impl PackedUsers {
    /// Check the whole page as [`decode_objects`] does (a malformed one is
    /// refused here, not passed on) and decode the heads.
    pub fn decode(page: Vec<u8>) -> Result<PackedUsers, Malformed> {
        let heads = read_objects(&page, attributes_but_dn)?;
        Ok(PackedUsers { page, heads })
    }
}

/// Read past a record's attributes, checking them as [`read_attributes`]
/// does; only the first `dn`, which names the record in errors, is kept.
fn attributes_but_dn(r: &mut Reader) -> Result<Vec<WireAttribute>, Malformed> {
    let mut kept: Vec<WireAttribute> = Vec::new();
    for _ in 0..r.len(8)? {
        let name = r.str()?;
        let keep = name == "dn" && kept.is_empty();
        let mut values = Vec::new();
        for _ in 0..r.len(5)? {
            match r.u8()? {
                0 if keep => values.push(WireValue::Text(r.str()?.to_owned())),
                1 if keep => values.push(WireValue::Binary(r.bytes()?.to_vec())),
                0 => r.str().map(drop)?,
                1 => r.bytes().map(drop)?,
                _ => return Err(Malformed("attribute value tag".into())),
            }
        }
        if keep {
            kept.push(WireAttribute {
                name: name.to_owned(),
                values,
            });
        }
    }
    Ok(kept)
}

/// A batch for a mapper's `map-users`.
pub fn encode_objects(batch: &[WireObject]) -> Vec<u8> {
    encode_batch(batch, |o| &o.members)
}

/// A batch for a mapper's `map-groups`: the groups without their members.
/// Those are the host's: a group can hold millions, and past a chunk they
/// come through `put-members`, which no mapper sees (`wit/v0.2`).
pub fn encode_groups(batch: &[WireObject]) -> Vec<u8> {
    encode_batch(batch, |_| &[])
}

fn encode_batch(batch: &[WireObject], members: impl Fn(&WireObject) -> &[String]) -> Vec<u8> {
    let mut w = Writer::new(PageKind::SourceObjects, 256 * batch.len());
    for o in batch {
        w.record();
        w.u8(match o.kind {
            WireKind::User => 0,
            WireKind::Group => 1,
        });
        w.str(&o.id);
        w.str(&o.ref_key);
        w.bool(o.enabled);
        w.len(o.attributes.len());
        for a in &o.attributes {
            w.str(&a.name);
            w.len(a.values.len());
            for v in &a.values {
                match v {
                    WireValue::Text(t) => text_value(&mut w, t.as_bytes()),
                    WireValue::Binary(b) => bytes_value(&mut w, b),
                }
            }
        }
        w.strs(&o.member_of);
        w.strs(members(o));
    }
    w.finish()
}

/// A `put-members` page: the group's ref and its members' refs.
pub fn decode_members(page: &[u8]) -> Result<(String, Vec<String>), Malformed> {
    let (mut r, count) = Reader::open(page, PageKind::Members)?;
    if count != 1 {
        return Err(Malformed(format!(
            "{count} groups in a members page, not 1"
        )));
    }
    let group = r.str()?.to_owned();
    let members = r.strings()?;
    r.end()?;
    Ok((group, members))
}

/// One page of an LDAP search built from its entries (the host builds
/// pages as entries arrive, `capability/ldap/page.rs`; tests compare).
#[cfg(test)]
pub fn encode_entries(entries: &[Entry]) -> Vec<u8> {
    let size: usize = entries.iter().map(|e| e.size() + 64).sum();
    let mut w = Writer::new(PageKind::Entries, size);
    for e in entries {
        write_entry(&mut w, e);
    }
    w.finish()
}

/// One entry of an `Entries` page.
pub fn write_entry(w: &mut Writer, e: &Entry) {
    w.record();
    w.str(&e.dn);
    w.len(e.attributes.len());
    for (name, values) in &e.attributes {
        w.str(name);
        w.len(values.len());
        for v in values {
            match v {
                Value::Text(t) => text_value(w, t.as_bytes()),
                Value::Bytes(b) => bytes_value(w, b),
            }
        }
    }
    write_change(w, e.change.as_ref());
}

/// A text value, in an `Entries` or a `SourceObjects` page: `bytes` must be UTF-8.
pub fn text_value(w: &mut Writer, bytes: &[u8]) {
    w.u8(0);
    w.bytes(bytes);
}

/// A binary value, in an `Entries` or a `SourceObjects` page.
pub fn bytes_value(w: &mut Writer, bytes: &[u8]) {
    w.u8(1);
    w.bytes(bytes);
}

/// What closes an entry of an `Entries` page: its content-sync state.
pub fn write_change(w: &mut Writer, change: Option<&(Change, String)>) {
    match change {
        None => w.u8(0),
        Some((change, uuid)) => {
            w.u8(match change {
                Change::Add => 1,
                Change::Modify => 2,
                Change::Delete => 3,
                Change::Present => 4,
            });
            w.str(uuid);
        }
    }
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

fn read_results<T>(
    page: &[u8],
    kind: PageKind,
    mut read: impl FnMut(&mut Reader) -> Result<T, Malformed>,
) -> Result<Vec<Mapped<T>>, Malformed> {
    let (mut r, count) = Reader::open(page, kind)?;
    let mut out = Vec::with_capacity((count as usize).min(page.len()));
    for _ in 0..count {
        out.push(match r.u8()? {
            0 => Ok(None),
            1 => Ok(Some(read(&mut r)?)),
            2 => Err((owned(r.opt_str()?), r.str()?.to_owned())),
            _ => return Err(Malformed("result tag".into())),
        });
    }
    r.end()?;
    Ok(out)
}

/// A mapper's `map-users` answer, straight into the host's user fields.
pub fn decode_user_results(page: &[u8]) -> Result<Vec<Mapped<UserFields>>, Malformed> {
    read_results(page, PageKind::UserResults, |r| {
        let username = r.str()?.to_owned();
        let mut opt = || r.opt_str().map(|s| s.map(Box::from));
        let user = UserFields {
            username,
            display_name: opt()?,
            given_name: opt()?,
            family_name: opt()?,
            email: opt()?,
            phone: opt()?,
            job_title: opt()?,
            company: opt()?,
            department: opt()?,
            manager: opt()?,
            employee_id: opt()?,
            custom: Vec::new(),
        };
        let n = r.len(8)?;
        let mut custom = Vec::with_capacity(n);
        for _ in 0..n {
            custom.push((r.str()?.to_owned(), r.str()?.to_owned()));
        }
        Ok(UserFields { custom, ..user })
    })
}

/// A mapper's `map-groups` answer: name and description.
pub fn decode_group_results(page: &[u8]) -> Result<Vec<Mapped<GroupNaming>>, Malformed> {
    read_results(page, PageKind::GroupResults, |r| {
        Ok((r.str()?.to_owned(), owned(r.opt_str()?)))
    })
}

/// A mapper's error, as the run records it.
pub fn record_error(record: String, (field, message): (Option<String>, String)) -> RecordError {
    RecordError {
        record,
        field,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> WireObject {
        WireObject {
            kind: WireKind::User,
            id: "u1".into(),
            ref_key: "uid=ana,ou=people".into(),
            enabled: false,
            attributes: vec![
                WireAttribute {
                    name: "mail".into(),
                    values: vec![WireValue::Text("ana@example.org".into())],
                },
                WireAttribute {
                    name: "objectGUID".into(),
                    values: vec![WireValue::Binary(vec![0, 1, 255])],
                },
            ],
            member_of: vec!["cn=admins".into()],
            members: vec![],
        }
    }

    #[test]
    fn a_mapper_gets_groups_without_their_members() {
        let group = WireObject {
            kind: WireKind::Group,
            members: vec!["uid=ana".into(), "uid=bo".into()],
            ..user()
        };
        let back = decode_objects(&encode_groups(std::slice::from_ref(&group))).unwrap();
        assert!(back[0].members.is_empty());
        let without = WireObject {
            members: vec![],
            ..group
        };
        assert_eq!(format!("{back:?}"), format!("{:?}", [without]));
    }

    #[test]
    fn objects_round_trip() {
        let batch = vec![
            user(),
            WireObject {
                kind: WireKind::Group,
                ..user()
            },
        ];
        let back = decode_objects(&encode_objects(&batch)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{batch:?}"));
    }

    #[test]
    fn entries_encode_as_documented() {
        let e = Entry {
            dn: "uid=ana".into(),
            attributes: vec![("cn".into(), vec![Value::Text("Ana".into())])],
            change: Some((Change::Modify, "uuid".into())),
        };
        let page = encode_entries(&[e]);
        let (mut r, count) = Reader::open(&page, PageKind::Entries).unwrap();
        assert_eq!(count, 1);
        assert_eq!(r.str().unwrap(), "uid=ana");
        assert_eq!(r.len(1).unwrap(), 1);
        assert_eq!(r.str().unwrap(), "cn");
        assert_eq!(r.len(1).unwrap(), 1);
        assert_eq!((r.u8().unwrap(), r.str().unwrap()), (0, "Ana"));
        assert_eq!((r.u8().unwrap(), r.str().unwrap()), (2, "uuid"));
        r.end().unwrap();
    }

    #[test]
    fn a_page_passed_on_keeps_the_heads_and_the_dn_the_host_reads() {
        let mut u = user();
        u.attributes.push(WireAttribute {
            name: "dn".into(),
            values: vec![WireValue::Text("uid=ana,ou=people".into())],
        });
        let page = encode_objects(&[u.clone()]);
        let packed = PackedUsers::decode(page.clone()).unwrap();
        assert_eq!(packed.page, page, "the page goes on as it came");
        let head = &packed.heads[0];
        assert_eq!(
            (&head.id, &head.ref_key, head.enabled, &head.member_of),
            (&u.id, &u.ref_key, u.enabled, &u.member_of)
        );
        assert_eq!(
            format!("{:?}", head.attributes),
            format!("{:?}", &u.attributes[2..])
        );
        // Checked whole, as a page decoded whole is.
        assert!(PackedUsers::decode(page[..page.len() - 1].to_vec()).is_err());
        let mut bad_value = encode_objects(&[user()]);
        let at = bad_value.windows(4).position(|w| w == b"ana@").unwrap();
        bad_value[at] = 0xff;
        assert!(PackedUsers::decode(bad_value.clone()).is_err());
        assert!(decode_objects(&bad_value).is_err());
    }

    #[test]
    fn a_truncated_page_is_refused() {
        let page = encode_objects(&[user()]);
        assert!(decode_objects(&page[..page.len() - 1]).is_err());
    }
}
