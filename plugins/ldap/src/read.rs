//! Full and incremental reads. Users first, then groups with their direct
//! members (the engine resolves nesting); the cursor is checkpointed last,
//! so the host commits it with the data it covers.

use std::collections::HashMap;

use usersync_sdk::host::ldap::{Change, Entry, SyncRequest};
use usersync_sdk::host::target;
use usersync_sdk::{log, ObjectKind, ReadSummary, SourceObject};

use crate::config::{Incremental, Resolved, GROUP_DN_MACRO};
use crate::cursor::{hex, unhex, Cursor};
use crate::server::Server;
use crate::{dn, entries, search};

const BATCH: usize = 500;
/// Matches no entry: a content-sync search with it only fetches a cookie.
const NOTHING: &str = "(&(objectClass=*)(!(objectClass=*)))";
/// Active Directory: return deleted objects (tombstones) too.
const SHOW_DELETED_OID: &str = "1.2.840.113556.1.4.417";

/// Which incremental mode this server and configuration get.
pub fn mode(cfg: &Resolved, server: &Server) -> Result<Incremental, String> {
    Ok(match cfg.incremental {
        Incremental::Auto if cfg.is_ad() => Incremental::Usn,
        Incremental::Auto if server.content_sync => Incremental::ContentSync,
        Incremental::Auto => Incremental::Timestamp,
        Incremental::ContentSync if !server.content_sync => {
            return Err("source.incremental = \"content-sync\" but the server does not offer content synchronization (load the syncprov overlay, or use \"timestamp\")".into())
        }
        Incremental::Usn if server.highest_usn.is_none() => {
            return Err("source.incremental = \"usn\" but the server has no highestCommittedUSN (it is not Active Directory)".into())
        }
        other => other,
    })
}

/// Counts and the state a read carries from users to groups.
#[derive(Default)]
pub struct Reader {
    users: u64,
    groups: u64,
    batch: Vec<SourceObject>,
    /// username (lowercase) -> user ref, for posixGroup `memberUid`.
    uid_refs: HashMap<String, String>,
    /// Newest modification time seen, for the timestamp cursor.
    newest: Option<String>,
}

impl Reader {
    pub fn summary(&self) -> ReadSummary {
        ReadSummary {
            users: self.users,
            groups: self.groups,
            complete: true,
        }
    }

    fn flush(&mut self, kind: ObjectKind) -> Result<(), String> {
        if self.batch.is_empty() {
            return Ok(());
        }
        match kind {
            ObjectKind::User => target::put_users(&self.batch),
            ObjectKind::Group => target::put_groups(&self.batch),
        }
        .map_err(|e| format!("the host refused a batch: {e}"))?;
        self.batch.clear();
        Ok(())
    }

    fn add_user(&mut self, e: &Entry, cfg: &Resolved) -> Result<(), String> {
        if let Some(m) = entries::first_text(e, &cfg.modified_attr) {
            if self.newest.as_deref().is_none_or(|n| m > n) {
                self.newest = Some(m.to_string());
            }
        }
        match entries::user(e, cfg) {
            Ok(u) => {
                if !cfg.is_ad() {
                    if let Some(name) = u.text("username") {
                        self.uid_refs.insert(name.to_lowercase(), u.ref_key.clone());
                    }
                }
                self.users += 1;
                self.batch.push(u);
                if self.batch.len() >= BATCH {
                    self.flush(ObjectKind::User)?;
                }
            }
            Err(why) => target::reject(&e.dn, &why),
        }
        Ok(())
    }

    /// Every user under the users base.
    pub fn all_users(&mut self, cfg: &Resolved) -> Result<(), String> {
        let req = search::request(
            cfg,
            &cfg.users_base,
            &cfg.user_filter,
            cfg.user_attributes(),
        );
        search::each_page(&req, |page| {
            page.iter().try_for_each(|e| self.add_user(e, cfg))
        })?;
        self.flush(ObjectKind::User)
    }

    /// Every group, with its members.
    pub fn all_groups(&mut self, cfg: &Resolved) -> Result<(), String> {
        let req = search::request(
            cfg,
            &cfg.groups_base,
            &cfg.group_filter,
            cfg.group_attributes(),
        );
        let mut pending = Vec::new();
        search::each_page(&req, |page| {
            pending.extend(page);
            // Member lookups search too; resolve a page at a time.
            self.send_groups(std::mem::take(&mut pending), cfg)
        })?;
        self.flush(ObjectKind::Group)
    }

    fn send_groups(&mut self, page: Vec<Entry>, cfg: &Resolved) -> Result<(), String> {
        for e in &page {
            let members = self.members_of(e, cfg)?;
            match entries::group(e, cfg, members) {
                Ok(g) => {
                    self.groups += 1;
                    self.batch.push(g);
                    if self.batch.len() >= BATCH {
                        self.flush(ObjectKind::Group)?;
                    }
                }
                Err(why) => target::reject(&e.dn, &why),
            }
        }
        Ok(())
    }

