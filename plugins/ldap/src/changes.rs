//! Incremental reads: content sync (RFC 4533 cookies), modifyTimestamp, or
//! Active Directory's USN. Changed users are sent; of the groups, content
//! sync sends only the changed ones and those the group graph says a
//! change reaches (graph.rs); the other modes re-read every group (an
//! overlay's rewrite of `member` shows in no timestamp; a user's new
//! primary group shows in no group), page by page.

use usersync_sdk::host::ldap::{Change, SyncDone, SyncRequest};
use usersync_sdk::host::target;
use usersync_sdk::{log, ObjectKind, ReadSummary};

use crate::changed::ChangedUsers;
use crate::config::Resolved;
use crate::cursor::{hex, unhex, Cursor};
use crate::deletions;
use crate::graph::Graph;
use crate::read::{tombstones_hidden, tombstones_readable, Reader, SHOW_DELETED_OID};
use crate::server::Server;
use crate::{dn, entries, member_attrs, search};

pub fn incremental(cfg: &Resolved, server: &Server, cursor: Cursor) -> Result<ReadSummary, String> {
    let mut r = Reader::default();
    let next = match cursor {
        Cursor::ContentSync { users, groups } => {
            r.changed_users = Some(ChangedUsers::default());
            let users = sync_users(&mut r, cfg, unhex(&users)?)?;
            let groups = sync_groups(&mut r, cfg, unhex(&groups)?)?;
            Cursor::ContentSync {
                users: hex(&users),
                groups: hex(&groups),
            }
        }
        Cursor::Timestamp { mut since } => {
            r.seen.tracking = true;
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
            find_deletions(&mut r, cfg)?;
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
            .filter(|e| matches!(e.change(), Some((Change::Add | Change::Modify, _))))
            .try_for_each(|e| r.add_user(e, cfg))
    })?
    .unwrap_or_default_done();
    r.flush(ObjectKind::User)?;
    if !done.deleted.is_empty() {
        // Their groups are not re-read: the host takes a deleted user out
        // of every group (refint's rewrite of them shows in no search).
        target::remove(ObjectKind::User, &done.deleted)?;
    }
    if done.present_phase {
        log::warn("the server answered with a present phase instead of a list of deletions (no syncprov session log): users deleted since the last run are deactivated by the next full run");
    }
    Ok(done.cookie.unwrap_or(cookie))
}

/// Most changed users whose groups are found by searching; past it, an
/// incremental run re-reads every group.
pub const USERS_BY_SEARCH: usize = 5_000;

/// The groups that list any of `users` (DN, username) as a member, through
/// the member attributes `attrs` (`member_attrs.rs`).
fn groups_of(
    cfg: &Resolved,
    users: &[(String, Option<String>)],
    attrs: u8,
    out: &mut Vec<(String, String)>,
) -> Result<(), String> {
    if attrs == 0 {
        return Ok(()); // no group lists anybody
    }
    for chunk in users.chunks(50) {
        let mut any = String::new();
        for (dn, uid) in chunk {
            let dn = dn::filter_escape(dn);
            if attrs & member_attrs::MEMBER != 0 {
                any.push_str(&format!("(member={dn})"));
            }
            if attrs & member_attrs::UNIQUE_MEMBER != 0 {
                any.push_str(&format!("(uniqueMember={dn})"));
            }
            if let (true, Some(uid)) = (attrs & member_attrs::MEMBER_UID != 0, uid) {
                any.push_str(&format!("(memberUid={})", dn::filter_escape(uid)));
            }
        }
        let filter = format!("(&{}(|{any}))", cfg.group_filter);
        let req = search::request(cfg, &cfg.groups_base, &filter, vec![cfg.id_attr.clone()]);
        for e in search::all(&req)?.iter() {
            if let Some(id) = entries::id_of(e, &cfg.id_attr) {
                out.push((id, dn::normalize(e.dn())));
            }
        }
    }
    Ok(())
}

