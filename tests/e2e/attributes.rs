//! Attribute mapping through the real default mapper: fields, custom
//! metadata, unmapped fields, lookups, managers, unicode, multi-valued and
//! binary values.

use serde_json::{json, Value};
use usersync_host::store::Lookup;

use crate::env::TestEnv;
use crate::script::{source, user, user_with};

fn mapping() -> Value {
    json!({
        "username": "{uid}",
        "display_name": "{givenName} {sn}",
        "given_name": "{givenName}",
        "family_name": "{sn}",
        "email": { "from": "mail", "case": "lower" },
        "phone": "{tel}",
        "department": "{dept}",
        "employee_id": "{empNo}",
        "job_title": "{title}",
        "manager": "{boss}",
        "custom": { "cost_center": "{costCenter}" },
    })
}

fn ada(title: &str) -> Value {
    user_with(
        "u1",
        "ada",
        json!({
            "givenName": "Ada", "sn": "Lovelace", "mail": "Ada@Example.com",
            "tel": "+44 1", "dept": "Engineering", "empNo": "E-1",
            "title": title, "boss": "u2", "costCenter": "CC-42",
        }),
    )
}

#[tokio::test]
async fn mapped_fields_custom_metadata_and_lookups_land_in_the_store() {
    let env = TestEnv::scripted(source(
        vec![
            ada("Engineer"),
            user_with("u2", "grace", json!({ "title": "Admiral" })),
        ],
        vec![],
    ));
    env.set_job("mapping", mapping());
    let host = env.host().await;
    host.store
        .add_lookup("default", Lookup::JobTitle, "Engineer")
        .await
        .unwrap();
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded");

    let ada = env.user("ada").await;
    assert_eq!(ada.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(ada.given_name.as_deref(), Some("Ada"));
    assert_eq!(ada.family_name.as_deref(), Some("Lovelace"));
    assert_eq!(ada.email.as_deref(), Some("ada@example.com"));
    assert_eq!(ada.phone.as_deref(), Some("+44 1"));
    assert_eq!(ada.department.as_deref(), Some("Engineering"));
    assert_eq!(ada.employee_id.as_deref(), Some("E-1"));
    assert_eq!(
        ada.job_title.as_deref(),
        Some("Engineer"),
        "existing lookup linked"
    );
    let custom: Value = serde_json::from_str(ada.custom.as_deref().unwrap()).unwrap();
    assert_eq!(custom, json!({ "cost_center": "CC-42" }));

    // "Admiral" is not in the lookup table: not created, a warning instead.
    let grace = env.user("grace").await;
    assert_eq!(grace.job_title, None);
    assert!(
        report
            .plan
            .warnings
            .iter()
            .any(|w| w.contains("\"Admiral\"")),
        "{:?}",
        report.plan.warnings
    );
    let run = env.run_record(&report.run.id).await;
    assert!(run.warnings.unwrap().to_string().contains("Admiral"));
    let host = env.host().await;
    let titles: Vec<(String,)> = crate::on_store!(host.store, |p| {
        sqlx::query_as("SELECT name FROM job_titles")
            .fetch_all(p)
            .await
            .unwrap()
    });
    assert_eq!(
        titles,
        [("Engineer".to_string(),)],
        "lookups never create entries"
    );
}

#[tokio::test]
async fn a_field_without_a_mapping_rule_is_left_alone() {
    let env = TestEnv::scripted(source(vec![ada("Engineer")], vec![]));
    env.set_job(
        "mapping",
        json!({ "defaults": false, "username": "{uid}", "phone": "{tel}", "department": "{dept}" }),
    );
    env.sync().await.unwrap();
    assert_eq!(env.user("ada").await.phone.as_deref(), Some("+44 1"));

    // The phone rule goes away and the source's value changes: the stored
    // value stays, while the still-mapped department follows the source.
    let mut changed = ada("Engineer");
    changed["attributes"]["tel"] = json!("+44 2");
    changed["attributes"]["dept"] = json!("Research");
    env.set_job("source", source(vec![changed], vec![]));
    env.set_job(
        "mapping",
        json!({ "defaults": false, "username": "{uid}", "department": "{dept}" }),
    );
    let report = env.sync().await.unwrap();
    let changes = report.plan.users[0].changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].field, "department");
    let ada = env.user("ada").await;
    assert_eq!(ada.phone.as_deref(), Some("+44 1"), "unmapped: unchanged");
    assert_eq!(ada.department.as_deref(), Some("Research"));
}

#[tokio::test]
async fn unicode_survives_the_round_trip() {
    let name = "Zoë Ångström-Łukasiewicz 山田 🚀";
    let env = TestEnv::scripted(source(
        vec![user_with(
            "ü-1",
            "zoë.ångström",
            json!({ "displayName": name, "department": "Forschung & Entwicklung" }),
        )],
        vec![json!({ "id": "g-ü", "name": "Équipe Ω", "members": ["ü-1"] })],
    ));
    env.sync().await.unwrap();
    let zoe = env.user("zoë.ångström").await;
    assert_eq!(zoe.display_name.as_deref(), Some(name));
    assert_eq!(zoe.source_id.as_deref(), Some("ü-1"));
    assert_eq!(zoe.groups, ["Équipe Ω"]);
    let again = env.sync().await.unwrap();
    assert!(
        again.plan.is_noop(),
        "unicode compares equal: {:#?}",
        again.plan
    );
}

