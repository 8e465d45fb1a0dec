//! Groups, sent as they are read, page by page. A group's members are
//! normalized one at a time out of its entry; past [`CHUNK`] of them they
//! go ahead of the group through `put-members` (the host adds them to the
//! group), so the largest group costs the plugin its entry and one chunk.

use std::collections::HashMap;

use usersync_sdk::host::ldap::{EntryRef, Page};
use usersync_sdk::host::target;
use usersync_sdk::ObjectKind;

use crate::config::{Resolved, GROUP_DN_MACRO};
use crate::graph::Graph;
use crate::read::{Reader, BATCH, UID_CACHE};
use crate::{dn, entries, search};

/// Members per `put-members` call for a group bigger than this.
pub const CHUNK: usize = 10_000;
/// A batch of groups goes out once it holds this many members.
const BATCH_MEMBERS: usize = 20_000;
/// Ids per search when reading chosen groups.
const IDS_PER_SEARCH: usize = 100;

/// The members of the group being read.
struct Members<'a> {
    group_id: &'a str,
    refs: Vec<String>,
    /// Set when the graph is kept: the member DNs that name groups.
    graph: Option<&'a Graph>,
    /// The groups base, normalized: a member outside it is no group read.
    groups_base: &'a str,
    children: Vec<u32>,
    /// Strings of members already sent, to normalize the next ones into.
    spare: Vec<String>,
}

impl Members<'_> {
    /// Push the member DN `raw`, normalized into a spare string.
    fn push_dn(&mut self, raw: &str) -> Result<(), String> {
        let mut member = self.spare.pop().unwrap_or_default();
        dn::normalize_into(&mut member, raw);
        self.push(member)
    }

    fn push(&mut self, member: String) -> Result<(), String> {
        let group = self
            .graph
            .filter(|_| dn::is_under(&member, self.groups_base));
        if let Some(child) = group.and_then(|g| g.group_named(&member)) {
            self.children.push(child);
        }
        self.refs.push(member);
        if self.refs.len() >= CHUNK {
            target::put_members(self.group_id, &self.refs)
                .map_err(|e| format!("the host refused a group's members: {e}"))?;
            self.spare.append(&mut self.refs);
        }
        Ok(())
    }
}

impl Reader {
    /// Every group, with its members.
    pub fn all_groups(&mut self, cfg: &Resolved) -> Result<(), String> {
        if cfg.is_ad() && !self.primary_complete {
            self.load_primary_groups(cfg)?;
        }
        if self.graph.is_some() {
            self.name_groups(cfg)?;
        }
        let req = search::request(
            cfg,
            &cfg.groups_base,
            &cfg.group_filter,
            cfg.group_attributes(),
        );
        search::each_page(&req, |page| self.send_groups(page, cfg))?;
        self.flush(ObjectKind::Group)
    }

    /// A new graph with every group in it (ids and DNs only), so a member
    /// DN read later is known to name a group.
    fn name_groups(&mut self, cfg: &Resolved) -> Result<(), String> {
        let mut graph = Some(Graph::default());
        let mut req = search::request(
            cfg,
            &cfg.groups_base,
            &cfg.group_filter,
            vec![cfg.id_attr.clone()],
        );
        req.page_size = req.page_size.max(1000);
        search::each_page(&req, |page| {
            for e in page.iter() {
                let id = entries::id_of(e, &cfg.id_attr);
                let known = match (graph.as_mut(), id) {
                    (Some(g), Some(id)) => g.node(&id, &dn::normalize(e.dn())).is_some(),
                    _ => true, // no id: rejected when read
                };
                if !known {
                    graph = None; // ids that are not UUIDs
                }
            }
            Ok(())
        })?;
        self.set_graph(graph);
        Ok(())
    }

    /// Keep `graph`, or none (then the state forgets the last one).
    pub fn set_graph(&mut self, graph: Option<Graph>) {
        if graph.is_none() && self.graph.is_some() {
            Graph::forget();
        }
        self.graph = graph;
    }

    /// The groups `which` of the graph (their ids, a search per
    /// [`IDS_PER_SEARCH`]).
    pub fn groups_by_id(&mut self, cfg: &Resolved, which: &[u32]) -> Result<(), String> {
        let Some(graph) = &self.graph else {
            return Ok(());
        };
        let ids: Vec<String> = which.iter().map(|&i| graph.id(i)).collect();
        for chunk in ids.chunks(IDS_PER_SEARCH) {
            let any: String = chunk
                .iter()
                .map(|id| format!("({}={})", cfg.id_attr, dn::filter_escape(id)))
                .collect();
            let filter = format!("(&{}(|{any}))", cfg.group_filter);
            let req = search::request(cfg, &cfg.groups_base, &filter, cfg.group_attributes());
            search::each_page(&req, |page| self.send_groups(page, cfg))?;
        }
        Ok(())
    }

