//! A page of LDAP entries read in place. Contract 0.2 sends a search page
//! as one packed buffer (`wit/v0.2/PACKED.md`, page kind 2); [`Page`] keeps
//! that buffer with an index of where each DN, attribute and value lies in
//! it, so a connector reads entries without a string allocated per value.
//! The index's vectors are reused page after page: reading a directory
//! costs one allocation per page, not one per value (issue 14).

use usersync_packed::{Malformed, PageKind, Reader, Writer};

use crate::connector_world::usersync::plugin::ldap::{Change, Entry};
use crate::{AttrValue, Attribute};

/// Where a string or byte string lies in the page's buffer.
#[derive(Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn of(buf: &[u8], part: &[u8]) -> Span {
        Span {
            start: (part.as_ptr() as usize - buf.as_ptr() as usize) as u32,
            len: part.len() as u32,
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

struct EntrySpan {
    dn: Span,
    change: Option<(Change, Span)>,
    /// This entry's attributes in `Page::attrs`.
    attrs: (u32, u32),
}

struct AttrSpan {
    name: Span,
    /// This attribute's values in `Page::values`.
    values: (u32, u32),
}

#[derive(Clone, Copy)]
struct ValueSpan {
    at: Span,
    text: bool,
}

/// One page of a search's entries, borrowed from as [`EntryRef`]s.
#[derive(Default)]
pub struct Page {
    buf: Vec<u8>,
    entries: Vec<EntrySpan>,
    attrs: Vec<AttrSpan>,
    values: Vec<ValueSpan>,
}

impl Page {
    pub fn new() -> Page {
        Page::default()
    }

    /// A page holding `entries` (tests, and entries that came typed, such
    /// as the root DSE).
    pub fn from_entries(entries: &[Entry]) -> Page {
        let mut page = Page::new();
        page.read(encode(entries))
            .expect("a page the SDK encoded reads back");
        page
    }

    /// Take `buf` (a packed page of entries) as this page's content; a
    /// malformed one leaves the page empty.
    pub(crate) fn read(&mut self, buf: Vec<u8>) -> Result<(), Malformed> {
        self.buf = buf;
        let indexed = self.index();
        if indexed.is_err() {
            self.entries.clear();
        }
        indexed
    }

    fn index(&mut self) -> Result<(), Malformed> {
        self.entries.clear();
        self.attrs.clear();
        self.values.clear();
        let Page {
            buf,
            entries,
            attrs,
            values,
        } = self;
        let buf = buf.as_slice();
        let (mut r, count) = Reader::open(buf, PageKind::Entries)?;
        entries.reserve((count as usize).min(buf.len() / 8));
        for _ in 0..count {
            let dn = Span::of(buf, r.str()?.as_bytes());
            let first_attr = attrs.len() as u32;
            for _ in 0..r.len(8)? {
                let name = Span::of(buf, r.str()?.as_bytes());
                let first_value = values.len() as u32;
                for _ in 0..r.len(5)? {
                    let text = match r.u8()? {
                        0 => true,
                        1 => false,
                        _ => return Err(Malformed("attribute value tag".into())),
                    };
                    // Text is checked to be UTF-8 here, once.
                    let at = if text {
                        r.str()?.as_bytes()
                    } else {
                        r.bytes()?
                    };
                    values.push(ValueSpan {
                        at: Span::of(buf, at),
                        text,
                    });
                }
                attrs.push(AttrSpan {
                    name,
                    values: (first_value, values.len() as u32),
                });
            }
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
                    Some((change, Span::of(buf, r.str()?.as_bytes())))
                }
            };
            entries.push(EntrySpan {
                dn,
                change,
                attrs: (first_attr, attrs.len() as u32),
            });
        }
        r.end()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<EntryRef<'_>> {
        self.entries.get(i).map(|e| EntryRef { page: self, e })
    }

    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> {
        self.entries.iter().map(|e| EntryRef { page: self, e })
    }

    fn text(&self, s: Span) -> &str {
        // SAFETY: every span read as text was checked to be UTF-8 by
        // `Reader::str` when this buffer was indexed, and the buffer is
        // not changed until `read` replaces it together with the index.
        unsafe { std::str::from_utf8_unchecked(&self.buf[s.range()]) }
    }
}

/// An entry of a [`Page`]: its DN, attributes and values borrowed from it.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    page: &'a Page,
    e: &'a EntrySpan,
}

impl<'a> EntryRef<'a> {
    pub fn dn(&self) -> &'a str {
        self.page.text(self.e.dn)
    }

    /// Content-sync searches only: the change and the entryUUID.
    pub fn change(&self) -> Option<(Change, &'a str)> {
        self.e.change.map(|(c, uuid)| (c, self.page.text(uuid)))
    }

    /// The attributes, in the server's order.
    pub fn attributes(&self) -> impl Iterator<Item = AttributeRef<'a>> + 'a {
        let page = self.page;
        let (from, to) = self.e.attrs;
        page.attrs[from as usize..to as usize]
            .iter()
            .map(move |a| AttributeRef { page, a })
    }

    /// The attribute `name` (case-insensitive; `member;range=...` is not
    /// `member`).
    pub fn attribute(&self, name: &str) -> Option<AttributeRef<'a>> {
        self.attributes()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The values of `name`; none when the entry has no such attribute.
    pub fn values(&self, name: &str) -> Values<'a> {
        match self.attribute(name) {
            Some(a) => a.values(),
            None => Values {
                page: self.page,
                spans: [].iter(),
            },
        }
    }

    /// The text values of `name`.
    pub fn texts(&self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.values(name).filter_map(ValueRef::text)
    }

    pub fn first_text(&self, name: &str) -> Option<&'a str> {
        self.texts(name).next()
    }

    /// The entry as the typed record `Search::next_page` returns.
    pub fn to_owned(&self) -> Entry {
        Entry {
            dn: self.dn().to_owned(),
            attributes: self
                .attributes()
                .map(|a| Attribute {
                    name: a.name().to_owned(),
                    values: a.values().map(ValueRef::to_owned).collect(),
                })
                .collect(),
            change: self.change().map(|(c, uuid)| (c, uuid.to_owned())),
        }
    }
}

