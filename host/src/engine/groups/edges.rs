//! Looking up every group's member refs: which are groups, which are users.
//!
//! At 100k users a read names ~480k members, each looked up in maps too
//! large for the CPU's cache, so this is one of planning's largest steps.
//! Planning runs after the read, when the connector and the directory no
//! longer need the CPU, so the members are split evenly across the
//! machine's cores, a large group's among several.

use std::thread;

use super::super::FastMap;

/// Below this many members one thread does it all: spawning costs more.
const PARALLEL_FROM: usize = 20_000;
/// More threads than this gain little: the lookups wait on memory.
const MAX_THREADS: usize = 4;

/// Child groups and direct users of each group, in the order of `lists`.
type Edges = (Vec<Vec<usize>>, Vec<Vec<u32>>);
/// A piece's list index, with the child groups and users found in it.
type PieceEdges = (usize, Vec<usize>, Vec<u32>);

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
    let chunks = pieces(lists, total.div_ceil(threads));
    let done: Vec<Vec<PieceEdges>> = thread::scope(|s| {
        let running: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(|| {
                    let each = chunk.iter().map(|&(list, members)| {
                        let (groups, users) = one(members);
                        (list, groups, users)
                    });
                    each.collect::<Vec<_>>()
                })
            })
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    // Pieces come in list order: each starts a list or continues the last.
    let (mut groups, mut users): Edges = (
        Vec::with_capacity(lists.len()),
        Vec::with_capacity(lists.len()),
    );
    for (list, g, u) in done.into_iter().flatten() {
        if list == groups.len() {
            groups.push(g);
            users.push(u);
        } else {
            groups[list].extend(g);
            users[list].extend(u);
        }
    }
    (groups, users)
}

/// A run of one list's members: the list's index and the members.
type Piece<'s> = (usize, &'s [String]);

/// `lists` cut into consecutive chunks of `per` members (the last fewer),
/// a large list split across chunks: one 50k-member group would otherwise
/// leave a thread with most of an incremental run's lookups. Every list
/// has at least one piece, even an empty one.
fn pieces<'s>(lists: &[&'s [String]], per: usize) -> Vec<Vec<Piece<'s>>> {
    let per = per.max(1);
    let (mut chunks, mut chunk, mut room) = (Vec::new(), Vec::new(), per);
    for (i, &list) in lists.iter().enumerate() {
        let mut rest = list;
        loop {
            let (now, later) = rest.split_at(rest.len().min(room));
            chunk.push((i, now));
            room -= now.len();
            rest = later;
            if room == 0 {
                chunks.push(std::mem::take(&mut chunk));
                room = per;
            }
            if rest.is_empty() {
                break;
            }
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs<V: Copy>(pairs: &[(&'static str, V)]) -> FastMap<&'static str, V> {
        pairs.iter().copied().collect()
    }

    /// Each name's user number: its place in `names`.
    fn numbered(names: &[String]) -> FastMap<&str, u32> {
        (names.iter().enumerate())
            .map(|(i, n)| (n.as_str(), i as u32))
            .collect()
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
        let users = numbered(&names);
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
    fn pieces_cover_every_member_once_in_order_and_split_large_lists() {
        let big = strings(10, |i| format!("b{i}"));
        let small = strings(1, |i| format!("s{i}"));
        let none: Vec<String> = Vec::new();
        let lists: Vec<&[String]> = vec![&big, &small, &none, &big, &small, &big];
        let chunks = pieces(&lists, 12);
        assert!(chunks
            .iter()
            .all(|c| c.iter().map(|p| p.1.len()).sum::<usize>() <= 12));
        assert_eq!(chunks.len(), 3, "33 members in chunks of 12");
        let mut seen: Vec<Vec<String>> = vec![Vec::new(); lists.len()];
        let mut last = 0;
        for &(list, members) in chunks.iter().flatten() {
            assert!(list == last || list == last + 1, "in list order");
            last = list;
            seen[list].extend_from_slice(members);
        }
        let want: Vec<Vec<String>> = lists.iter().map(|l| l.to_vec()).collect();
        assert_eq!(seen, want);
        assert_eq!(pieces(&[], 5).len(), 0);
    }

    #[test]
    fn one_large_list_split_across_threads_comes_back_whole() {
        let names = strings(30_000, |i| format!("uid=u{i}"));
        let users = numbered(&names);
        let groups = refs(&[("cn=child", 3)]);
        let mut big = names.clone();
        big.insert(20_000, "cn=child".into());
        let small = vec!["uid=u7".to_string()];
        let slices: Vec<&[String]> = vec![&small, &big, &small];
        let (child, direct) = on_threads(&slices, &groups, &|r| users.get(r).copied(), 3);
        assert_eq!(child, vec![vec![], vec![3], vec![]]);
        assert_eq!(direct[0], vec![7]);
        assert_eq!(direct[1], (0..30_000).collect::<Vec<u32>>());
        assert_eq!(direct[2], vec![7]);
    }
}
