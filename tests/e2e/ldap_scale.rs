//! The ldap connector streams: a group bigger than one `put-members` chunk
//! (10,000) syncs whole under the smallest plugin memory limit, and an
//! incremental content-sync run re-sends only the changed group and the
//! groups its change reaches (its ancestors and their subgroups) correctly.

use std::collections::BTreeSet;

use ldap_harness::{write_directory, DirectoryPlan, DirectorySpec, Slapd, SlapdOptions};
use serde_json::json;

use crate::ldap_env::{group_sizes, openldap_env, openldap_source};

/// Effective user members of group `j` (nested resolved), disabled users
/// included (they are never created, so no store group counts them).
fn effective(plan: &DirectoryPlan, j: usize, out: &mut BTreeSet<u32>) {
    out.extend(&plan.members[j]);
    for &s in &plan.subgroups[j] {
        effective(plan, s as usize, out);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_big_group_streams_under_a_small_memory_limit_and_changes_send_few_groups() {
    // Group 0 holds half the users: 12,000 members, more than one chunk.
    let spec = DirectorySpec::new(24_000, 40, 5).with_memberof(true);
    let plan = spec.plan();
    let dir = tempfile::tempdir().unwrap();
    let ldif = dir.path().join("directory.ldif");
    write_directory(&ldif, &spec).unwrap();
    let slapd = Slapd::start(
        SlapdOptions::default()
            .syncprov(true)
            .syncprov_sessionlog(Some(10_000))
            .load_ldif_offline(&ldif),
    )
    .expect("slapd starts with the generated directory");
    let mut source = openldap_source(&slapd);
    source["page_size"] = json!(500);
    let env = openldap_env(&slapd, source);
    env.edit(|doc| {
        let limits = doc["limits"].as_table_mut().unwrap();
        limits.insert("memory_mb".into(), 16.into());
        // 500 generated users are a packed batch of ~1.1 MiB.
        limits.insert("max_output_kb".into(), 4096.into());
    });

    let first = env.sync().await.unwrap();
    assert_eq!(first.run.outcome, "succeeded", "{:?}", first.run.message);
    assert!(env.cursor().await.unwrap().contains("content-sync"));
    let disabled: BTreeSet<u32> = (0..spec.users as u32)
        .filter(|&u| spec.user(u as usize).disabled)
        .collect();
    let sizes = group_sizes(&env).await;
    for j in 0..spec.groups {
        let mut want = BTreeSet::new();
        effective(&plan, j, &mut want);
        let enabled = want.difference(&disabled).count();
        assert_eq!(sizes[&spec.group_cn(j)], enabled as i64, "group {j}");
    }
    assert!(sizes[&spec.group_cn(0)] > 10_000, "{sizes:?}");

    // A user joins a nested group: it and its parent change, nothing else.
    let (parent, child) = (0..spec.groups)
        .find_map(|p| plan.subgroups[p].first().map(|&c| (p, c as usize)))
        .expect("the generator nests groups");
    let mut in_parent = BTreeSet::new();
    effective(&plan, parent, &mut in_parent);
    let newcomer = (0..spec.users as u32)
        .find(|u| !in_parent.contains(u) && !disabled.contains(u))
        .expect("a user outside the parent");
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n",
            spec.group_dn(child),
            spec.user(newcomer as usize).dn
        ))
        .unwrap();
    let second = env.sync().await.unwrap();
    assert_eq!(second.run.mode, "incremental");
    assert_eq!(second.run.outcome, "succeeded", "{:?}", second.run.message);
    // The memberof overlay changes the newcomer too, so its groups (and
    // what they reach) are sent as well: no bound on the count here.
    let after = group_sizes(&env).await;
    for j in [parent, child] {
        let name = spec.group_cn(j);
        assert_eq!(after[&name], sizes[&name] + 1, "group {j}");
    }

    // A full run agrees with what the incremental one built.
    let full = env.sync_full().await.unwrap();
    let c = full.plan.counts();
    assert_eq!((c.created, c.updated, c.deactivated), (0, 0, 0), "{c:?}");
    assert!(
        full.plan.memberships.is_empty(),
        "{:?}",
        full.plan.memberships.len()
    );
}