#[tokio::test]
async fn multi_valued_attributes_reach_host_and_mapper() {
    let env = TestEnv::scripted(source(
        vec![
            user_with(
                "u1",
                "ada",
                json!({ "mail": ["first@example.com", "second@example.com"] }),
            ),
            // An empty first value: the mapper reads on to the second.
            user_with("u2", "grace", json!({ "mail": ["", "grace@example.com"] })),
            user_with("u3", "alan", json!({ "mail": ["alan@example.com"] })),
        ],
        vec![],
    ));
    // The filter matches only ada's second value: it must reach the host.
    env.set_job(
        "sync",
        json!({ "user_filter": { "attribute": "mail", "pattern": "^(second|grace)@" } }),
    );
    env.set_job("mapping", json!({ "custom": { "mail": "<{mail}>" } }));
    env.sync().await.unwrap();
    assert_eq!(env.active().await, ["ada", "grace"]);
    let ada = env.user("ada").await;
    assert_eq!(
        ada.email.as_deref(),
        Some("first@example.com"),
        "first value wins"
    );
    let custom: Value = serde_json::from_str(ada.custom.as_deref().unwrap()).unwrap();
    assert_eq!(
        custom,
        json!({ "mail": "<first@example.com>", "emails": "first@example.com, second@example.com" }),
        "the second address is kept, not dropped"
    );
    let grace = env.user("grace").await;
    assert_eq!(grace.email.as_deref(), Some("grace@example.com"));
    assert_eq!(
        grace.custom.as_deref(),
        Some(r#"{"mail":"<grace@example.com>"}"#),
        "one address: no `emails`"
    );
}

#[tokio::test]
async fn binary_guid_is_encoded_by_the_mapper() {
    // Bytes 00 11 22 … ff: Windows' little-endian GUID layout.
    let env = TestEnv::scripted(source(
        vec![user_with(
            "u1",
            "ada",
            json!({ "objectGUID": { "base64": "ABEiM0RVZneImaq7zN3u/w==" }, "photo": { "base64": "AQID" } }),
        )],
        vec![],
    ));
    env.set_job(
        "mapping",
        json!({ "custom": {
            "guid": { "from": "objectGUID", "encode": "guid" },
            "photo_hex": { "from": "photo", "encode": "hex" },
            "raw": { "from": "objectGUID" },
        } }),
    );
    env.sync().await.unwrap();
    let custom: Value =
        serde_json::from_str(env.user("ada").await.custom.as_deref().unwrap()).unwrap();
    assert_eq!(
        custom,
        json!({ "guid": "33221100-5544-7766-8899-aabbccddeeff", "photo_hex": "010203" }),
        "binary arrives as bytes; without `encode` it is ignored"
    );
}

#[tokio::test]
async fn a_binary_value_that_cannot_be_encoded_is_a_record_error() {
    let env = TestEnv::scripted(source(
        vec![
            user_with("u1", "ada", json!({ "objectGUID": { "base64": "AQID" } })),
            user("u2", "grace"),
        ],
        vec![],
    ));
    env.set_job(
        "mapping",
        json!({ "custom": { "guid": { "from": "objectGUID", "encode": "guid" } } }),
    );
    // 1 rejected of 2 is over the default max_rejected_percent.
    env.set_job("sync", json!({ "max_rejected_percent": 50 }));
    let report = env.sync().await.unwrap();
    assert_eq!(env.active().await, ["grace"]);
    assert_eq!(report.plan.errors.len(), 1, "{:?}", report.plan.errors);
    let e = &report.plan.errors[0];
    assert_eq!(
        (e.record.as_str(), e.field.as_deref()),
        ("u1", Some("guid"))
    );
    assert!(e.message.contains("16 bytes"), "{}", e.message);
}

/// ada reports to grace by source id, alan to grace by ref key.
fn team(ada_boss: &str) -> Value {
    source(
        vec![
            user_with("u1", "ada", json!({ "boss": ada_boss })),
            json!({ "id": "u2", "ref_key": "uid=grace,ou=people", "attributes": { "uid": "grace" } }),
            user_with("u3", "alan", json!({ "boss": "uid=grace,ou=people" })),
        ],
        vec![],
    )
}

#[tokio::test]
async fn manager_of_a_new_user_is_linked_by_source_id_or_ref_key() {
    let env = TestEnv::scripted(team("u2"));
    env.set_job("mapping", json!({ "manager": "{boss}" }));
    env.sync().await.unwrap();
    assert_eq!(env.user("ada").await.manager.as_deref(), Some("grace"));
    assert_eq!(env.user("alan").await.manager.as_deref(), Some("grace"));
    assert_eq!(env.user("grace").await.manager, None);
}

#[tokio::test]
async fn a_changed_manager_is_linked() {
    let env = TestEnv::scripted(team("u2"));
    env.set_job("mapping", json!({ "manager": "{boss}" }));
    env.sync().await.unwrap();
    env.set_job("source", team("u3"));
    let report = env.sync().await.unwrap();
    let changes = report.plan.users[0].changes();
    assert_eq!(changes.len(), 1, "{:#?}", report.plan.users);
    let change = (changes[0].field.as_str(), changes[0].new.as_deref());
    assert_eq!(change, ("manager", Some("u3")), "stored as the source id");
    assert_eq!(env.user("ada").await.manager.as_deref(), Some("alan"));
    assert_eq!(env.user("alan").await.manager.as_deref(), Some("grace"));
}
