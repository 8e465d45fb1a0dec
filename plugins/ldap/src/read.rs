//! Full reads. Users first, then groups with their direct members (the
//! engine resolves nesting; groups.rs); the cursor is checkpointed last,
//! so the host commits it with the data it covers. Incremental reads are
//! in changes.rs.
//!
//! A read streams: what it keeps per user is bounded (the username cache
//! for posixGroup `memberUid` stops growing at [`UID_CACHE`]; ids for the
//! deletion check only when the change search cannot see deletions, 16
//! bytes each), and a group's members go out in chunks.

use std::collections::HashMap;

use usersync_sdk::host::ldap::{EntryRef, SyncRequest};
use usersync_sdk::host::target;
use usersync_sdk::{log, ObjectKind, ReadSummary, SourceObject};

use crate::changed::ChangedUsers;
use crate::config::{Incremental, Resolved};
use crate::cursor::{hex, Cursor};
use crate::deletions::{self, Seen};
use crate::graph::Graph;
use crate::server::Server;
use crate::user::{self, Users};
use crate::{dn, entries, search};

pub const BATCH: usize = 500;
/// Most usernames remembered for posixGroup `memberUid` (the rest are
/// looked up by searching).
pub const UID_CACHE: usize = 100_000;
/// Matches no entry: a content-sync search with it only fetches a cookie.
/// The negation makes sure of that; the first term makes it cheap, as the
/// server finds no candidate in its objectClass index instead of testing
/// every entry under the base (0.15 s and 0.3 CPU-seconds of slapd's for
/// 100k users, at the start of every full run).
const NOTHING: &str = "(&(objectClass=usersyncMatchesNothing)(!(objectClass=*)))";
/// Active Directory: return deleted objects (tombstones) too.
pub const SHOW_DELETED_OID: &str = "1.2.840.113556.1.4.417";

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
    pub users: u64,
    pub groups: u64,
    pub batch: Vec<SourceObject>,
    /// Members of the groups in `batch`.
    pub batch_members: usize,
    /// username (lowercase) -> user ref, for posixGroup `memberUid`; at
    /// most [`UID_CACHE`] of them.
    pub uid_refs: HashMap<String, String>,
    /// The last runs saw no group with `memberUid` (`member_attrs.rs`):
    /// `uid_refs` is not filled while users are read (a posixGroup new
    /// since then finds its members by searching).
    pub no_uid_cache: bool,
    /// Newest modification time seen, for the timestamp cursor.
    pub newest: Option<String>,
    /// Ids sent, for the deletion check (when `seen.tracking`).
    pub seen: Seen,
    /// Active Directory: primaryGroupID (a group's RID) -> user refs. A
    /// user's primary group does not list it in `member`.
    pub primary: HashMap<u32, Vec<String>>,
    /// `primary` holds every user in scope (a full read), not only changed ones.
    pub primary_complete: bool,
    /// The group-in-group graph this read keeps (content sync only).
    pub graph: Option<Graph>,
    /// The member attributes of the groups read (`member_attrs.rs`).
    pub member_attrs: u8,
    /// Content sync: the users read, whose groups may go again.
    pub changed_users: Option<ChangedUsers>,
    /// Builds the user records (set up at the first one).
    pub user_builder: Option<Users>,
    /// Member strings of groups already sent, reused for the next members
    /// (about [`SPARE_MEMBERS`], plus a `put-members` chunk): a read of
    /// 480,000 memberships allocated and freed a string for each.
    pub spare_members: Vec<String>,
}

/// The most member strings kept for reuse: a batch's worth.
const SPARE_MEMBERS: usize = 32_768;

impl Reader {
    /// When this read keeps a group graph (content sync): save it, with
    /// the member attributes its groups used added to `known`.
    pub fn save_group_state(&self, known: u8) {
        if let Some(graph) = &self.graph {
            graph.save();
            crate::member_attrs::save(known | self.member_attrs);
        }
    }

    pub fn summary(&self) -> ReadSummary {
        ReadSummary {
            users: self.users,
            groups: self.groups,
            complete: true,
        }
    }

