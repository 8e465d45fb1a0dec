//! The SDK's side of contract 0.2's packed pages (`wit/v0.2/PACKED.md`):
//! plugin authors keep typed records; these turn them into one buffer per
//! call and back.
#![cfg(any(feature = "mapper", feature = "connector"))]

#[cfg(feature = "mapper")]
use usersync_packed::{Malformed, Reader};
use usersync_packed::{PageKind, Writer};

use crate::{AttrValue, Attribute, ObjectKind, SourceObject};
#[cfg(feature = "mapper")]
use crate::{RecordError, TargetGroup, TargetUser};

#[cfg(feature = "connector")]
pub(crate) fn write_attributes(w: &mut Writer, attributes: &[Attribute]) {
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

/// Decode a page into `pool`, reusing the strings and lists of the records
/// a previous page left there, so a mapper's steady state allocates only
/// when a record is bigger than any before it. Returns how many of
/// `pool`'s records are this page's (the rest are stale, kept for reuse).
#[cfg(feature = "mapper")]
pub fn decode_objects_into(page: &[u8], pool: &mut Vec<SourceObject>) -> Result<usize, Malformed> {
    let (mut r, count) = Reader::open(page, PageKind::SourceObjects)?;
    let count = count as usize;
    for i in 0..count {
        if i == pool.len() {
            pool.push(SourceObject {
                kind: ObjectKind::User,
                id: String::new(),
                ref_key: String::new(),
                enabled: false,
                attributes: Vec::new(),
                member_of: Vec::new(),
                members: Vec::new(),
            });
        }
        let o = &mut pool[i];
        o.kind = match r.u8()? {
            0 => ObjectKind::User,
            1 => ObjectKind::Group,
            _ => return Err(Malformed("object kind".into())),
        };
        refill(&mut o.id, r.str()?);
        refill(&mut o.ref_key, r.str()?);
        o.enabled = r.bool()?;
        reread_attributes(&mut r, &mut o.attributes)?;
        reread_strings(&mut r, &mut o.member_of)?;
        reread_strings(&mut r, &mut o.members)?;
    }
    r.end()?;
    Ok(count)
}

#[cfg(feature = "mapper")]
fn refill(into: &mut String, s: &str) {
    into.clear();
    into.push_str(s);
}

#[cfg(feature = "mapper")]
fn reread_strings(r: &mut Reader, list: &mut Vec<String>) -> Result<(), Malformed> {
    let n = r.len(4)?;
    list.truncate(n);
    for i in 0..n {
        let s = r.str()?;
        match list.get_mut(i) {
            Some(old) => refill(old, s),
            None => list.push(s.to_owned()),
        }
    }
    Ok(())
}

#[cfg(feature = "mapper")]
fn reread_attributes(r: &mut Reader, list: &mut Vec<Attribute>) -> Result<(), Malformed> {
    let n = r.len(8)?;
    list.truncate(n);
    for i in 0..n {
        if i == list.len() {
            list.push(Attribute {
                name: String::new(),
                values: Vec::new(),
            });
        }
        let a = &mut list[i];
        refill(&mut a.name, r.str()?);
        let count = r.len(5)?;
        a.values.truncate(count);
        for j in 0..count {
            let tag = r.u8()?;
            let slot = a.values.get_mut(j);
            match (tag, slot) {
                (0, Some(AttrValue::Text(old))) => refill(old, r.str()?),
                (1, Some(AttrValue::Binary(old))) => {
                    old.clear();
                    old.extend_from_slice(r.bytes()?);
                }
                (0 | 1, slot) => {
                    let value = match tag {
                        0 => AttrValue::Text(r.str()?.to_owned()),
                        _ => AttrValue::Binary(r.bytes()?.to_vec()),
                    };
                    match slot {
                        Some(old) => *old = value,
                        None => a.values.push(value),
                    }
                }
                _ => return Err(Malformed("attribute value tag".into())),
            }
        }
    }
    Ok(())
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

#[cfg(all(test, feature = "mapper", feature = "connector"))]
mod tests {
    use super::*;

    fn user(id: &str, attrs: &[(&str, &[&str])], member_of: &[&str]) -> SourceObject {
        SourceObject {
            kind: ObjectKind::User,
            id: id.into(),
            ref_key: format!("ref-{id}"),
            enabled: true,
            attributes: attrs
                .iter()
                .map(|(n, vs)| Attribute {
                    name: (*n).into(),
                    values: vs.iter().map(|v| AttrValue::Text((*v).into())).collect(),
                })
                .collect(),
            member_of: member_of.iter().map(|m| (*m).into()).collect(),
            members: vec![],
        }
    }

    fn same(a: &SourceObject, b: &SourceObject) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn a_reused_pool_holds_exactly_the_new_page() {
        let big = vec![
            user(
                "a",
                &[("mail", &["a@x", "a2@x"]), ("cn", &["A"])],
                &["g1", "g2"],
            ),
            user("b", &[("cn", &["B"])], &[]),
            user("c", &[("cn", &["C"]), ("sn", &["Cee"])], &["g3"]),
        ];
        let mut with_binary = user("d", &[("cn", &["D"])], &[]);
        with_binary.attributes[0]
            .values
            .push(AttrValue::Binary(vec![1, 2]));
        with_binary.kind = ObjectKind::Group;
        let small = vec![with_binary, user("e", &[("mail", &["e@x"])], &["g9"])];
        let mut pool = Vec::new();
        let n = decode_objects_into(&encode_objects(&big), &mut pool).unwrap();
        assert_eq!(n, 3);
        assert!(big.iter().zip(&pool).all(|(a, b)| same(a, b)));
        // A smaller page with fewer attributes, values and memberships:
        // nothing of the first page shows through.
        let n = decode_objects_into(&encode_objects(&small), &mut pool).unwrap();
        assert_eq!(n, 2);
        assert!(
            small.iter().zip(&pool[..n]).all(|(a, b)| same(a, b)),
            "{pool:?}"
        );
        // And back to the bigger one.
        let n = decode_objects_into(&encode_objects(&big), &mut pool).unwrap();
        assert!(big.iter().zip(&pool[..n]).all(|(a, b)| same(a, b)));
    }
}
