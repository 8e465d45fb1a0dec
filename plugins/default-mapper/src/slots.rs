//! Attribute lookup without per-rule scans.
//!
//! Every attribute name a rule reads is interned once at configure time as a
//! "slot". Per record, one pass over the record's attributes fills a slot ->
//! (attribute, value) table, so each rule then reads its values by index
//! instead of comparing names again. Names are matched case-insensitively
//! (as LDAP does), and only against interned names of the same length.

use usersync_sdk::{AttrValue, SourceObject};

/// Marks a slot with no value in this record.
const NONE: (u32, u32) = (u32::MAX, u32::MAX);

#[derive(Debug, Default)]
pub struct Slots {
    names: Vec<Box<str>>,
    /// `by_len[n]` = slots whose name is `n` bytes long.
    by_len: Vec<Vec<u16>>,
}

impl Slots {
    /// The slot for `name`, added if new (case-insensitive).
    pub fn intern(&mut self, name: &str) -> u16 {
        let len = name.len();
        if let Some(ids) = self.by_len.get(len) {
            if let Some(&id) = ids
                .iter()
                .find(|&&id| self.names[id as usize].eq_ignore_ascii_case(name))
            {
                return id;
            }
        }
        let id = u16::try_from(self.names.len()).expect("fewer than 65536 attribute names");
        self.names.push(name.into());
        if self.by_len.len() <= len {
            self.by_len.resize_with(len + 1, Vec::new);
        }
        self.by_len[len].push(id);
        id
    }

    /// The name a slot was interned with (for error messages).
    pub fn name(&self, slot: u16) -> &str {
        &self.names[slot as usize]
    }

    /// Fills `found` with, per slot, the first non-empty text value of the
    /// first attribute of that name that has one.
    pub fn resolve(&self, object: &SourceObject, found: &mut Vec<(u32, u32)>) {
        found.clear();
        found.resize(self.names.len(), NONE);
        for (ai, attr) in object.attributes.iter().enumerate() {
            let Some(ids) = self.by_len.get(attr.name.len()) else {
                continue;
            };
            for &id in ids {
                let slot = &mut found[id as usize];
                if *slot != NONE || !self.names[id as usize].eq_ignore_ascii_case(&attr.name) {
                    continue;
                }
                let first = attr
                    .values
                    .iter()
                    .position(|v| matches!(v, AttrValue::Text(t) if !t.is_empty()));
                if let Some(vi) = first {
                    *slot = (ai as u32, vi as u32);
                }
            }
        }
    }
}

/// One record's resolved slot values.
#[derive(Clone, Copy)]
pub struct Values<'a> {
    object: &'a SourceObject,
    found: &'a [(u32, u32)],
}

impl<'a> Values<'a> {
    pub fn new(object: &'a SourceObject, found: &'a [(u32, u32)]) -> Self {
        Values { object, found }
    }

    /// The slot's value in this record, if it has a non-empty one.
    #[inline]
    pub fn get(&self, slot: u16) -> Option<&'a str> {
        let (a, v) = self.found[slot as usize];
        if a == u32::MAX {
            return None;
        }
        match &self.object.attributes[a as usize].values[v as usize] {
            AttrValue::Text(t) => Some(t),
            AttrValue::Binary(_) => None,
        }
    }

    /// The first binary value of the attribute `name` (case-insensitive).
    pub fn bytes(&self, name: &str) -> Option<&'a [u8]> {
        self.object.bytes(name).filter(|b| !b.is_empty())
    }

    /// The record's own id (group names fall back to it).
    pub fn id(&self) -> &'a str {
        &self.object.id
    }
}
