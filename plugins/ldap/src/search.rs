//! Searches through the host: page by page, and Active Directory's ranged
//! `member` values fetched until the last range.

use usersync_sdk::host::ldap::{self, Entry, Scope, SearchRequest, SyncDone};

use crate::config::Resolved;
use crate::dn;
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

/// Run `req` and hand every page to `each`; returns how the search ended
/// when it was a content-sync search.
pub fn each_page(
    req: &SearchRequest,
    mut each: impl FnMut(Vec<Entry>) -> Result<(), String>,
) -> Result<Option<SyncDone>, String> {
    let search = ldap::open_search(req)?;
    loop {
        let page = search.next_page()?;
        if page.is_empty() {
            return Ok(search.sync_done());
        }
        each(page)?;
    }
}

/// Every entry of a (small) search at once.
pub fn all(req: &SearchRequest) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    each_page(req, |page| {
        out.extend(page);
        Ok(())
    })?;
    Ok(out)
}

/// The direct member DNs of a group entry, normalized, one at a time (see
/// [`entries::take_member_dns`]). For ranged values (`member;range=0-1499`)
/// the rest is read range by range.
pub fn each_member(
    e: &mut Entry,
    cfg: &Resolved,
    mut each: impl FnMut(String) -> Result<(), String>,
) -> Result<(), String> {
    entries::take_member_dns(e, &mut each)?;
    let Some((mut next, mut values)) = ranged(e) else {
        return Ok(());
    };
    loop {
        std::mem::take(&mut values)
            .into_iter()
            .try_for_each(|v| each(dn::normalize_owned(v)))?;
        let Some(start) = next else {
            return Ok(());
        };
        let attr = format!("member;range={start}-{}", start + cfg.member_range - 1);
        let mut req = request(cfg, &e.dn, "(objectClass=*)", vec![attr]);
        req.scope = Scope::Base;
        req.page_size = 0;
        let found = all(&req)?;
        let entry = found
            .first()
            .ok_or_else(|| format!("group {} vanished while reading its members", e.dn))?;
        match ranged(entry) {
            Some((n, v)) => {
                next = n;
                values = v;
            }
            None => return Ok(()),
        }
    }
}

/// The ranged `member` attribute of an entry: (next start, values), the
/// next start being `None` on the last range (`member;range=1500-*`).
fn ranged(e: &Entry) -> Option<(Option<u32>, Vec<String>)> {
    let attr = e
        .attributes
        .iter()
        .find(|a| a.name.to_ascii_lowercase().starts_with("member;range="))?;
    let range = &attr.name["member;range=".len()..];
    let (_, end) = range.split_once('-')?;
    let next = if end == "*" {
        None
    } else {
        Some(end.parse::<u32>().ok()? + 1)
    };
    let values = attr
        .values
        .iter()
        .filter_map(|v| match v {
            usersync_sdk::AttrValue::Text(t) => Some(t.clone()),
            usersync_sdk::AttrValue::Binary(_) => None,
        })
        .collect();
    Some((next, values))
}
