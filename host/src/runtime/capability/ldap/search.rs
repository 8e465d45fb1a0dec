//! One open search on behalf of a plugin: paged (RFC 2696) or content
//! synchronization (RFC 4533, refreshOnly). Entries are pulled from the
//! server a page at a time, so a big directory never sits in memory whole.

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::{
    parse_syncinfo, Control, EntryState, RawControl, SyncDone, SyncInfo, SyncRequest, SyncState,
};
use ldap3::{Ldap, ResultEntry, Scope, SearchStream};

pub use super::entry::{Change, Entry, Value};
use super::page::Builder;
pub use super::page::{Page, PageForm};
pub use super::prefetch::SearchHandle;

// RFC 4533 response controls (ldap3 does not export these OIDs).
const SYNC_STATE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.2";
const SYNC_DONE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.3";

/// Most entries one page may hold, whatever page size a plugin asks for.
pub const MAX_PAGE_ENTRIES: u32 = 10_000;

/// What a plugin asks for (contract-independent).
#[derive(Debug, Clone)]
pub struct Request {
    pub base: String,
    pub scope: Scope,
    pub filter: String,
    pub attributes: Vec<String>,
    pub binary_attributes: Vec<String>,
    pub page_size: u32,
    pub controls: Vec<String>,
    /// Set by the host (limits.max_output_kb), not by the plugin.
    pub max_page_bytes: usize,
    /// `Some(cookie)`: a content-sync search from that cookie.
    pub sync: Option<Option<Vec<u8>>>,
}

#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    pub cookie: Option<Vec<u8>>,
    pub deleted: Vec<String>,
    pub present: Vec<String>,
    pub present_phase: bool,
}

/// An open search, read a page at a time; `prefetch.rs` reads it ahead of
/// the plugin on a tokio task (the resource the plugin holds).
pub struct Reader {
    stream: Option<SearchStream<'static, String, Vec<String>>>,
    /// Attributes the plugin asked for as bytes, lowercased.
    binary: Vec<String>,
    form: PageForm,
    /// The last page's size: what the next packed page reserves.
    last_page_bytes: usize,
    page_size: usize,
    /// A page ends early once its entries pass this size.
    max_page_bytes: usize,
    /// Content sync: what the intermediate messages and SyncDone said.
    sync: Option<SyncOutcome>,
    /// For the debug line a finished search logs.
    started: std::time::Instant,
    base: String,
    entries: usize,
}

impl Reader {
    pub async fn open(ldap: &mut Ldap, req: Request, form: PageForm) -> Result<Reader, String> {
        let mut controls: Vec<RawControl> = req
            .controls
            .iter()
            .map(|oid| RawControl {
                ctype: oid.clone(),
                crit: true, // asked for by name: fail loudly if unsupported
                val: None,
            })
            .collect();
        // The plugin picks the page size; the host caps it so one page
        // (held here, then copied into the plugin) stays small.
        let page_size = match req.page_size {
            0 => 1000,
            n => n.min(MAX_PAGE_ENTRIES),
        };
        let mut adapters: Vec<Box<dyn Adapter<'static, String, Vec<String>>>> = Vec::new();
        if let Some(cookie) = &req.sync {
            controls.push(
                SyncRequest {
                    cookie: cookie.clone(),
                    ..Default::default()
                }
                .into(),
            );
        } else {
            adapters.push(Box::new(EntriesOnly::new()));
            if req.page_size > 0 {
                adapters.push(Box::new(PagedResults::new(page_size as i32)));
            }
        }
        if !controls.is_empty() {
            ldap.with_controls(controls);
        }
        let stream = ldap
            .streaming_search_with(
                adapters,
                &req.base,
                req.scope,
                &req.filter,
                req.attributes.clone(),
            )
            .await
            .map_err(|e| format!("LDAP search under {:?} failed: {e}", req.base))?;
        Ok(Reader {
            stream: Some(stream),
            binary: req
                .binary_attributes
                .iter()
                .map(|a| a.to_ascii_lowercase())
                .collect(),
            form,
            last_page_bytes: 0,
            page_size: page_size as usize,
            max_page_bytes: req.max_page_bytes,
            sync: req.sync.map(|_| SyncOutcome::default()),
            started: std::time::Instant::now(),
            base: req.base,
            entries: 0,
        })
    }

