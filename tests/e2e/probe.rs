//! `test-connection` maps a sample of real records through the job's
//! mappers and says what a sync would get wrong before one runs.

use usersync_host::model::{Check, CheckStatus};

use crate::env::TestEnv;

fn sample(checks: &[Check]) -> Vec<&Check> {
    checks
        .iter()
        .filter(|c| c.stage == "sample records mapped")
        .collect()
}

#[tokio::test]
async fn a_mapping_that_yields_no_username_fails_the_connection_test_naming_the_attributes() {
    let env = TestEnv::csv();
    // No column the default username rules know (username, uid, mail, ...).
    env.write_csv(
        "id,login,givenName,active,groups\n1,ada,Ada,true,Staff\n2,grace,Grace,true,Staff\n",
    );
    let checks = env.test_connection().await;
    let sample = sample(&checks);
    assert_eq!(sample.len(), 1, "{checks:?}");
    assert_eq!(sample[0].status, CheckStatus::Failed, "{checks:?}");
    let detail = &sample[0].detail;
    assert!(
        detail.contains("every sampled record (2) was rejected")
            && detail.contains("[jobs.mapping]")
            && detail.contains("login"),
        "{detail}"
    );
    // A connection test never writes.
    let host = env.host().await;
    assert!(host.store.users(None).await.unwrap().is_empty());
    assert!(host.store.runs(None, None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_good_mapping_passes_with_an_example_username() {
    let env = TestEnv::csv();
    env.write_csv("id,uid,mail,active,groups\n1,ada,ada@example.com,true,Staff\n");
    let checks = env.test_connection().await;
    let sample = sample(&checks);
    assert_eq!(sample.len(), 1, "{checks:?}");
    assert_eq!(sample[0].status, CheckStatus::Ok, "{checks:?}");
    assert!(sample[0].detail.contains("\"ada\""), "{}", sample[0].detail);
}

#[tokio::test]
async fn an_empty_source_and_partly_rejected_records_are_warned_about() {
    let env = TestEnv::csv();
    env.write_csv("id,uid,mail,active,groups\n");
    let checks = env.test_connection().await;
    let empty = sample(&checks);
    assert_eq!(empty[0].status, CheckStatus::Warning, "{checks:?}");
    assert!(empty[0].detail.contains("no users"), "{}", empty[0].detail);

    env.write_csv("id,uid,mail,active,groups\n1,ada,ada@example.com,true,Staff\n2,,,true,Staff\n");
    let checks = env.test_connection().await;
    let partly = sample(&checks);
    assert!(
        partly.iter().any(|c| c.status == CheckStatus::Warning
            && c.detail.contains("1 of 2 sampled records were rejected")),
        "{checks:?}"
    );
}

#[tokio::test]
async fn the_sample_stops_the_read_early_on_a_large_source() {
    let env = TestEnv::csv();
    let mut csv = String::from("id,uid,mail,active,groups\n");
    for i in 0..5000 {
        csv.push_str(&format!("{i},user{i},u{i}@example.com,true,Staff\n"));
    }
    env.write_csv(&csv);
    let checks = env.test_connection().await;
    let sample = sample(&checks);
    assert_eq!(sample[0].status, CheckStatus::Ok, "{checks:?}");
    // The sample, not the source: far fewer than 5000 users were mapped.
    let mapped: usize = sample[0]
        .detail
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(mapped < 5000, "{}", sample[0].detail);
}
