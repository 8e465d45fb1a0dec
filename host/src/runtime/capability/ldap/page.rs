//! A search page in the form the plugin's contract takes it: entries as
//! values (contract 0.1, the root DSE), or a packed `Entries` page (0.2)
//! written as the entries come off the wire, with no value allocated on
//! the way. Either is built on the read-ahead task, off the plugin's thread.

use ldap3::asn1::StructureTag;
use usersync_packed::{PageKind, Writer};

use super::entry::{self, Change, Entry};

/// How a search's pages are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageForm {
    Typed,
    Packed,
}

/// One page of a search.
pub enum Page {
    Typed(Vec<Entry>),
    Packed(Vec<u8>),
}

impl Page {
    pub fn into_typed(self) -> Result<Vec<Entry>, String> {
        match self {
            Page::Typed(entries) => Ok(entries),
            Page::Packed(_) => Err(wrong_form()),
        }
    }

    pub fn into_packed(self) -> Result<Vec<u8>, String> {
        match self {
            Page::Packed(page) => Ok(page),
            Page::Typed(_) => Err(wrong_form()),
        }
    }
}

fn wrong_form() -> String {
    "the host read an LDAP page in another contract's form (a bug: please report it)".into()
}

/// A page being filled, entry by entry.
pub struct Builder {
    building: Building,
    entries: usize,
}

enum Building {
    /// The entries and roughly the bytes they hold.
    Typed(Vec<Entry>, usize),
    Packed(Writer),
}

impl Builder {
    /// `capacity`: bytes to reserve for a packed page (the last page's size).
    pub fn new(form: PageForm, capacity: usize) -> Builder {
        let building = match form {
            PageForm::Typed => Building::Typed(Vec::new(), 0),
            PageForm::Packed => Building::Packed(Writer::new(PageKind::Entries, capacity)),
        };
        Builder {
            building,
            entries: 0,
        }
    }

    /// Add the SearchResultEntry `tag`; `binary` as `entry::from_tag` takes it.
    pub fn push(
        &mut self,
        tag: StructureTag,
        binary: &[String],
        change: Option<(Change, String)>,
    ) -> Result<(), String> {
        match &mut self.building {
            Building::Typed(entries, bytes) => {
                let entry = entry::from_tag(tag, binary)?;
                *bytes += entry.size();
                entries.push(Entry { change, ..entry });
            }
            Building::Packed(w) => entry::pack(tag, binary, change.as_ref(), w)?,
        }
        self.entries += 1;
        Ok(())
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Roughly the bytes the page holds so far.
    pub fn bytes(&self) -> usize {
        match &self.building {
            Building::Typed(_, bytes) => *bytes,
            Building::Packed(w) => w.written(),
        }
    }

    pub fn finish(self) -> Page {
        match self.building {
            Building::Typed(entries, _) => Page::Typed(entries),
            Building::Packed(w) => Page::Packed(w.finish()),
        }
    }
}
