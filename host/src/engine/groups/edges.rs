//! Looking up every group's member refs: which are groups, which are users.
//!
//! At 100k users a read names ~480k members, each looked up in maps too
//! large for the CPU's cache, so this is one of planning's largest steps.
//! Planning runs after the read, when the connector and the directory no
//! longer need the CPU, so the groups are split by member count across the
//! machine's cores.

use std::thread;

use super::super::FastMap;

/// Below this many members one thread does it all: spawning costs more.
const PARALLEL_FROM: usize = 20_000;
/// More threads than this gain little: the lookups wait on memory.
const MAX_THREADS: usize = 4;

/// Child groups and direct users of each group, in the order of `lists`.
type Edges = (Vec<Vec<usize>>, Vec<Vec<u32>>);

/// Each list's members that are groups (index in `group_refs`) and users
/// (the number `user_of` gives); a ref naming a group is a group even if a
/// user has the same ref, and refs naming neither are skipped.
pub(super) fn of_members(
    lists: &[&[String]],
    group_refs: &FastMap<&str, usize>,
    user_of: &(impl Fn(&str) -> Option<u32> + Sync),
) -> Edges {
    let threads = thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_THREADS);
    on_threads(lists, group_refs, user_of, threads)
}

/// [`of_members`] on at most `threads` threads.
fn on_threads(
    lists: &[&[String]],
    group_refs: &FastMap<&str, usize>,
    user_of: &(impl Fn(&str) -> Option<u32> + Sync),
    threads: usize,
) -> Edges {
    let one = |members: &[String]| {
        let mut groups = Vec::new();
        let mut users = Vec::with_capacity(members.len());
        for m in members {
            if let Some(&child) = group_refs.get(m.as_str()) {
                groups.push(child);
            } else if let Some(u) = user_of(m) {
                users.push(u);
            }
        }
        (groups, users)
    };
    let total: usize = lists.iter().map(|l| l.len()).sum();
    if total < PARALLEL_FROM || threads < 2 {
        return lists.iter().map(|l| one(l)).unzip();
    }
    let chunks = balanced(lists, total.div_ceil(threads));
    thread::scope(|s| {
        let running: Vec<_> = chunks
            .iter()
            .map(|chunk| s.spawn(|| chunk.iter().map(|l| one(l)).collect::<Vec<_>>()))
            .collect();
        running
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .unzip()
    })
}

/// `lists` cut into consecutive runs of about `per` members each.
fn balanced<'l, 's>(lists: &'l [&'s [String]], per: usize) -> Vec<&'l [&'s [String]]> {
    let mut chunks = Vec::new();
    let (mut start, mut members) = (0, 0);
    for (i, l) in lists.iter().enumerate() {
        members += l.len();
        if members >= per {
            chunks.push(&lists[start..=i]);
            (start, members) = (i + 1, 0);
        }
    }
    if start < lists.len() {
        chunks.push(&lists[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs<V: Copy>(pairs: &[(&'static str, V)]) -> FastMap<&'static str, V> {
        pairs.iter().copied().collect()
    }

    fn strings(n: usize, name: impl Fn(usize) -> String) -> Vec<String> {
        (0..n).map(name).collect()
    }

    #[test]
    fn groups_win_over_users_and_unknown_refs_are_skipped() {
        let groups = refs(&[("cn=g", 7)]);
        let users = refs(&[("cn=g", 1), ("uid=a", 2)]);
        let members = vec!["cn=g".to_string(), "uid=a".into(), "uid=nobody".into()];
        let (child, direct) = of_members(&[&members], &groups, &|r| users.get(r).copied());
        assert_eq!(child, vec![vec![7]]);
        assert_eq!(direct, vec![vec![2]]);
    }

    #[test]
    fn split_across_threads_keeps_each_groups_edges_in_place() {
        let names = strings(30_000, |i| format!("uid=u{i}"));
        let users: FastMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as u32))
            .collect();
        let groups = FastMap::default();
        let lists: Vec<Vec<String>> = (0..50)
            .map(|g| names.iter().skip(g).step_by(40).cloned().collect())
            .collect();
        let slices: Vec<&[String]> = lists.iter().map(Vec::as_slice).collect();
        // Three threads whatever this machine has, so the split is tested.
        let (_, direct) = on_threads(&slices, &groups, &|r| users.get(r).copied(), 3);
        assert_eq!(direct.len(), 50);
        for (g, found) in direct.iter().enumerate() {
            let want: Vec<u32> = (g..30_000).step_by(40).map(|i| i as u32).collect();
            assert_eq!(found, &want, "group {g}");
        }
    }

    #[test]
    fn balanced_cuts_cover_every_list_once() {
        let big = strings(10, |i| i.to_string());
        let small = strings(1, |i| i.to_string());
        let lists: Vec<&[String]> = vec![&big, &small, &small, &big, &small, &big];
        let chunks = balanced(&lists, 12);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), lists.len());
        assert!(chunks.iter().all(|c| !c.is_empty()));
        assert_eq!(balanced(&[], 5).len(), 0);
    }
}
