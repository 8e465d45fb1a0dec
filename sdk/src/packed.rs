//! The SDK's side of contract 0.2's packed pages (`wit/v0.2/PACKED.md`):
//! plugin authors keep typed records; these turn them into one buffer per
//! call and back.
#![cfg(any(feature = "mapper", feature = "connector"))]

use usersync_packed::{Malformed, PageKind, Reader, Writer};

use crate::{AttrValue, Attribute, ObjectKind, SourceObject};
#[cfg(feature = "mapper")]
use crate::{RecordError, TargetGroup, TargetUser};

#[cfg(feature = "connector")]
fn write_attributes(w: &mut Writer, attributes: &[Attribute]) {
    w.len(attributes.len());
    for a in attributes {
        w.str(&a.name);
        w.len(a.values.len());
        for v in &a.values {
            match v {
                AttrValue::Text(t) => {
                    w.u8(0);
                    w.str(t);
                }
                AttrValue::Binary(b) => {
                    w.u8(1);
                    w.bytes(b);
                }
            }
        }
    }
}

fn read_attributes(r: &mut Reader) -> Result<Vec<Attribute>, Malformed> {
    let n = r.len(8)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str()?.to_owned();
        let count = r.len(5)?;
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(match r.u8()? {
                0 => AttrValue::Text(r.str()?.to_owned()),
                1 => AttrValue::Binary(r.bytes()?.to_vec()),
                _ => return Err(Malformed("attribute value tag".into())),
            });
        }
        out.push(Attribute { name, values });
    }
    Ok(out)
}

#[cfg(feature = "connector")]
pub fn encode_objects(batch: &[SourceObject]) -> Vec<u8> {
    let mut w = Writer::new(PageKind::SourceObjects, 256 * batch.len());
    for o in batch {
        w.record();
        w.u8(match o.kind {
            ObjectKind::User => 0,
            ObjectKind::Group => 1,
        });
        w.str(&o.id);
        w.str(&o.ref_key);
        w.bool(o.enabled);
        write_attributes(&mut w, &o.attributes);
        w.strs(&o.member_of);
        w.strs(&o.members);
    }
    w.finish()
}

#[cfg(feature = "mapper")]
pub fn decode_objects(page: &[u8]) -> Result<Vec<SourceObject>, Malformed> {
    let (mut r, count) = Reader::open(page, PageKind::SourceObjects)?;
    let mut out = Vec::with_capacity((count as usize).min(page.len() / 16));
    for _ in 0..count {
        let kind = match r.u8()? {
            0 => ObjectKind::User,
            1 => ObjectKind::Group,
            _ => return Err(Malformed("object kind".into())),
        };
        out.push(SourceObject {
            kind,
            id: r.str()?.to_owned(),
            ref_key: r.str()?.to_owned(),
            enabled: r.bool()?,
            attributes: read_attributes(&mut r)?,
            member_of: r.strings()?,
            members: r.strings()?,
        });
    }
    r.end()?;
    Ok(out)
}

#[cfg(feature = "connector")]
pub fn encode_members(group_ref: &str, member_refs: &[String]) -> Vec<u8> {
    let size = 16 + group_ref.len() + member_refs.iter().map(|m| m.len() + 4).sum::<usize>();
    let mut w = Writer::new(PageKind::Members, size);
    w.record();
    w.str(group_ref);
    w.strs(member_refs);
    w.finish()
}

#[cfg(feature = "mapper")]
fn write_error(w: &mut Writer, e: &RecordError) {
    w.u8(2);
    w.opt_str(e.field.as_deref());
    w.str(&e.message);
}

#[cfg(feature = "mapper")]
pub fn encode_user_results(results: &[Result<Option<TargetUser>, RecordError>]) -> Vec<u8> {
    let mut w = Writer::new(PageKind::UserResults, 160 * results.len());
    for result in results {
        w.record();
        match result {
            Ok(None) => w.u8(0),
            Ok(Some(u)) => {
                w.u8(1);
                w.str(&u.username);
                for field in [
                    &u.display_name,
                    &u.given_name,
                    &u.family_name,
                    &u.email,
                    &u.phone,
                    &u.job_title,
                    &u.company,
                    &u.department,
                    &u.manager,
                    &u.employee_id,
                ] {
                    w.opt_str(field.as_deref());
                }
                w.len(u.custom.len());
                for (k, v) in &u.custom {
                    w.str(k);
                    w.str(v);
                }
            }
            Err(e) => write_error(&mut w, e),
        }
    }
    w.finish()
}

#[cfg(feature = "mapper")]
pub fn encode_group_results(results: &[Result<Option<TargetGroup>, RecordError>]) -> Vec<u8> {
    let mut w = Writer::new(PageKind::GroupResults, 48 * results.len());
    for result in results {
        w.record();
        match result {
            Ok(None) => w.u8(0),
            Ok(Some(g)) => {
                w.u8(1);
                w.str(&g.name);
                w.opt_str(g.description.as_deref());
            }
            Err(e) => write_error(&mut w, e),
        }
    }
    w.finish()
}

#[cfg(feature = "connector")]
pub fn decode_entries(
    page: &[u8],
) -> Result<Vec<crate::connector_world::usersync::plugin::ldap::Entry>, Malformed> {
    use crate::connector_world::usersync::plugin::ldap::{Change, Entry};
    let (mut r, count) = Reader::open(page, PageKind::Entries)?;
    let mut out = Vec::with_capacity((count as usize).min(page.len() / 8));
    for _ in 0..count {
        let dn = r.str()?.to_owned();
        let attributes = read_attributes(&mut r)?;
        let change = match r.u8()? {
            0 => None,
            tag => {
                let change = match tag {
                    1 => Change::Add,
                    2 => Change::Modify,
                    3 => Change::Delete,
                    4 => Change::Present,
                    _ => return Err(Malformed("entry change tag".into())),
                };
                Some((change, r.str()?.to_owned()))
            }
        };
        out.push(Entry {
            dn,
            attributes,
            change,
        });
    }
    r.end()?;
    Ok(out)
}