    pub fn flush(&mut self, kind: ObjectKind) -> Result<(), String> {
        if self.batch.is_empty() {
            return Ok(());
        }
        match kind {
            ObjectKind::User => target::put_users(&self.batch),
            ObjectKind::Group => target::put_groups(&self.batch),
        }
        .map_err(|e| format!("the host refused a batch: {e}"))?;
        match (kind, self.user_builder.as_mut()) {
            // Sent users are kept to build the next ones in.
            (ObjectKind::User, Some(users)) => users.recycle(&mut self.batch),
            _ => {
                for group in self.batch.drain(..) {
                    let room = SPARE_MEMBERS.saturating_sub(self.spare_members.len());
                    self.spare_members
                        .extend(group.members.into_iter().take(room));
                }
            }
        }
        self.batch_members = 0;
        Ok(())
    }

    /// Build and batch the user `e`.
    pub fn add_user(&mut self, e: EntryRef<'_>, cfg: &Resolved) -> Result<(), String> {
        if let Some(m) = e.first_text(&cfg.modified_attr) {
            if self.newest.as_deref().is_none_or(|n| m > n) {
                self.newest = Some(m.to_string());
            }
        }
        let rid = primary_group_id(e, cfg);
        let users = self.user_builder.get_or_insert_with(|| Users::new(cfg));
        match users.build(e, cfg) {
            Ok(u) => {
                self.seen.user(&u.id);
                if let Some(changed) = self.changed_users.as_mut() {
                    changed.push(&u.id, user::dn_of(&u), u.text("username"));
                }
                if let Some(rid) = rid {
                    self.primary.entry(rid).or_default().push(u.ref_key.clone());
                }
                if !cfg.is_ad() && !self.no_uid_cache && self.uid_refs.len() < UID_CACHE {
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
            Err(why) => target::reject(e.dn(), &why),
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
    pub fn load_primary_groups(&mut self, cfg: &Resolved) -> Result<(), String> {
        self.primary.clear();
        let req = search::request(
            cfg,
            &cfg.users_base,
            &cfg.user_filter,
            vec!["primaryGroupID".into()],
        );
        search::each_page(&req, |page| {
            for e in page.iter() {
                if let Some(rid) = primary_group_id(e, cfg) {
                    self.primary
                        .entry(rid)
                        .or_default()
                        .push(dn::normalize(e.dn()));
                }
            }
            Ok(())
        })?;
        self.primary_complete = true;
        Ok(())
    }
}

fn primary_group_id(e: EntryRef<'_>, cfg: &Resolved) -> Option<u32> {
    if !cfg.is_ad() {
        return None;
    }
    e.first_text("primaryGroupID")?.parse().ok()
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
    // Only a change search that cannot see deletions needs the ids.
    r.seen.tracking = match cursor {
        Cursor::Timestamp { .. } => true,
        Cursor::Usn { .. } => !tombstones_readable(cfg, server),
        _ => false,
    };
    if matches!(cursor, Cursor::ContentSync { .. }) {
        r.graph = Some(Graph::default());
        // Only content sync keeps the member attributes in the state.
        r.no_uid_cache = crate::member_attrs::load() & crate::member_attrs::MEMBER_UID == 0;
    }
    // The username cache serves posixGroup `memberUid` only: not kept
    // unless the server has such a group (Active Directory keeps none).
    if !r.no_uid_cache && !cfg.is_ad() {
        r.no_uid_cache = !crate::member_attrs::any_member_uid(cfg)?;
    }
    r.all_users(cfg)?;
    r.all_groups(cfg)?;
    if let Cursor::Timestamp { since } = &mut cursor {
        *since = r.newest.clone().unwrap_or_default();
    }
    if r.seen.tracking {
        r.seen.finish();
        deletions::remember_full(&r.seen);
    }
    r.save_group_state(0);
    target::checkpoint(&cursor.to_text())?;
    Ok(r.summary())
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
            .iter()
            .next()
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