    fn members_of(&mut self, e: &Entry, cfg: &Resolved) -> Result<Vec<String>, String> {
        if let Some(filter) = &cfg.group_member_filter {
            let filter = filter.replace(GROUP_DN_MACRO, &dn::filter_escape(&e.dn));
            let req = search::request(cfg, &cfg.users_base, &filter, vec!["1.1".into()]);
            let found = search::all(&req)?;
            return Ok(found.iter().map(|m| dn::normalize(&m.dn)).collect());
        }
        let mut members = search::members(e, cfg)?;
        let uids: Vec<&str> = entries::texts(e, "memberUid").collect();
        if !uids.is_empty() {
            members.extend(self.resolve_uids(&uids, cfg)?);
        }
        Ok(members)
    }

    /// posixGroup members are usernames: find their users' DNs (from this
    /// run's users, else by searching).
    fn resolve_uids(&mut self, uids: &[&str], cfg: &Resolved) -> Result<Vec<String>, String> {
        let username_attr = cfg
            .fields
            .iter()
            .find(|(f, _)| f == "username")
            .map_or("uid", |(_, a)| a.as_str())
            .to_string();
        let unknown: Vec<&str> = uids
            .iter()
            .copied()
            .filter(|u| !self.uid_refs.contains_key(&u.to_lowercase()))
            .collect();
        for chunk in unknown.chunks(50) {
            let any: String = chunk
                .iter()
                .map(|u| format!("({username_attr}={})", dn::filter_escape(u)))
                .collect();
            let filter = format!("(&{}(|{any}))", cfg.user_filter);
            let req = search::request(cfg, &cfg.users_base, &filter, vec![username_attr.clone()]);
            for found in search::all(&req)? {
                if let Some(name) = entries::first_text(&found, &username_attr) {
                    self.uid_refs
                        .insert(name.to_lowercase(), dn::normalize(&found.dn));
                }
            }
        }
        Ok(uids
            .iter()
            .filter_map(|u| self.uid_refs.get(&u.to_lowercase()).cloned())
            .collect())
    }
}

/// Where an incremental run will start next time, taken before the read so
/// changes made during it are read again rather than missed.
pub fn starting_cursor(
    cfg: &Resolved,
    server: &Server,
    mode: Incremental,
) -> Result<Cursor, String> {
    Ok(match mode {
        Incremental::ContentSync => match cookies(cfg) {
            Ok(cursor) => cursor,
            // The control is advertised whenever the syncprov module is
            // loaded, even where the overlay is not on this database.
            Err(e) if cfg.incremental == Incremental::Auto => {
                log::info(&format!(
                    "content sync is not available here ({e}); incremental runs use timestamps"
                ));
                Cursor::Timestamp {
                    since: String::new(),
                }
            }
            Err(e) => return Err(format!("source.incremental = \"content-sync\": {e}")),
        },
        Incremental::Usn => Cursor::Usn {
            usn: server.highest_usn.unwrap_or(0),
        },
        Incremental::Timestamp => Cursor::Timestamp {
            since: String::new(), // filled from the newest entry read
        },
        Incremental::Auto | Incremental::None => Cursor::None,
    })
}

fn cookies(cfg: &Resolved) -> Result<Cursor, String> {
    Ok(Cursor::ContentSync {
        users: hex(&cookie_now(cfg, &cfg.users_base)?),
        groups: hex(&cookie_now(cfg, &cfg.groups_base)?),
    })
}

/// The server's current content-sync cookie for `base`, without reading.
fn cookie_now(cfg: &Resolved, base: &str) -> Result<Vec<u8>, String> {
    let mut req = search::request(cfg, base, NOTHING, vec!["1.1".into()]);
    req.sync = Some(SyncRequest { cookie: None });
    let done = search::each_page(&req, |_| Ok(()))?;
    done.and_then(|d| d.cookie)
        .ok_or_else(|| "the server answered a content-sync search without a cookie (is the syncprov overlay on this database?)".to_string())
}

pub fn full(cfg: &Resolved, server: &Server, mode: Incremental) -> Result<ReadSummary, String> {
    let mut cursor = starting_cursor(cfg, server, mode)?;
    let mut r = Reader::default();
    r.all_users(cfg)?;
    r.all_groups(cfg)?;
    if let Cursor::Timestamp { since } = &mut cursor {
        *since = r.newest.clone().unwrap_or_default();
    }
    target::checkpoint(&cursor.to_text())?;
    Ok(r.summary())
}

pub fn incremental(cfg: &Resolved, server: &Server, cursor: Cursor) -> Result<ReadSummary, String> {
    let mut r = Reader::default();
    let next = match cursor {
        Cursor::ContentSync { users, groups } => {
            let users = sync_users(&mut r, cfg, unhex(&users)?)?;
            let groups = sync_groups(&mut r, cfg, unhex(&groups)?)?;
            Cursor::ContentSync {
                users: hex(&users),
                groups: hex(&groups),
            }
        }
        Cursor::Timestamp { mut since } => {
            if since.is_empty() {
                since = "19700101000000Z".into();
            }
            let filter = format!("(&{}({}>={since}))", cfg.user_filter, cfg.modified_attr);
            let req = search::request(cfg, &cfg.users_base, &filter, cfg.user_attributes());
            search::each_page(&req, |page| {
                page.iter().try_for_each(|e| r.add_user(e, cfg))
            })?;
            r.flush(ObjectKind::User)?;
            // Overlays rewrite memberships without touching timestamps:
            // re-read every group (cheap) instead of trusting them.
            r.all_groups(cfg)?;
            let newest = r.newest.clone().filter(|n| *n > since).unwrap_or(since);
            Cursor::Timestamp { since: newest }
        }
        Cursor::Usn { usn } => usn_changes(&mut r, cfg, server, usn)?,
        Cursor::None => {
            return Err("incremental runs are off (source.incremental = \"none\")".into())
        }
    };
    target::checkpoint(&next.to_text())?;
    Ok(r.summary())
}

