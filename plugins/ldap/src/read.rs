//! Full and incremental reads. Users first, then groups with their direct
//! members (the engine resolves nesting); the cursor is checkpointed last,
//! so the host commits it with the data it covers.

use std::collections::HashMap;

use usersync_sdk::host::ldap::{Change, Entry, SyncRequest};
use usersync_sdk::host::target;
use usersync_sdk::{log, ObjectKind, ReadSummary, SourceObject};

use crate::config::{Incremental, Resolved, GROUP_DN_MACRO};
use crate::cursor::{hex, unhex, Cursor};
use crate::deletions::{self, Seen};
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
    /// Ids sent, for the deletion check.
    seen: Seen,
    /// Active Directory: primaryGroupID (a group's RID) -> user refs. A
    /// user's primary group does not list it in `member`.
    primary: HashMap<u32, Vec<String>>,
    /// `primary` holds every user in scope (a full read), not only changed ones.
    primary_complete: bool,
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
                self.seen.users.insert(u.id.clone());
                if let Some(rid) = primary_group_id(e, cfg) {
                    self.primary.entry(rid).or_default().push(u.ref_key.clone());
                }
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
        self.primary_complete = true;
        self.flush(ObjectKind::User)
    }

    /// Active Directory: every user's primaryGroupID, when this run did not
    /// read all users (an incremental run re-sending groups).
    fn load_primary_groups(&mut self, cfg: &Resolved) -> Result<(), String> {
        self.primary.clear();
        let req = search::request(
            cfg,
            &cfg.users_base,
            &cfg.user_filter,
            vec!["primaryGroupID".into()],
        );
        search::each_page(&req, |page| {
            for e in &page {
                if let Some(rid) = primary_group_id(e, cfg) {
                    self.primary
                        .entry(rid)
                        .or_default()
                        .push(dn::normalize(&e.dn));
                }
            }
            Ok(())
        })?;
        self.primary_complete = true;
        Ok(())
    }

    /// Every group, with its members.
    pub fn all_groups(&mut self, cfg: &Resolved) -> Result<(), String> {
        if cfg.is_ad() && !self.primary_complete {
            self.load_primary_groups(cfg)?;
        }
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
            let mut members = self.members_of(e, cfg)?;
            if let Some(users) = entries::rid(e).and_then(|rid| self.primary.get(&rid)) {
                members.extend(users.iter().cloned());
            }
            match entries::group(e, cfg, members) {
                Ok(g) => {
                    self.seen.groups.insert(g.id.clone());
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

fn primary_group_id(e: &Entry, cfg: &Resolved) -> Option<u32> {
    if !cfg.is_ad() {
        return None;
    }
    entries::first_text(e, "primaryGroupID")?.parse().ok()
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
    let lists_ids = match cursor {
        Cursor::Timestamp { .. } => true,
        Cursor::Usn { .. } => !tombstones_readable(cfg, server),
        _ => false,
    };
    if lists_ids {
        deletions::remember_full(&r.seen);
    }
    target::checkpoint(&cursor.to_text())?;
    Ok(r.summary())
}

/// After an incremental read whose change search cannot see deletions:
/// list the ids when due, else remember what this run read.
fn find_deletions(r: &Reader, cfg: &Resolved) -> Result<(), String> {
    if deletions::due(cfg) {
        deletions::check(cfg, &r.seen)
    } else {
        deletions::remember_more(&r.seen);
        Ok(())
    }
}

/// Active Directory shows deleted objects only to accounts that may list
/// `CN=Deleted Objects` (by default: administrators).
pub fn tombstones_readable(cfg: &Resolved, server: &Server) -> bool {
    let Some(nc) = &server.naming_context else {
        return false;
    };
    let mut req = search::request(
        cfg,
        &format!("CN=Deleted Objects,{nc}"),
        "(objectClass=*)",
        vec![cfg.id_attr.clone()],
    );
    req.scope = usersync_sdk::host::ldap::Scope::Base;
    req.page_size = 0;
    req.controls = vec![SHOW_DELETED_OID.into()];
    // Without the read right the container may still be found, but its
    // attributes are withheld.
    search::all(&req).is_ok_and(|found| {
        found
            .first()
            .is_some_and(|e| entries::id_of(e, &cfg.id_attr).is_some())
    })
}

/// What a run says when deleted objects are not readable.
pub fn tombstones_hidden(cfg: &Resolved, nc: &str) -> String {
    format!(
        "the bind account cannot read deleted objects (CN=Deleted Objects,{nc}), so deletions are found by listing every objectGUID in scope at most every {} minutes (source.deletion_check_minutes) instead of at once; to read them, grant the account List Contents and Read Property on that container (dsacls \"CN=Deleted Objects,{nc}\" /takeownership, then dsacls \"CN=Deleted Objects,{nc}\" /G \"DOMAIN\\account:LCRP\"), or bind as a domain administrator",
        cfg.deletion_check_minutes
    )
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
            // A timestamp search never returns a deleted entry.
            find_deletions(&r, cfg)?;
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
    // A changed user may have a new primary group (or be new, in Domain
    // Users): its group lists it only through primaryGroupID.
    if r.users > 0 || !search::all(&req)?.is_empty() {
        r.all_groups(cfg)?;
    }

    if !tombstones_readable(cfg, server) {
        let nc = server.naming_context.clone().unwrap_or_default();
        log::warn(&tombstones_hidden(cfg, &nc));
        find_deletions(r, cfg)?;
        return Ok(Cursor::Usn { usn: next });
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
