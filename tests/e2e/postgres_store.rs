//! The store on a real PostgreSQL (a throwaway cluster, see ldap-harness),
//! whatever `USERSYNC_TEST_STORE` says: what only a server database can get
//! wrong (concurrent writers from several processes, connection failures).

use usersync_host::sync::{Host, SyncRequest};

use crate::env::TestEnv;
use crate::licensing::{licensed, two_jobs};

/// Two hosts (two connection pools, as two `usersync serve` nodes would
/// have) run one job each of a tenant at the same moment.
async fn sync_on_two_hosts(env: &TestEnv) -> Vec<usersync_host::sync::RunReport> {
    let (a, b) = (env.host().await, env.host().await);
    let run = |job: &str| SyncRequest {
        job: job.into(),
        ..Default::default()
    };
    let (people, contractors) = (run("people"), run("contractors"));
    let (x, y) = tokio::join!(a.sync(&people), b.sync(&contractors));
    vec![x.unwrap(), y.unwrap()]
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_on_one_postgres_never_assign_more_seats_than_the_tenant_has() {
    let env = two_jobs(300, "stop", 200);
    env.use_postgres();
    let reports = sync_on_two_hosts(&env).await;
    let mut outcomes: Vec<&str> = reports.iter().map(|r| r.run.outcome.as_str()).collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["stopped_by_license", "succeeded"],
        "{:?}",
        reports.iter().map(|r| &r.run.message).collect::<Vec<_>>()
    );
    assert_eq!(licensed(&env).await.len(), 200);
    assert_eq!(
        env.users().await.len(),
        200,
        "the stopped run applied nothing"
    );

    let env = two_jobs(300, "sync_without_license", 200);
    env.use_postgres();
    let reports = sync_on_two_hosts(&env).await;
    for r in &reports {
        assert_eq!(r.run.outcome, "succeeded", "{:?}", r.run.message);
    }
    assert_eq!(env.users().await.len(), 400, "everyone is synced");
    assert_eq!(licensed(&env).await.len(), 300, "but only 300 hold a seat");
}

/// The error opening the host with the env's config, as a person sees it.
async fn open_error(env: &TestEnv) -> String {
    match Host::open(env.config()).await {
        Ok(_) => panic!("the store opened"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_store_that_refuses_says_why_and_what_to_fix_without_the_password() {
    let env = TestEnv::csv();
    let good = env.use_postgres();

    // Wrong password.
    env.set_store_url(&good.replace(":usersync-test-password@", ":Wr0ngSecret@"));
    let e = open_error(&env).await;
    assert!(e.contains("store.url") && e.contains("password"), "{e}");
    assert!(!e.contains("Wr0ngSecret") && e.contains("***"), "{e}");

    // A database that does not exist.
    let (server, _) = good.rsplit_once('/').unwrap();
    env.set_store_url(&format!("{server}/no_such_database"));
    let e = open_error(&env).await;
    assert!(
        e.contains("does not exist") && e.contains("createdb"),
        "{e}"
    );
    assert!(!e.contains("usersync-test-password"), "{e}");

    // Nobody listening.
    let port = ldap_harness::unused_loopback_port();
    env.set_store_url(&format!(
        "postgres://usersync:usersync-test-password@127.0.0.1:{port}/x"
    ));
    let e = open_error(&env).await;
    assert!(
        e.contains("cannot be reached") && e.contains("host and port in store.url"),
        "{e}"
    );
    assert!(!e.contains("usersync-test-password"), "{e}");

    // And the right URL opens and syncs.
    env.set_store_url(&good);
    env.write_csv(
        "id,uid,givenName,sn,mail,active,groups\n1,ada,Ada,L,ada@example.com,true,Staff\n",
    );
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
}
