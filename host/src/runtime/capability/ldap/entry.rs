//! An entry as the plugin gets it, built straight from the server's
//! SearchResultEntry (objectName, then a SEQUENCE of (type, SET OF value)),
//! without ldap3's `SearchEntry` and its two HashMaps per entry.

use ldap3::asn1::{StructureTag, TagClass, PL};
use usersync_packed::Writer;

use crate::runtime::packed;

/// A value as the plugin gets it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add,
    Modify,
    Delete,
    Present,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub dn: String,
    pub attributes: Vec<(String, Vec<Value>)>,
    pub change: Option<(Change, String)>,
}

impl Entry {
    /// Roughly the bytes this entry holds.
    pub fn size(&self) -> usize {
        let values: usize = self
            .attributes
            .iter()
            .map(|(name, values)| {
                name.len()
                    + values
                        .iter()
                        .map(|v| match v {
                            Value::Text(t) => t.len() + 24,
                            Value::Bytes(b) => b.len() + 24,
                        })
                        .sum::<usize>()
            })
            .sum();
        self.dn.len() + values
    }
}

const MALFORMED: &str = "LDAP search failed while reading: the server sent a malformed entry";

fn primitive(t: Option<StructureTag>) -> Result<Vec<u8>, String> {
    t.and_then(StructureTag::expect_primitive)
        .ok_or_else(|| MALFORMED.to_string())
}

fn constructed(t: Option<StructureTag>) -> Result<Vec<StructureTag>, String> {
    t.and_then(StructureTag::expect_constructed)
        .ok_or_else(|| MALFORMED.to_string())
}

fn text(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| MALFORMED.to_string())
}

/// A SearchResultEntry (application tag 4) as an `Entry`, attributes in the
/// server's order. Text values stay text unless the plugin asked for the
/// attribute as bytes (`binary`, lowercased names); an attribute with any
/// value that is not UTF-8 is all bytes, its non-UTF-8 values first, as
/// ldap3's `SearchEntry::construct` gave them. A malformed entry is an
/// error (`construct` panicked).
///
/// ldap3's decoder (vendored, see `third_party/ldap3/PATCHED.md`) hands an
/// entry over as its raw content, walked here once; the parsed tree is
/// read too, for entries that reach us without that decoder.
pub fn from_tag(tag: StructureTag, binary: &[String]) -> Result<Entry, String> {
    match tag {
        StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::P(raw),
        } => from_raw(&raw, binary),
        tree => from_tree(tree, binary),
    }
}

fn from_tree(tag: StructureTag, binary: &[String]) -> Result<Entry, String> {
    let mut parts = constructed(tag.match_id(4))?.into_iter();
    let dn = text(primitive(parts.next())?)?;
    let list = constructed(parts.next())?;
    let mut attributes = Vec::with_capacity(list.len());
    for partial in list {
        let mut partial = constructed(Some(partial))?.into_iter();
        let name = text(primitive(partial.next())?)?;
        let mut values = Values::default();
        for v in constructed(partial.next())? {
            values.push(primitive(Some(v))?);
        }
        attributes.push(values.of(name, binary));
    }
    Ok(Entry {
        dn,
        attributes,
        change: None,
    })
}

const OCTET_STRING: u8 = 0x04;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

/// BER elements read one after another from a slice.
struct Elements<'a>(&'a [u8]);

