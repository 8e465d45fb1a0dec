//! Searches through the host: page by page, and Active Directory's ranged
//! `member` values fetched until the last range.

use usersync_sdk::host::ldap::{self, EntryRef, Page, Scope, SearchRequest, SyncDone, ValueRef};

use crate::config::Resolved;
use crate::entries;

pub fn request(cfg: &Resolved, base: &str, filter: &str, attributes: Vec<String>) -> SearchRequest {
    SearchRequest {
        base: base.to_string(),
        scope: Scope::Subtree,
        filter: filter.to_string(),
        attributes,
        binary_attributes: cfg.binary.clone(),
        page_size: cfg.page_size,
        controls: Vec::new(),
        sync: None,
    }
}

/// Run `req` and hand every page to `each` (read in place, one page
/// reused for the whole search); returns how the search ended when it was
/// a content-sync search.
pub fn each_page(
    req: &SearchRequest,
    mut each: impl FnMut(&Page) -> Result<(), String>,
) -> Result<Option<SyncDone>, String> {
    let search = ldap::open_search(req)?;
    let mut page = Page::new();
    loop {
        search.read_page(&mut page)?;
        if page.is_empty() {
            return Ok(search.sync_done());
        }
        each(&page)?;
    }
}

/// Every page of a (small) search.
pub struct Pages(Vec<Page>);

impl Pages {
    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> {
        self.0.iter().flat_map(Page::iter)
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Page::is_empty)
    }
}

/// Every entry of a (small) search at once.
pub fn all(req: &SearchRequest) -> Result<Pages, String> {
    let search = ldap::open_search(req)?;
    let mut pages = Vec::new();
    loop {
        let mut page = Page::new();
        search.read_page(&mut page)?;
        if page.is_empty() {
            return Ok(Pages(pages));
        }
        pages.push(page);
    }
}

/// The direct member DNs of a group entry, as written, one at a time (see
/// [`entries::each_member_dn`]). For ranged values (`member;range=0-1499`)
/// the rest is read range by range.
pub fn each_member(
    e: EntryRef<'_>,
    cfg: &Resolved,
    mut each: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), String> {
    entries::each_member_dn(e, &mut each)?;
    let Some((mut next, mut values)) = ranged(e) else {
        return Ok(());
    };
    values.try_for_each(&mut each)?;
    while let Some(start) = next {
        let attr = format!("member;range={start}-{}", start + cfg.member_range - 1);
        let mut req = request(cfg, e.dn(), "(objectClass=*)", vec![attr]);
        req.scope = Scope::Base;
        req.page_size = 0;
        let found = all(&req)?;
        let entry = found
            .iter()
            .next()
            .ok_or_else(|| format!("group {} vanished while reading its members", e.dn()))?;
        let Some((after, mut values)) = ranged(entry) else {
            return Ok(());
        };
        values.try_for_each(&mut each)?;
        next = after;
    }
    Ok(())
}

/// The ranged `member` attribute of an entry: (next start, its text
/// values), the next start being `None` on the last range
/// (`member;range=1500-*`).
fn ranged<'a>(e: EntryRef<'a>) -> Option<(Option<u32>, impl Iterator<Item = &'a str> + 'a)> {
    let attr = e.attributes().find(|a| {
        a.name()
            .get(.."member;range=".len())
            .is_some_and(|p| p.eq_ignore_ascii_case("member;range="))
    })?;
    let range = &attr.name()["member;range=".len()..];
    let (_, end) = range.split_once('-')?;
    let next = if end == "*" {
        None
    } else {
        Some(end.parse::<u32>().ok()? + 1)
    };
    Some((next, attr.values().filter_map(ValueRef::text)))
}
