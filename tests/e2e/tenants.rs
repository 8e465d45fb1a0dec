//! Tenants: a tenant's own plugins folder serves only that tenant, and each
//! tenant's users live in its own rows.

use usersync_host::sync::SyncRequest;

use crate::env::{built, TestEnv};

const PEOPLE: &str =
    "id,uid,title,employeeType,active,groups\n1,ada,Engineer,contractor,true,Staff\n";

fn two_tenants() -> TestEnv {
    let env = TestEnv::csv();
    env.write_csv(PEOPLE);
    let acme = env.dir.path().join("plugins/tenants/acme");
    std::fs::create_dir_all(&acme).unwrap();
    std::fs::copy(
        built("example-plugins", "contractor-mapper"),
        acme.join("contractor-mapper.wasm"),
    )
    .unwrap();
    env.edit(|doc| {
        let tenants = doc["tenants"].as_array_mut().unwrap();
        tenants.push(toml::Value::Table(toml::toml! { id = "acme" }));
        let jobs = doc["jobs"].as_array_mut().unwrap();
        let mut acme_job = jobs[0].as_table().unwrap().clone();
        acme_job.insert("id".into(), "acme-people".into());
        acme_job.insert("tenant".into(), "acme".into());
        acme_job.insert(
            "mappers".into(),
            toml::Value::Array(vec!["default-mapper".into(), "contractor-mapper".into()]),
        );
        jobs.push(toml::Value::Table(acme_job));
    });
    env
}

#[tokio::test]
async fn a_tenant_plugin_serves_only_its_tenant() {
    let env = two_tenants();
    let host = env.host().await;
    let acme = host
        .sync(&SyncRequest {
            job: "acme-people".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(acme.run.outcome, "succeeded");
    assert!(acme
        .run
        .mapper_versions
        .unwrap()
        .contains("contractor-mapper"));

    // The default tenant cannot name acme's plugin.
    env.set_job(
        "mappers",
        serde_json::json!(["default-mapper", "contractor-mapper"]),
    );
    let err = env
        .host()
        .await
        .sync(&SyncRequest {
            job: "people".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("contractor-mapper"), "{err:#}");
}

#[tokio::test]
async fn each_tenant_has_its_own_rows() {
    let env = two_tenants();
    let host = env.host().await;
    for job in ["people", "acme-people"] {
        host.sync(&SyncRequest {
            job: job.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let default = host.store.users(Some("default")).await.unwrap();
    let acme = host.store.users(Some("acme")).await.unwrap();
    assert_eq!(
        (default.len(), acme.len()),
        (1, 1),
        "the same source user exists once per tenant"
    );
    assert_eq!(default[0].tenant_id, "default");
    assert_eq!(acme[0].tenant_id, "acme");
}