    fn send_groups(&mut self, page: &Page, cfg: &Resolved) -> Result<(), String> {
        let groups_base = dn::normalize(&cfg.groups_base);
        for e in page.iter() {
            let Some(id) = entries::id_of(e, &cfg.id_attr) else {
                let why = format!(
                    "group {} has no {} (the immutable id); check source.attributes.id",
                    e.dn(),
                    cfg.id_attr
                );
                target::reject(e.dn(), &why);
                continue;
            };
            let had_graph = self.graph.is_some();
            let mut graph = self.graph.take();
            let node = graph
                .as_mut()
                .and_then(|g| g.node(&id, &dn::normalize(e.dn())));
            if node.is_none() {
                graph = None; // an id that is not a UUID: no graph
            }
            let mut m = Members {
                group_id: &id,
                refs: Vec::new(),
                graph: graph.as_ref(),
                groups_base: &groups_base,
                children: Vec::new(),
                spare: std::mem::take(&mut self.spare_members),
            };
            let read = self.members_of(e, cfg, &mut m);
            let (refs, children) = (m.refs, m.children);
            self.spare_members = m.spare;
            if let (Some(g), Some(node)) = (graph.as_mut(), node) {
                g.set_children(node, children);
            }
            if had_graph && graph.is_none() {
                Graph::forget();
            }
            self.graph = graph;
            read?;
            match entries::group(e, cfg, refs) {
                Ok(g) => {
                    self.seen.group(&g.id);
                    self.groups += 1;
                    self.batch_members += g.members.len();
                    self.batch.push(g);
                    if self.batch.len() >= BATCH || self.batch_members >= BATCH_MEMBERS {
                        self.flush(ObjectKind::Group)?;
                    }
                }
                Err(why) => target::reject(e.dn(), &why),
            }
        }
        Ok(())
    }

    fn members_of(
        &mut self,
        e: EntryRef<'_>,
        cfg: &Resolved,
        m: &mut Members,
    ) -> Result<(), String> {
        if let Some(filter) = &cfg.group_member_filter {
            let filter = filter.replace(GROUP_DN_MACRO, &dn::filter_escape(e.dn()));
            let req = search::request(cfg, &cfg.users_base, &filter, vec!["1.1".into()]);
            search::each_page(&req, |page| page.iter().try_for_each(|f| m.push_dn(f.dn())))?;
        } else {
            self.member_attrs |= crate::member_attrs::of(e);
            let uids: Vec<&str> = e.texts("memberUid").collect();
            search::each_member(e, cfg, |member| m.push_dn(member))?;
            if !uids.is_empty() {
                self.resolve_uids(&uids, cfg, m)?;
            }
        }
        if let Some(users) = entries::rid(e).and_then(|rid| self.primary.get(&rid)) {
            users.iter().try_for_each(|u| m.push(u.clone()))?;
        }
        Ok(())
    }

    /// posixGroup members are usernames: find their users' DNs (from this
    /// run's users, else by searching, 200 names a search).
    fn resolve_uids(
        &mut self,
        uids: &[&str],
        cfg: &Resolved,
        m: &mut Members,
    ) -> Result<(), String> {
        let username_attr = cfg
            .fields
            .iter()
            .find(|(f, _)| f == "username")
            .map_or("uid", |(_, a)| a.as_str())
            .to_string();
        for chunk in uids.chunks(200) {
            let mut found: HashMap<String, String> = HashMap::new();
            let unknown: Vec<&str> = chunk
                .iter()
                .filter(|u| !self.uid_refs.contains_key(&u.to_lowercase()))
                .copied()
                .collect();
            if !unknown.is_empty() {
                let any: String = unknown
                    .iter()
                    .map(|u| format!("({username_attr}={})", dn::filter_escape(u)))
                    .collect();
                let filter = format!("(&{}(|{any}))", cfg.user_filter);
                let req =
                    search::request(cfg, &cfg.users_base, &filter, vec![username_attr.clone()]);
                for e in search::all(&req)?.iter() {
                    if let Some(name) = e.first_text(&username_attr) {
                        found.insert(name.to_lowercase(), dn::normalize(e.dn()));
                    }
                }
            }
            for u in chunk {
                let key = u.to_lowercase();
                let known = self.uid_refs.get(&key).or_else(|| found.get(&key));
                if let Some(r) = known.cloned() {
                    m.push(r)?;
                }
            }
            if self.uid_refs.len() < UID_CACHE {
                self.uid_refs.extend(found);
            }
        }
        Ok(())
    }
}