impl<'a> Elements<'a> {
    /// The next element's content; it must have identifier `id`.
    fn next(&mut self, id: u8) -> Result<&'a [u8], String> {
        let (got, head, len) = ldap3::raw_entry::header(self.0).ok_or(MALFORMED)?;
        // A length past the slice (the server's word) is malformed, never a panic.
        let end = head.saturating_add(len);
        let content = self.0.get(head..end).filter(|_| got == id);
        self.0 = &self.0[end.min(self.0.len())..];
        content.ok_or_else(|| MALFORMED.to_string())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An entry's raw content: objectName, then a SEQUENCE of (type, SET OF value).
fn from_raw(raw: &[u8], binary: &[String]) -> Result<Entry, String> {
    let mut parts = Elements(raw);
    let dn = text(parts.next(OCTET_STRING)?.to_vec())?;
    let mut list = Elements(parts.next(SEQUENCE)?);
    let mut attributes = Vec::new();
    while !list.is_empty() {
        let mut partial = Elements(list.next(SEQUENCE)?);
        let name = text(partial.next(OCTET_STRING)?.to_vec())?;
        let mut set = Elements(partial.next(SET)?);
        let mut values = Values::default();
        while !set.is_empty() {
            values.push(set.next(OCTET_STRING)?.to_vec());
        }
        attributes.push(values.of(name, binary));
    }
    Ok(Entry {
        dn,
        attributes,
        change: None,
    })
}

/// A SearchResultEntry appended to a packed `Entries` page, exactly as
/// `packed::write_entry` writes what [`from_tag`] builds, but straight from
/// the raw content: no value is allocated on the way (contract 0.2).
pub fn pack(
    tag: StructureTag,
    binary: &[String],
    change: Option<&(Change, String)>,
    w: &mut Writer,
) -> Result<(), String> {
    match tag {
        StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::P(raw),
        } => pack_raw(&raw, binary, change, w),
        tree => {
            let entry = from_tree(tree, binary)?;
            packed::write_entry(
                w,
                &Entry {
                    change: change.cloned(),
                    ..entry
                },
            );
            Ok(())
        }
    }
}

fn pack_raw(
    raw: &[u8],
    binary: &[String],
    change: Option<&(Change, String)>,
    w: &mut Writer,
) -> Result<(), String> {
    let mut parts = Elements(raw);
    let dn = utf8(parts.next(OCTET_STRING)?)?;
    w.record();
    w.str(dn);
    let mut list = Elements(parts.next(SEQUENCE)?);
    let count_at = w.len_later();
    let mut count = 0;
    while !list.is_empty() {
        let mut partial = Elements(list.next(SEQUENCE)?);
        let name = utf8(partial.next(OCTET_STRING)?)?;
        w.str(name);
        pack_values(partial.next(SET)?, wants_bytes(name, binary), w)?;
        count += 1;
    }
    w.set_len(count_at, count);
    packed::write_change(w, change);
    Ok(())
}

/// One attribute's SET OF values, in the form and order [`Values::of`]
/// gives them: text, or all bytes with the values not UTF-8 first.
fn pack_values(set: &[u8], as_bytes: bool, w: &mut Writer) -> Result<(), String> {
    let (mut count, mut all_text) = (0, true);
    let mut values = Elements(set);
    while !values.is_empty() {
        all_text &= std::str::from_utf8(values.next(OCTET_STRING)?).is_ok();
        count += 1;
    }
    w.len(count);
    // Every value was read above: walking the set again cannot fail.
    let each = |w: &mut Writer, write: &dyn Fn(&mut Writer, &[u8])| {
        let mut values = Elements(set);
        while let Ok(v) = values.next(OCTET_STRING) {
            write(w, v);
        }
    };
    if all_text && !as_bytes {
        each(w, &packed::text_value);
    } else {
        let is_text = |v: &[u8]| std::str::from_utf8(v).is_ok();
        each(w, &|w, v| {
            if !is_text(v) {
                packed::bytes_value(w, v)
            }
        });
        each(w, &|w, v| {
            if is_text(v) {
                packed::bytes_value(w, v)
            }
        });
    }
    Ok(())
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| MALFORMED.to_string())
}

/// One attribute's values as they arrive, UTF-8 or not.
#[derive(Default)]
struct Values {
    text: Vec<Value>,
    not_utf8: Vec<Vec<u8>>,
}

impl Values {
    fn push(&mut self, bytes: Vec<u8>) {
        match String::from_utf8(bytes) {
            Ok(s) => self.text.push(Value::Text(s)),
            Err(e) => self.not_utf8.push(e.into_bytes()),
        }
    }