    /// Up to one page of entries; empty when the search is done.
    pub async fn next_page(&mut self) -> Result<Page, String> {
        let mut page = Builder::new(self.form, self.last_page_bytes);
        let Some(stream) = self.stream.as_mut() else {
            return Ok(page.finish());
        };
        while page.entries() < self.page_size && page.bytes() < self.max_page_bytes {
            let item = stream
                .next()
                .await
                .map_err(|e| format!("LDAP search failed while reading: {e}"))?;
            let Some(item) = item else {
                let result = stream.finish().await;
                self.stream = None;
                tracing::debug!(
                    base = %self.base,
                    entries = self.entries + page.entries(),
                    ms = self.started.elapsed().as_millis() as u64,
                    "an LDAP search finished"
                );
                return finish(result, self.sync.as_mut()).map(|_| page.finish());
            };
            if item.is_intermediate() {
                if let Some(sync) = self.sync.as_mut() {
                    apply_syncinfo(sync, item)?;
                }
                continue;
            }
            if item.is_ref() {
                continue; // referrals are not followed
            }
            let state = self.sync.as_ref().and_then(|_| sync_state(&item));
            match (state, self.sync.as_mut()) {
                (Some((Change::Delete, uuid)), Some(sync)) => sync.deleted.push(uuid),
                (Some((Change::Present, uuid)), Some(sync)) => sync.present.push(uuid),
                (change, _) => page.push(item.0, &self.binary, change)?,
            }
        }
        self.entries += page.entries();
        // A page past the cap (one huge entry) is not reserved again.
        self.last_page_bytes = page.bytes().min(self.max_page_bytes);
        Ok(page.finish())
    }

    pub fn form(&self) -> PageForm {
        self.form
    }

    /// Whether the last page has been read (the server's result too).
    pub fn finished(&self) -> bool {
        self.stream.is_none()
    }

    /// How the content-sync search ended (after its last page).
    pub fn sync_done(&self) -> Option<SyncOutcome> {
        match (&self.stream, &self.sync) {
            (None, Some(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// Ask the server to stop a search nobody will read to the end (a
    /// dropped `SearchStream` does not: the server would keep sending).
    pub async fn abandon(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            let ldap = stream.ldap_handle();
            let id = ldap.last_id();
            if let Err(e) = ldap.abandon(id).await {
                tracing::debug!("abandoning LDAP search {id}: {e}");
            }
        }
    }
}

fn finish(result: ldap3::LdapResult, sync: Option<&mut SyncOutcome>) -> Result<(), String> {
    if result.rc != 0 {
        let hint = match result.rc {
            32 => " (no such object: check the base DN)",
            4 => " (size limit exceeded: raise the server's limits for the bind DN or page the search)",
            3 => " (time limit exceeded)",
            50 => " (insufficient access rights for the bind DN)",
            12 => " (the server does not support a critical control, e.g. content sync without syncprov)",
            _ => "",
        };
        return Err(format!(
            "LDAP search failed: code {} {}{hint}",
            result.rc,
            result.text.trim()
        ));
    }
    if let Some(sync) = sync {
        for ctrl in &result.ctrls {
            if let Some(done) = parse_control::<SyncDone>(ctrl, SYNC_DONE_OID) {
                if done.cookie.is_some() {
                    sync.cookie = done.cookie;
                }
                // RFC 4533 3.3.1: refreshDeletes FALSE means a present phase.
                sync.present_phase = !done.refresh_deletes;
            }
        }
    }
    Ok(())
}

fn parse_control<T: ldap3::controls::ControlParser>(ctrl: &Control, oid: &str) -> Option<T> {
    let raw = &ctrl.1;
    if raw.ctype != oid || raw.val.is_none() {
        return None;
    }
    // ldap3's parsers panic on malformed values; a bad server must not
    // take the host down.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| raw.parse::<T>())).ok()
}

fn sync_state(item: &ResultEntry) -> Option<(Change, String)> {
    let state = item
        .1
        .iter()
        .find_map(|c| parse_control::<SyncState>(c, SYNC_STATE_OID))?;
    let change = match state.state {
        EntryState::Add => Change::Add,
        EntryState::Modify => Change::Modify,
        EntryState::Delete => Change::Delete,
        EntryState::Present => Change::Present,
    };
    Some((change, format_uuid(&state.entry_uuid)))
}

fn apply_syncinfo(sync: &mut SyncOutcome, item: ResultEntry) -> Result<(), String> {
    let info = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_syncinfo(item)))
        .map_err(|_| "the LDAP server sent a malformed sync info message".to_string())?;
    match info {
        SyncInfo::NewCookie(cookie) => sync.cookie = Some(cookie),
        SyncInfo::RefreshDelete { cookie, .. } => {
            if cookie.is_some() {
                sync.cookie = cookie;
            }
        }
        SyncInfo::RefreshPresent { cookie, .. } => {
            sync.present_phase = true;
            if cookie.is_some() {
                sync.cookie = cookie;
            }
        }
        SyncInfo::SyncIdSet {
            cookie,
            refresh_deletes,
            sync_uuids,
        } => {
            let list = if refresh_deletes {
                &mut sync.deleted
            } else {
                &mut sync.present
            };
            list.extend(sync_uuids.iter().map(|u| format_uuid(u)));
            if cookie.is_some() {
                sync.cookie = cookie;
            }
        }
    }
    Ok(())
}

/// RFC 4122 text form of a 16-byte entryUUID, as `entryUUID` reads.
pub fn format_uuid(b: &[u8]) -> String {
    if b.len() != 16 {
        return b.iter().map(|x| format!("{x:02x}")).collect();
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_read_like_entry_uuid() {
        let b: Vec<u8> = (0u8..16).collect();
        assert_eq!(format_uuid(&b), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }
}