/// An attribute of an [`EntryRef`].
#[derive(Clone, Copy)]
pub struct AttributeRef<'a> {
    page: &'a Page,
    a: &'a AttrSpan,
}

impl<'a> AttributeRef<'a> {
    pub fn name(&self) -> &'a str {
        self.page.text(self.a.name)
    }

    pub fn values(&self) -> Values<'a> {
        let (from, to) = self.a.values;
        Values {
            page: self.page,
            spans: self.page.values[from as usize..to as usize].iter(),
        }
    }

    pub fn len(&self) -> usize {
        (self.a.values.1 - self.a.values.0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The values of an attribute, in the server's order.
#[derive(Clone)]
pub struct Values<'a> {
    page: &'a Page,
    spans: std::slice::Iter<'a, ValueSpan>,
}

impl<'a> Iterator for Values<'a> {
    type Item = ValueRef<'a>;

    fn next(&mut self) -> Option<ValueRef<'a>> {
        let v = self.spans.next()?;
        Some(if v.text {
            ValueRef::Text(self.page.text(v.at))
        } else {
            ValueRef::Binary(&self.page.buf[v.at.range()])
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for Values<'_> {}

/// A value borrowed from a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueRef<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

impl<'a> ValueRef<'a> {
    pub fn text(self) -> Option<&'a str> {
        match self {
            ValueRef::Text(t) => Some(t),
            ValueRef::Binary(_) => None,
        }
    }

    pub fn to_owned(self) -> AttrValue {
        match self {
            ValueRef::Text(t) => AttrValue::Text(t.to_owned()),
            ValueRef::Binary(b) => AttrValue::Binary(b.to_vec()),
        }
    }

    /// Overwrite `into` with this value, in its allocation when the kinds
    /// match (a record refilled for the next entry allocates nothing).
    pub fn copy_into(self, into: &mut AttrValue) {
        match (self, into) {
            (ValueRef::Text(t), AttrValue::Text(s)) => {
                s.clear();
                s.push_str(t);
            }
            (ValueRef::Binary(b), AttrValue::Binary(v)) => {
                v.clear();
                v.extend_from_slice(b);
            }
            (v, into) => *into = v.to_owned(),
        }
    }
}

/// Entries as a packed page, as the host sends them.
fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut w = Writer::new(PageKind::Entries, 256 * entries.len());
    for e in entries {
        w.record();
        w.str(&e.dn);
        crate::packed::write_attributes(&mut w, &e.attributes);
        match &e.change {
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
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &str) -> AttrValue {
        AttrValue::Text(v.into())
    }

    #[test]
    fn a_page_reads_back_the_entries_it_was_made_of() {
        let entries = vec![
            Entry {
                dn: "uid=a,dc=x".into(),
                attributes: vec![
                    Attribute {
                        name: "mail".into(),
                        values: vec![text("a@x"), text("a2@x")],
                    },
                    Attribute {
                        name: "objectGUID".into(),
                        values: vec![AttrValue::Binary(vec![0, 1, 255])],
                    },
                    Attribute {
                        name: "empty".into(),
                        values: vec![],
                    },
                ],
                change: None,
            },
            Entry {
                dn: "cn=é,dc=x".into(),
                attributes: vec![],
                change: Some((Change::Modify, "uuid-1".into())),
            },
        ];
        let page = Page::from_entries(&entries);
        assert_eq!(page.len(), 2);
        let back: Vec<Entry> = page.iter().map(|e| e.to_owned()).collect();
        assert_eq!(format!("{back:?}"), format!("{entries:?}"));
        let a = page.get(0).unwrap();
        assert_eq!(a.texts("MAIL").collect::<Vec<_>>(), ["a@x", "a2@x"]);
        assert_eq!(a.first_text("objectGUID"), None);
        assert_eq!(
            a.values("objectguid").next(),
            Some(ValueRef::Binary(&[0, 1, 255]))
        );
        assert!(a.attribute("empty").unwrap().is_empty());
        assert_eq!(a.values("nothing").len(), 0);
        let b = page.get(1).unwrap();
        assert_eq!(b.change(), Some((Change::Modify, "uuid-1")));
        assert_eq!(b.attributes().count(), 0);
    }

    #[test]
    fn a_reused_page_holds_only_the_new_entries() {
        let mut page = Page::from_entries(&[Entry {
            dn: "uid=a,dc=x".into(),
            attributes: vec![Attribute {
                name: "cn".into(),
                values: vec![text("A"), text("B")],
            }],
            change: None,
        }]);
        page.read(encode(&[])).unwrap();
        assert!(page.is_empty());
        assert!(page.iter().next().is_none());
    }

    #[test]
    fn a_forged_page_is_refused() {
        let mut good = encode(&[Entry {
            dn: "uid=a,dc=x".into(),
            attributes: vec![],
            change: None,
        }]);
        good.truncate(good.len() - 1);
        assert!(Page::new().read(good).is_err());
    }
}
