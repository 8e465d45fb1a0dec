//! The group-in-group graph, kept in the plugin's state between runs so an
//! incremental run re-sends only the groups a change reaches.
//!
//! The engine resolves nesting within one read: a group it gets must come
//! with every group under it. So when a group changes, its ancestors'
//! effective members change too, and each of those needs its whole subtree
//! sent again: [`Graph::affected`].
//!
//! Compact: a node is a group's entryUUID (16 bytes), a 64-bit hash of its
//! normalized DN (what a parent's `member` value names) and its child
//! groups. 50k groups take about 1.5 MB. A hash collision can only add an
//! edge, which sends more groups, never fewer.

use std::collections::HashMap;

use usersync_sdk::host::state;

use crate::bytes::Bytes;
use crate::ids::uuid_bytes;

const KEY: &str = "group-graph";
const FORMAT: u8 = 1;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Graph {
    uuids: Vec<[u8; 16]>,
    dns: Vec<u64>,
    children: Vec<Vec<u32>>,
    by_uuid: HashMap<[u8; 16], u32>,
    by_dn: HashMap<u64, u32>,
}

/// FNV-1a: stable across builds (the hashes are stored).
pub fn dn_hash(normalized_dn: &str) -> u64 {
    normalized_dn.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Graph {
    pub fn len(&self) -> usize {
        self.uuids.len()
    }

    /// Add a group (or rename it: its DN hash is replaced); its index.
    /// `None` for an id that is not a UUID (no graph is kept then).
    pub fn node(&mut self, id: &str, normalized_dn: &str) -> Option<u32> {
        let uuid = uuid_bytes(id)?;
        let dn = dn_hash(normalized_dn);
        let Some(&i) = self.by_uuid.get(&uuid) else {
            return Some(self.push(uuid, dn));
        };
        let old = std::mem::replace(&mut self.dns[i as usize], dn);
        if self.by_dn.get(&old) == Some(&i) {
            self.by_dn.remove(&old);
        }
        self.by_dn.insert(dn, i);
        Some(i)
    }

    pub fn index(&self, id: &str) -> Option<u32> {
        self.by_uuid.get(&uuid_bytes(id)?).copied()
    }

    /// The group a member's normalized DN names, if it is one.
    pub fn group_named(&self, normalized_dn: &str) -> Option<u32> {
        self.by_dn.get(&dn_hash(normalized_dn)).copied()
    }

    pub fn id(&self, i: u32) -> String {
        crate::ids::uuid_text(&self.uuids[i as usize])
    }

    /// Replace a group's child groups (after reading its members).
    pub fn set_children(&mut self, i: u32, mut children: Vec<u32>) {
        children.sort_unstable();
        children.dedup();
        self.children[i as usize] = children;
    }

    /// Parents of each group.
    fn parents(&self) -> Vec<Vec<u32>> {
        let mut parents = vec![Vec::new(); self.len()];
        for (p, children) in self.children.iter().enumerate() {
            for &c in children {
                parents[c as usize].push(p as u32);
            }
        }
        parents
    }

    /// The groups an incremental read must send when `changed` changed:
    /// those and their ancestors, each with every group under it.
    pub fn affected(&self, changed: &[u32]) -> Vec<bool> {
        let parents = self.parents();
        let mut up = vec![false; self.len()];
        walk(changed, &mut up, |g| &parents[g as usize]);
        let tops: Vec<u32> = (0..self.len() as u32).filter(|&g| up[g as usize]).collect();
        self.below(&tops, up)
    }

    /// `marked` plus every group under `from`.
    pub fn below(&self, from: &[u32], mut marked: Vec<bool>) -> Vec<bool> {
        marked.resize(self.len(), false);
        let mut seen = vec![false; self.len()];
        walk(from, &mut seen, |g| &self.children[g as usize]);
        for (m, s) in marked.iter_mut().zip(seen) {
            *m |= s;
        }
        marked
    }

    /// Drop deleted groups; returns their parents (whose members changed).
    pub fn remove(&mut self, ids: &[String]) -> Vec<u32> {
        let gone: Vec<u32> = ids.iter().filter_map(|id| self.index(id)).collect();
        if gone.is_empty() {
            return Vec::new();
        }
        let parents = self.parents();
        let mut dead = vec![false; self.len()];
        gone.iter().for_each(|&g| dead[g as usize] = true);
        let hit: Vec<u32> = gone
            .iter()
            .flat_map(|&g| parents[g as usize].iter().copied())
            .filter(|&p| !dead[p as usize])
            .collect();
        // Renumber without the dead ones.
        let mut keep = Graph::default();
        let mut new_index = vec![u32::MAX; self.len()];
        for i in 0..self.len() {
            if !dead[i] {
                new_index[i] = keep.push(self.uuids[i], self.dns[i]);
            }
        }
        for i in (0..self.len()).filter(|&i| !dead[i]) {
            keep.children[new_index[i] as usize] = self.children[i]
                .iter()
                .map(|&c| new_index[c as usize])
                .filter(|&c| c != u32::MAX)
                .collect();
        }
        *self = keep;
        hit.into_iter().map(|p| new_index[p as usize]).collect()
    }

    fn push(&mut self, uuid: [u8; 16], dn: u64) -> u32 {
        let i = self.uuids.len() as u32;
        self.uuids.push(uuid);
        self.dns.push(dn);
        self.children.push(Vec::new());
        self.by_uuid.insert(uuid, i);
        self.by_dn.insert(dn, i);
        i
    }

    pub fn encode(&self) -> Vec<u8> {
        let edges: usize = self.children.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(5 + self.len() * 28 + edges * 4);
        out.push(FORMAT);
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        for i in 0..self.len() {
            out.extend_from_slice(&self.uuids[i]);
            out.extend_from_slice(&self.dns[i].to_le_bytes());
            out.extend_from_slice(&(self.children[i].len() as u32).to_le_bytes());
            for c in &self.children[i] {
                out.extend_from_slice(&c.to_le_bytes());
            }
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Graph> {
        let mut r = Bytes::new(b);
        if r.take(1)?[0] != FORMAT {
            return None;
        }
        let n = r.u32()?;
        let mut g = Graph::default();
        for _ in 0..n {
            let uuid: [u8; 16] = r.take(16)?.try_into().ok()?;
            let dn = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
            let i = g.push(uuid, dn) as usize;
            let k = r.u32()?;
            g.children[i] = (0..k).map(|_| r.u32()).collect::<Option<_>>()?;
        }
        let bad = g.children.iter().flatten().any(|&c| c >= n);
        (r.is_empty() && !bad).then_some(g)
    }

    /// The graph the last run left, if it left one this build can read.
    pub fn load() -> Option<Graph> {
        Graph::decode(&state::get(KEY)?)
    }

    pub fn save(&self) {
        state::set(KEY, &self.encode());
    }

    /// No graph (ids that are not UUIDs): the next incremental run
    /// re-reads every group.
    pub fn forget() {
        state::delete(KEY);
    }
}

fn walk<'a>(from: &[u32], seen: &mut [bool], next: impl Fn(u32) -> &'a Vec<u32>) {
    let mut stack: Vec<u32> = from.to_vec();
    while let Some(g) = stack.pop() {
        if std::mem::replace(&mut seen[g as usize], true) {
            continue;
        }
        stack.extend(next(g).iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> String {
        format!("00000000-0000-0000-0000-0000000000{n:02x}")
    }

    /// 0 <- 1 <- 2 (2 is in 1, 1 is in 0); 3 in 0; 4 alone.
    fn sample() -> Graph {
        let mut g = Graph::default();
        for n in 0..5 {
            g.node(&id(n), &format!("cn=g{n},dc=x")).unwrap();
        }
        g.set_children(0, vec![1, 3]);
        g.set_children(1, vec![2]);
        g
    }

    fn marked(v: &[bool]) -> Vec<u32> {
        (0..v.len() as u32).filter(|&i| v[i as usize]).collect()
    }

    #[test]
    fn a_change_reaches_its_ancestors_and_their_subtrees() {
        let g = sample();
        assert_eq!(marked(&g.affected(&[2])), vec![0, 1, 2, 3]);
        assert_eq!(marked(&g.affected(&[3])), vec![0, 1, 2, 3]);
        assert_eq!(marked(&g.affected(&[4])), vec![4]);
        assert_eq!(marked(&g.affected(&[1])), vec![0, 1, 2, 3]);
        assert_eq!(g.group_named("cn=g2,dc=x"), Some(2));
        assert_eq!(g.group_named("cn=nobody,dc=x"), None);
    }

    #[test]
    fn graphs_round_trip_and_renames_move_the_dn() {
        let mut g = sample();
        assert_eq!(Graph::decode(&g.encode()), Some(g.clone()));
        assert_eq!(g.node(&id(2), "cn=renamed,dc=x"), Some(2));
        assert_eq!(g.group_named("cn=g2,dc=x"), None);
        assert_eq!(g.group_named("cn=renamed,dc=x"), Some(2));
        assert!(g.node("not-a-uuid", "cn=x").is_none());
        assert!(Graph::decode(&[1, 1, 0, 0, 0]).is_none());
    }

    #[test]
    fn removing_a_group_names_its_parents() {
        let mut g = sample();
        let hit = g.remove(&[id(1)]);
        assert_eq!(g.len(), 4);
        assert_eq!(
            hit.iter().map(|&p| g.id(p)).collect::<Vec<_>>(),
            vec![id(0)]
        );
        // 0 keeps 3; 2 is alone now.
        let three = g.index(&id(3)).unwrap();
        assert_eq!(marked(&g.affected(&[three])), vec![0, 2]);
        let two = g.index(&id(2)).unwrap();
        assert_eq!(marked(&g.affected(&[two])), vec![g.index(&id(2)).unwrap()]);
    }
}
