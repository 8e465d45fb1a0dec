//! The 0.2 SDK's borrowed page of LDAP entries (`Page`, `EntryRef`), for
//! contract 0.1: here the host hands a page as typed entries, and `Page`
//! holds them. A connector written against the page API builds for either
//! contract.

use crate::connector_world::usersync::plugin::ldap::{Change, Entry, Search};
use crate::{AttrValue, Attribute};

/// One page of a search's entries, borrowed from as [`EntryRef`]s.
#[derive(Default)]
pub struct Page(Vec<Entry>);

impl Page {
    pub fn new() -> Page {
        Page::default()
    }

    pub fn from_entries(entries: &[Entry]) -> Page {
        Page(entries.to_vec())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<EntryRef<'_>> {
        self.0.get(i).map(EntryRef)
    }

    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> {
        self.0.iter().map(EntryRef)
    }
}

impl Search {
    /// The next page of entries into `page` (empty after the last).
    pub fn read_page(&self, page: &mut Page) -> Result<(), String> {
        page.0 = self.next_page()?;
        Ok(())
    }
}

/// An entry of a [`Page`].
#[derive(Clone, Copy)]
pub struct EntryRef<'a>(&'a Entry);

impl<'a> EntryRef<'a> {
    pub fn dn(&self) -> &'a str {
        &self.0.dn
    }

    pub fn change(&self) -> Option<(Change, &'a str)> {
        self.0.change.as_ref().map(|(c, uuid)| (*c, uuid.as_str()))
    }

    pub fn attributes(&self) -> impl Iterator<Item = AttributeRef<'a>> + 'a {
        self.0.attributes.iter().map(AttributeRef)
    }

    pub fn attribute(&self, name: &str) -> Option<AttributeRef<'a>> {
        self.attributes()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn values(&self, name: &str) -> Values<'a> {
        Values(match self.attribute(name) {
            Some(a) => a.0.values.iter(),
            None => [].iter(),
        })
    }

    pub fn texts(&self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.values(name).filter_map(ValueRef::text)
    }

    pub fn first_text(&self, name: &str) -> Option<&'a str> {
        self.texts(name).next()
    }

    pub fn to_owned(&self) -> Entry {
        self.0.clone()
    }
}

/// An attribute of an [`EntryRef`].
#[derive(Clone, Copy)]
pub struct AttributeRef<'a>(&'a Attribute);

impl<'a> AttributeRef<'a> {
    pub fn name(&self) -> &'a str {
        &self.0.name
    }

    pub fn values(&self) -> Values<'a> {
        Values(self.0.values.iter())
    }

    pub fn len(&self) -> usize {
        self.0.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.values.is_empty()
    }
}

/// The values of an attribute, in the server's order.
#[derive(Clone)]
pub struct Values<'a>(std::slice::Iter<'a, AttrValue>);

impl<'a> Iterator for Values<'a> {
    type Item = ValueRef<'a>;

    fn next(&mut self) -> Option<ValueRef<'a>> {
        Some(match self.0.next()? {
            AttrValue::Text(t) => ValueRef::Text(t),
            AttrValue::Binary(b) => ValueRef::Binary(b),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
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
    /// match.
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