    /// The attribute `name`: all bytes, non-UTF-8 values first, when any
    /// value is not UTF-8 or the plugin asked for it as bytes.
    fn of(self, name: String, binary: &[String]) -> (String, Vec<Value>) {
        let Values { text, not_utf8 } = self;
        if not_utf8.is_empty() && !wants_bytes(&name, binary) {
            return (name, text);
        }
        let texts = text.into_iter().map(|v| match v {
            Value::Text(t) => t.into_bytes(),
            Value::Bytes(b) => b,
        });
        let values = not_utf8
            .into_iter()
            .chain(texts)
            .map(Value::Bytes)
            .collect();
        (name, values)
    }
}

/// Whether the plugin asked for `name` (`member;range=0-1499` is `member`)
/// as bytes; no allocation per attribute.
fn wants_bytes(name: &str, binary: &[String]) -> bool {
    if binary.is_empty() {
        return false;
    }
    let base = name.split(';').next().unwrap_or(name);
    binary.iter().any(|b| b.eq_ignore_ascii_case(base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::asn1::{TagClass, PL};

    fn octets(b: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(b.to_vec()),
        }
    }

    fn seq(id: u64, class: TagClass, inner: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class,
            id,
            payload: PL::C(inner),
        }
    }

    /// A SearchResultEntry as the server sends it.
    fn entry(dn: &str, attrs: &[(&str, &[&[u8]])]) -> StructureTag {
        let attrs = attrs
            .iter()
            .map(|(name, values)| {
                let set = values.iter().map(|v| octets(v)).collect();
                seq(
                    16,
                    TagClass::Universal,
                    vec![octets(name.as_bytes()), seq(17, TagClass::Universal, set)],
                )
            })
            .collect();
        seq(
            4,
            TagClass::Application,
            vec![octets(dn.as_bytes()), seq(16, TagClass::Universal, attrs)],
        )
    }

    /// `tag` as the vendored decoder hands it over: its content unparsed.
    fn raw(tag: StructureTag) -> StructureTag {
        let mut buf = bytes::BytesMut::new();
        ldap3::asn1::write::encode_into(&mut buf, tag).unwrap();
        let (_, head, len) = ldap3::raw_entry::header(&buf).unwrap();
        raw_content(buf[head..head + len].to_vec())
    }

    /// `from_tag` of the tree and of its raw content, which must agree.
    fn both(tag: StructureTag, binary: &[String]) -> Entry {
        let tree = from_tag(tag.clone(), binary).unwrap();
        let raw = from_tag(raw(tag), binary).unwrap();
        assert_eq!((&tree.dn, &tree.attributes), (&raw.dn, &raw.attributes));
        raw
    }

    fn get(e: &Entry, n: &str) -> Vec<Value> {
        e.attributes.iter().find(|(k, _)| k == n).unwrap().1.clone()
    }

    #[test]
    fn binary_attributes_become_bytes_whatever_their_content() {
        let tag = entry(
            "cn=x",
            &[
                ("objectGUID", &[b"abc"]),
                ("cn", &[b"x"]),
                ("jpegPhoto", &[&[0xff, 0xd8]]),
                ("member;range=0-1", &[b"cn=a", b"cn=b"]),
            ],
        );
        let binary = vec!["objectguid".to_string(), "member".to_string()];
        let out = both(tag, &binary);
        assert_eq!(out.dn, "cn=x");
        assert_eq!(get(&out, "objectGUID"), vec![Value::Bytes(b"abc".to_vec())]);
        assert_eq!(get(&out, "cn"), vec![Value::Text("x".into())]);
        assert_eq!(get(&out, "jpegPhoto"), vec![Value::Bytes(vec![0xff, 0xd8])]);
        assert_eq!(
            get(&out, "member;range=0-1"),
            vec![
                Value::Bytes(b"cn=a".to_vec()),
                Value::Bytes(b"cn=b".to_vec())
            ]
        );
        let names: Vec<_> = out.attributes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["objectGUID", "cn", "jpegPhoto", "member;range=0-1"]);
    }

    #[test]
    fn one_value_not_utf8_makes_the_attribute_bytes_as_ldap3_did() {
        let values: &[&[u8]] = &[b"a", &[0xc3, 0x28], b"b"];
        let tag = entry("cn=y", &[("photo", values), ("cn", &[b"y", b""])]);
        let out = both(tag.clone(), &[]);
        let bytes = |b: &[u8]| Value::Bytes(b.to_vec());
        // SearchEntry::construct puts the non-UTF-8 values first.
        assert_eq!(
            get(&out, "photo"),
            vec![bytes(&[0xc3, 0x28]), bytes(b"a"), bytes(b"b")]
        );
        assert_eq!(
            get(&out, "cn"),
            vec![Value::Text("y".into()), Value::Text(String::new())]
        );
        // The same as ldap3's SearchEntry, which this replaces.
        let old = ldap3::SearchEntry::construct(ldap3::ResultEntry::new(tag));
        assert_eq!(
            old.bin_attrs["photo"],
            [vec![0xc3, 0x28], b"a".to_vec(), b"b".to_vec()]
        );
        assert_eq!(old.attrs["cn"], ["y", ""]);
    }

    #[test]
    fn malformed_entries_are_errors_not_panics() {
        let no_attrs = seq(4, TagClass::Application, vec![octets(b"cn=z")]);
        assert!(from_tag(no_attrs, &[]).unwrap_err().contains("malformed"));
        let bad_dn = entry("x", &[]);
        let StructureTag {
            payload: PL::C(mut inner),
            ..
        } = bad_dn
        else {
            unreachable!()
        };
        inner[0] = octets(&[0xff]);
        let bad_dn = seq(4, TagClass::Application, inner);
        assert!(from_tag(bad_dn.clone(), &[]).is_err());
        assert!(from_tag(raw(bad_dn), &[]).is_err());
        // Raw content cut short, or with a value that is not an OCTET STRING.
        let whole = raw(entry("cn=z", &[("cn", &[b"z"])]));
        let PL::P(bytes) = &whole.payload else {
            unreachable!()
        };
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            let short = raw_content(bytes[..cut].to_vec());
            assert!(from_tag(short, &[]).unwrap_err().contains("malformed"));
        }
        // A DN that claims 2^64 - 1 bytes.
        let huge = raw_content(vec![
            0x04, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ]);
        assert!(from_tag(huge, &[]).unwrap_err().contains("malformed"));
        let mut wrong = bytes.clone();
        *wrong.iter_mut().rev().nth(2).unwrap() = 0x02; // the value's tag
        assert!(from_tag(raw_content(wrong), &[]).is_err());
    }

    /// `pack` of the tree and of the raw content, against the page
    /// `from_tag`'s entry makes.
    fn packs_as_built(tag: StructureTag, binary: &[String], change: Option<(Change, String)>) {
        let mut entry = from_tag(tag.clone(), binary).unwrap();
        entry.change = change.clone();
        let want = packed::encode_entries(&[entry]);
        for form in [tag.clone(), raw(tag.clone())] {
            let mut w = Writer::new(usersync_packed::PageKind::Entries, 0);
            pack(form, binary, change.as_ref(), &mut w).unwrap();
            assert_eq!(w.finish(), want);
        }
    }

    #[test]
    fn a_packed_entry_is_the_page_its_entry_makes() {
        let values: &[&[u8]] = &[b"a", &[0xc3, 0x28], b"b"];
        let tag = entry(
            "cn=x,ou=people",
            &[
                ("objectGUID", &[b"abc"]),
                ("cn", &[b"x", b""]),
                ("photo", values),
                ("member;range=0-1", &[b"cn=a", b"cn=b"]),
                ("empty", &[]),
            ],
        );
        let binary = vec!["objectguid".to_string(), "member".to_string()];
        packs_as_built(tag.clone(), &binary, None);
        packs_as_built(tag.clone(), &[], Some((Change::Modify, "uuid".into())));
        packs_as_built(entry("cn=y", &[]), &[], None);
        // Malformed raw content is refused, as `from_tag` refuses it.
        let PL::P(bytes) = raw(tag).payload else {
            unreachable!()
        };
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            let mut w = Writer::new(usersync_packed::PageKind::Entries, 0);
            let short = raw_content(bytes[..cut].to_vec());
            assert!(pack(short, &[], None, &mut w)
                .unwrap_err()
                .contains("malformed"));
        }
    }

    fn raw_content(bytes: Vec<u8>) -> StructureTag {
        StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::P(bytes),
        }
    }
}
