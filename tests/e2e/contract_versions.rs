//! Contract 0.1 plugins keep loading and working beside 0.2 ones: the
//! first-party plugins built for each contract (`target/plugins-v0.1/` and
//! `target/plugins/`, see scripts/build-plugins.sh) produce the same store.

use ldap_harness::{DirectorySpec, SlapdOptions};
use serde_json::Value;

use usersync_host::runtime::Runtime;

use crate::env::{built, TestEnv, CSV_SOURCE};
use crate::ldap_env::{ldaps, openldap_source, slapd_with};

const V0_1: &str = "plugins-v0.1";
const V0_2: &str = "plugins";

/// What a sync left in the store, without the ids and times that differ
/// between two installations.
async fn store_contents(env: &TestEnv) -> (Vec<Value>, Vec<Value>) {
    let host = env.host().await;
    let strip = |mut v: Value| {
        let obj = v.as_object_mut().unwrap();
        obj.retain(|k, _| k != "id" && !k.ends_with("_at"));
        v
    };
    let mut users: Vec<Value> = host
        .store
        .users(None)
        .await
        .unwrap()
        .into_iter()
        .map(|u| strip(serde_json::to_value(u).unwrap()))
        .collect();
    users.sort_by_key(|u| u["username"].to_string());
    let mut groups: Vec<Value> = host
        .store
        .groups(None)
        .await
        .unwrap()
        .into_iter()
        .map(|g| strip(serde_json::to_value(g).unwrap()))
        .collect();
    groups.sort_by_key(|g| g["name"].to_string());
    (users, groups)
}

fn csv_env(folder: &str) -> TestEnv {
    TestEnv::new(
        &[(folder, "csv"), (folder, "default-mapper")],
        &format!("connector = \"csv\"\nmappers = [\"default-mapper\"]\n[jobs.grants]\ninput_dir = \"data\"\n{CSV_SOURCE}"),
    )
}

#[test]
fn both_contracts_load_and_say_which_they_are() {
    let env = TestEnv::csv();
    let rt = Runtime::new(&env.dir.path().join("cache")).unwrap();
    for (folder, version) in [(V0_1, "0.1.0"), (V0_2, "0.2.0")] {
        for name in ["csv", "ldap", "default-mapper"] {
            let plugin = rt.load(&built(folder, name)).unwrap();
            assert_eq!(plugin.wit_version, version, "{folder}/{name}");
        }
    }
}

#[tokio::test]
async fn csv_and_default_mapper_0_1_and_0_2_make_the_same_store() {
    let people = "id,uid,givenName,sn,mail,active,groups
1,ada,Ada,Lovelace,ada@example.com,true,Staff;Admins
2,grace,Grace,Hopper,grace@example.com,false,Staff
3,zoë,Zoë,Ångström,zoe@example.com,true,Staff;Équipe
";
    let (old, new) = (csv_env(V0_1), csv_env(V0_2));
    for env in [&old, &new] {
        env.write_csv(people);
        let report = env.sync().await.unwrap();
        assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    }
    let (want, got) = (store_contents(&old).await, store_contents(&new).await);
    assert_eq!(want.0.len(), 2);
    assert_eq!(want, got);
}

#[tokio::test(flavor = "multi_thread")]
async fn ldap_and_default_mapper_0_1_and_0_2_make_the_same_store() {
    let spec = DirectorySpec::new(60, 12, 5);
    let slapd = slapd_with(&spec, SlapdOptions::default());
    let env_for = |folder: &str| {
        let env = TestEnv::new(
            &[(folder, "ldap"), (folder, "default-mapper")],
            "connector = \"ldap\"\nmappers = [\"default-mapper\"]\n",
        );
        env.set_job("ldap", ldaps(&slapd));
        env.set_job("source", openldap_source(&slapd));
        env.raise_limits();
        env
    };
    let (old, new) = (env_for(V0_1), env_for(V0_2));
    for env in [&old, &new] {
        let report = env.sync().await.unwrap();
        assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
        assert_eq!(report.read.users, 60);
    }
    let (want, got) = (store_contents(&old).await, store_contents(&new).await);
    assert!(!want.1.is_empty());
    assert_eq!(want, got);
}