/// Changed groups since the cookie, with every group the change reaches
/// (graph.rs). Without a graph from the last run, any change re-reads
/// every group (and keeps a graph from then on).
fn sync_groups(r: &mut Reader, cfg: &Resolved, cookie: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut req = search::request(
        cfg,
        &cfg.groups_base,
        &cfg.group_filter,
        vec![cfg.id_attr.clone()],
    );
    req.sync = Some(SyncRequest {
        cookie: Some(cookie.clone()),
    });
    // (id, normalized DN) of each added or changed group.
    let mut changed: Vec<(String, String)> = Vec::new();
    let done = search::each_page(&req, |page| {
        let changes = page
            .iter()
            .filter(|e| matches!(e.change(), Some((Change::Add | Change::Modify, _))));
        for e in changes {
            let id = entries::id_of(e, &cfg.id_attr)
                .or_else(|| e.change().map(|(_, uuid)| uuid.to_ascii_lowercase()));
            changed.push((id.unwrap_or_default(), dn::normalize(e.dn())));
        }
        Ok(())
    })?
    .unwrap_or_default_done();
    if !done.deleted.is_empty() {
        target::remove(ObjectKind::Group, &done.deleted)?;
    }
    let next = done.cookie.unwrap_or(cookie);
    // The groups of a changed user new to the store go again: it gets its
    // memberships only from the groups sent (changed.rs).
    let users = r.changed_users.take().and_then(ChangedUsers::finish);
    let by_search = users.is_some() && cfg.group_member_filter.is_none();
    let users = users.unwrap_or_default();
    let attrs = member_attrs::load();
    if by_search {
        groups_of(cfg, &users, attrs, &mut changed)?;
    }
    if !by_search {
        r.graph = Some(Graph::default());
        r.all_groups(cfg)?;
        r.save_group_state(attrs);
        return Ok(next);
    }
    let Some(mut graph) = Graph::load() else {
        if !changed.is_empty() {
            r.graph = Some(Graph::default());
            r.all_groups(cfg)?;
            r.save_group_state(attrs);
        }
        return Ok(next);
    };
    let mut seeds = graph.remove(&done.deleted);
    for (id, dn) in &changed {
        match graph.node(id, dn) {
            Some(i) => seeds.push(i),
            None => {
                // Not a UUID: no graph; every group, as without one.
                Graph::forget();
                r.all_groups(cfg)?;
                member_attrs::save(attrs | r.member_attrs);
                return Ok(next);
            }
        }
    }
    let mut send = graph.affected(&seeds);
    let many = send.iter().filter(|&&s| s).count() * 2 > graph.len();
    r.graph = Some(graph);
    if many {
        // Half the groups or more: one paged read is cheaper.
        r.all_groups(cfg)?;
    } else {
        let mut sent = vec![false; send.len()];
        loop {
            let todo: Vec<u32> = (0..send.len() as u32)
                .filter(|&g| send[g as usize] && !sent[g as usize])
                .collect();
            if todo.is_empty() {
                break;
            }
            r.groups_by_id(cfg, &todo)?;
            todo.iter().for_each(|&g| sent[g as usize] = true);
            // A group read may name a new child group: send its subtree too.
            let graph = r.graph.as_ref().expect("kept");
            let sent_now: Vec<u32> = (0..sent.len() as u32)
                .filter(|&g| sent[g as usize])
                .collect();
            send = graph.below(&sent_now, send);
            sent.resize(send.len(), false);
        }
        r.flush(ObjectKind::Group)?;
    }
    r.save_group_state(attrs);
    Ok(next)
}

fn usn_changes(
    r: &mut Reader,
    cfg: &Resolved,
    server: &Server,
    usn: u64,
) -> Result<Cursor, String> {
    let next = server.highest_usn.unwrap_or(usn);
    let readable = tombstones_readable(cfg, server);
    r.seen.tracking = !readable;
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

    if !readable {
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
    for e in search::all(&req)?.iter() {
        let Some(id) = entries::id_of(e, &cfg.id_attr) else {
            continue;
        };
        if e.texts("objectClass")
            .any(|c| c.eq_ignore_ascii_case("group"))
        {
            groups.push(id);
        } else if e
            .texts("objectClass")
            .any(|c| c.eq_ignore_ascii_case("user"))
        {
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

/// After an incremental read whose change search cannot see deletions:
/// list the ids when due, else remember what this run read.
fn find_deletions(r: &mut Reader, cfg: &Resolved) -> Result<(), String> {
    r.seen.finish();
    if deletions::due(cfg) {
        deletions::check(cfg, &r.seen)
    } else {
        deletions::remember_more(&r.seen);
        Ok(())
    }
}

trait DoneOrDefault {
    fn unwrap_or_default_done(self) -> SyncDone;
}

impl DoneOrDefault for Option<SyncDone> {
    fn unwrap_or_default_done(self) -> SyncDone {
        self.unwrap_or(SyncDone {
            cookie: None,
            deleted: Vec::new(),
            present: Vec::new(),
            present_phase: false,
        })
    }
}