/// Changed and deleted users since the cookie; returns the new cookie.
fn sync_users(r: &mut Reader, cfg: &Resolved, cookie: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut req = search::request(
        cfg,
        &cfg.users_base,
        &cfg.user_filter,
        cfg.user_attributes(),
    );
    req.sync = Some(SyncRequest {
        cookie: Some(cookie.clone()),
    });
    let done = search::each_page(&req, |page| {
        page.iter()
            .filter(|e| matches!(e.change, Some((Change::Add | Change::Modify, _))))
            .try_for_each(|e| r.add_user(e, cfg))
    })?
    .unwrap_or_default_done();
    r.flush(ObjectKind::User)?;
    if !done.deleted.is_empty() {
        target::remove(ObjectKind::User, &done.deleted)?;
    }
    if done.present_phase {
        log::warn("the server answered with a present phase instead of a list of deletions (no syncprov session log): users deleted since the last run are deactivated by the next full run");
    }
    Ok(done.cookie.unwrap_or(cookie))
}

/// Changed groups since the cookie. Any change re-reads every group, so a
/// parent of a changed nested group is sent again with it.
fn sync_groups(r: &mut Reader, cfg: &Resolved, cookie: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut req = search::request(cfg, &cfg.groups_base, &cfg.group_filter, vec!["1.1".into()]);
    req.sync = Some(SyncRequest {
        cookie: Some(cookie.clone()),
    });
    let mut changed = 0usize;
    let done = search::each_page(&req, |page| {
        changed += page
            .iter()
            .filter(|e| matches!(e.change, Some((Change::Add | Change::Modify, _))))
            .count();
        Ok(())
    })?
    .unwrap_or_default_done();
    if !done.deleted.is_empty() {
        target::remove(ObjectKind::Group, &done.deleted)?;
    }
    if changed > 0 {
        r.all_groups(cfg)?;
    }
    Ok(done.cookie.unwrap_or(cookie))
}

fn usn_changes(
    r: &mut Reader,
    cfg: &Resolved,
    server: &Server,
    usn: u64,
) -> Result<Cursor, String> {
    let next = server.highest_usn.unwrap_or(usn);
    let changed = |filter: &str| format!("(&{filter}(uSNChanged>={}))", usn + 1);
    let req = search::request(
        cfg,
        &cfg.users_base,
        &changed(&cfg.user_filter),
        cfg.user_attributes(),
    );
    search::each_page(&req, |page| {
        page.iter().try_for_each(|e| r.add_user(e, cfg))
    })?;
    r.flush(ObjectKind::User)?;

    let req = search::request(
        cfg,
        &cfg.groups_base,
        &changed(&cfg.group_filter),
        vec!["1.1".into()],
    );
    if !search::all(&req)?.is_empty() {
        r.all_groups(cfg)?;
    }

    // Deleted objects keep their objectGUID and objectClass as tombstones.
    let mut req = search::request(
        cfg,
        &cfg.users_base,
        &changed("(isDeleted=TRUE)"),
        vec![cfg.id_attr.clone(), "objectClass".into()],
    );
    req.controls = vec![SHOW_DELETED_OID.into()];
    req.base = server.naming_context.clone().unwrap_or(req.base);
    let (mut users, mut groups) = (Vec::new(), Vec::new());
    for e in search::all(&req)? {
        let Some(id) = entries::id_of(&e, &cfg.id_attr) else {
            continue;
        };
        if entries::texts(&e, "objectClass").any(|c| c.eq_ignore_ascii_case("group")) {
            groups.push(id);
        } else if entries::texts(&e, "objectClass").any(|c| c.eq_ignore_ascii_case("user")) {
            users.push(id);
        }
    }
    if !users.is_empty() {
        target::remove(ObjectKind::User, &users)?;
    }
    if !groups.is_empty() {
        target::remove(ObjectKind::Group, &groups)?;
    }
    Ok(Cursor::Usn { usn: next })
}

trait DoneOrDefault {
    fn unwrap_or_default_done(self) -> usersync_sdk::host::ldap::SyncDone;
}

impl DoneOrDefault for Option<usersync_sdk::host::ldap::SyncDone> {
    fn unwrap_or_default_done(self) -> usersync_sdk::host::ldap::SyncDone {
        self.unwrap_or(usersync_sdk::host::ldap::SyncDone {
            cookie: None,
            deleted: Vec::new(),
            present: Vec::new(),
            present_phase: false,
        })
    }
}
