//! Native unit tests of the rule engine.

use serde_json::json;
use usersync_sdk::{AttrValue, Attribute, Mapper, ObjectKind, SourceObject, TargetUser};

use crate::slots::{Slots, Values};
use crate::template::Template;
use crate::{DefaultMapper, MappingConfig};

fn mapper(config: serde_json::Value) -> Result<DefaultMapper, String> {
    let c: MappingConfig = serde_json::from_value(config).map_err(|e| e.to_string())?;
    DefaultMapper::new(c)
}

fn user(attrs: &[(&str, &str)]) -> SourceObject {
    let mut u = SourceObject::new(ObjectKind::User, "id-1");
    for (k, v) in attrs {
        u.push_text(*k, vec![v.to_string()]);
    }
    u
}

fn map(m: &DefaultMapper, attrs: &[(&str, &str)]) -> TargetUser {
    m.map_user(&user(attrs)).unwrap().unwrap()
}

fn render(template: &str, attrs: &[(&str, &str)]) -> Option<String> {
    let mut slots = Slots::default();
    let t = Template::parse(template, &mut slots).unwrap();
    let u = user(attrs);
    let mut found = Vec::new();
    slots.resolve(&u, &mut found);
    let mut out = String::new();
    t.render(&Values::new(&u, &found), &mut out).then_some(out)
}

#[test]
fn templates_render() {
    let a = [("givenName", "Ann"), ("SN", "Lee")];
    assert_eq!(render("{givenName} {sn}", &a).unwrap(), "Ann Lee");
    assert_eq!(render("{givenName} {middle} {sn}", &a).unwrap(), "Ann Lee");
    assert_eq!(render("  {middle} {sn} ", &a).unwrap(), "Lee");
    assert_eq!(render("{{{sn}}} }", &a).unwrap(), "{Lee} }");
    assert_eq!(render("{ givenName }.{sn}@x", &a).unwrap(), "Ann.Lee@x");
    assert_eq!(
        render("{nope} {none}", &a),
        None,
        "all placeholders empty yields nothing"
    );
    assert_eq!(render("constant", &a).unwrap(), "constant");
}

#[test]
fn template_errors() {
    let mut s = Slots::default();
    let e = Template::parse("{givenName", &mut s).unwrap_err();
    assert!(e.contains("without its closing"), "{e}");
    assert!(Template::parse("{}", &mut s).is_err());
    let e = mapper(json!({"display_name": "{givenName {sn}"}))
        .err()
        .unwrap();
    assert!(e.starts_with("mapping.display_name:"), "{e}");
}

#[test]
fn defaults_cover_common_names() {
    let m = mapper(json!({})).unwrap();
    let t = map(
        &m,
        &[
            ("sAMAccountName", "ann"),
            ("displayName", "Ann Lee"),
            ("givenName", "Ann"),
            ("sn", "Lee"),
            ("mail", "Ann@X.org"),
            ("telephoneNumber", "1"),
            ("title", "Dev"),
            ("company", "C"),
            ("department", "D"),
            ("manager", "m-1"),
            ("employeeID", "42"),
        ],
    );
    assert_eq!(t.username, "ann");
    assert_eq!(t.display_name.as_deref(), Some("Ann Lee"));
    assert_eq!(t.given_name.as_deref(), Some("Ann"));
    assert_eq!(t.family_name.as_deref(), Some("Lee"));
    assert_eq!(t.email.as_deref(), Some("Ann@X.org"));
    assert_eq!(t.phone.as_deref(), Some("1"));
    assert_eq!(t.job_title.as_deref(), Some("Dev"));
    assert_eq!(t.company.as_deref(), Some("C"));
    assert_eq!(t.department.as_deref(), Some("D"));
    assert_eq!(t.manager.as_deref(), Some("m-1"));
    assert_eq!(t.employee_id.as_deref(), Some("42"));
    assert!(t.custom.is_empty());
}

#[test]
fn first_non_empty_wins_case_insensitively() {
    let m = mapper(json!({})).unwrap();
    let mut u = user(&[("UID", ""), ("mail", "a@x")]);
    u.attributes.push(Attribute {
        name: "uid".into(),
        values: vec![
            AttrValue::Text(String::new()),
            AttrValue::Text("ann".into()),
        ],
    });
    assert_eq!(m.map_user(&u).unwrap().unwrap().username, "ann");
    assert_eq!(map(&m, &[("MAIL", "a@x")]).username, "a@x");
}

#[test]
fn empty_username_is_an_error() {
    let m = mapper(json!({})).unwrap();
    let e = m.map_user(&user(&[("cn", "x")])).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("username"));
    assert_eq!(e.message, "username is empty: none of username, uid, sAMAccountName, userPrincipalName, mail, email has a value");
    let m = mapper(json!({"username": "{uid}"})).unwrap();
    let e = m.map_user(&user(&[])).unwrap_err();
    assert!(
        e.message
            .contains("template `{uid}` gave nothing (none of uid has a value)"),
        "{}",
        e.message
    );
}

#[test]
fn transforms_apply_in_order() {
    let m = mapper(json!({
        "email": {"from": ["mail", "userPrincipalName"], "case": "lower"},
        "job_title": {"from": "title", "prefix": "EXT-"},
        "company": {"value": "acme", "case": "upper"},
        "department": {"template": "{department}", "replace": {"pattern": "^Dept-", "with": ""}, "suffix": " (HQ)", "case": "upper"},
        "phone": {"from": "tel", "replace": {"pattern": "[^0-9+]", "with": ""}},
    }))
    .unwrap();
    let t = map(
        &m,
        &[
            ("uid", "a"),
            ("userPrincipalName", "A.B@X.ORG"),
            ("title", "Dev"),
            ("department", "Dept-sales"),
            ("tel", "(0) 12-3"),
        ],
    );
    assert_eq!(t.email.as_deref(), Some("a.b@x.org"));
    assert_eq!(t.job_title.as_deref(), Some("EXT-Dev"));
    assert_eq!(t.company.as_deref(), Some("ACME"));
    assert_eq!(t.department.as_deref(), Some("SALES (HQ)"));
    assert_eq!(t.phone.as_deref(), Some("0123"));
    // No title: the prefix alone is not a value.
    let t = map(
        &m,
        &[
            ("uid", "a"),
            ("department", "Dept-"),
            ("userPrincipalName", "ÄÖ@X"),
        ],
    );
    assert_eq!(t.job_title, None);
    assert_eq!(t.department, None);
    assert_eq!(t.email.as_deref(), Some("äö@x"));
}

#[test]
fn required_and_custom() {
    let m = mapper(json!({
        "job_title": {"from": ["title", "jobTitle"], "required": true},
        "custom": {"cost_center": "{costCenter}", "site": {"value": "HQ"}},
    }))
    .unwrap();
    let e = m.map_user(&user(&[("uid", "a")])).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("job_title"));
    assert_eq!(
        e.message,
        "job_title is required but empty: none of title, jobTitle has a value"
    );
    let t = map(&m, &[("uid", "a"), ("title", "T")]);
    assert_eq!(t.custom, [("site".to_string(), "HQ".to_string())]);
    let t = map(&m, &[("uid", "a"), ("title", "T"), ("costcenter", "CC1")]);
    assert_eq!(
        t.custom,
        [
            ("cost_center".to_string(), "CC1".to_string()),
            ("site".to_string(), "HQ".to_string())
        ]
    );
}

#[test]
fn defaults_off_leaves_fields_alone() {
    let m = mapper(json!({"defaults": false, "job_title": "{title}"})).unwrap();
    let t = map(&m, &[("uid", "a"), ("mail", "m"), ("title", "T")]);
    assert_eq!(t.username, "", "no username rule: leave alone");
    assert_eq!(t.email, None);
    assert_eq!(t.job_title.as_deref(), Some("T"));
}

#[test]
fn config_errors_name_the_field() {
    let err = |c| mapper(c).err().unwrap();
    assert!(err(json!({"emial": "{mail}"})).contains("emial"));
    let e = err(json!({"email": {"from": "mail", "template": "{mail}"}}));
    assert!(
        e.starts_with("mapping.email:") && e.contains("exactly one"),
        "{e}"
    );
    let e = err(json!({"email": {"case": "lower"}}));
    assert!(e.contains("exactly one"), "{e}");
    let e = err(json!({"department": {"from": "d", "replace": {"pattern": "(", "with": ""}}}));
    assert!(
        e.starts_with("mapping.department: invalid `replace` pattern"),
        "{e}"
    );
    let e = err(json!({"email": {"from": "mail", "cas": "lower"}}));
    assert!(e.starts_with("mapping.email:") && e.contains("cas"), "{e}");
    let e = err(json!({"email": {"from": "mail", "case": "title"}}));
    assert!(e.contains("title"), "{e}");
    let e = err(json!({"custom": {"x": 5}}));
    assert!(e.starts_with("mapping.custom.x:"), "{e}");
    assert!(err(json!({"email": {"from": []}})).contains("`from` needs"));
}

#[test]
fn group_names() {
    let m = mapper(json!({})).unwrap();
    let mut g = SourceObject::new(ObjectKind::Group, "g-1");
    assert_eq!(m.map_group(&g).unwrap().unwrap().name, "g-1");
    g.push_text("name", vec!["Staff".into()]);
    assert_eq!(m.map_group(&g).unwrap().unwrap().name, "Staff");
    g.push_text("cn", vec!["Admins".into()]);
    assert_eq!(m.map_group(&g).unwrap().unwrap().name, "Admins");
    let m = mapper(json!({"group_name": {"template": "{cn}", "prefix": "ad-", "case": "lower"}}))
        .unwrap();
    assert_eq!(m.map_group(&g).unwrap().unwrap().name, "ad-admins");
}

fn with_binary(mut u: SourceObject, name: &str, bytes: &[u8]) -> SourceObject {
    u.attributes.push(Attribute {
        name: name.into(),
        values: vec![AttrValue::Binary(bytes.to_vec())],
    });
    u
}

const GUID_BYTES: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

#[test]
fn binary_values_are_encoded_on_request() {
    let m = mapper(json!({"custom": {
        "guid": {"from": "objectGUID", "encode": "guid"},
        "hex": {"from": "objectGUID", "encode": "hex"},
        "b64": {"from": "objectGUID", "encode": "base64"},
        "sid": {"from": "objectSid", "encode": "base64"},
        "upper": {"from": "objectGUID", "encode": "guid", "case": "upper", "prefix": "{", "suffix": "}"},
        "plain": {"from": "objectGUID"},
    }}))
    .unwrap();
    let u = with_binary(user(&[("uid", "a")]), "objectguid", &GUID_BYTES);
    let u = with_binary(u, "objectSid", &[1, 2, 3, 4]);
    let custom: std::collections::BTreeMap<_, _> = m
        .map_user(&u)
        .unwrap()
        .unwrap()
        .custom
        .into_iter()
        .collect();
    assert_eq!(custom["guid"], "33221100-5544-7766-8899-aabbccddeeff");
    assert_eq!(custom["hex"], "00112233445566778899aabbccddeeff");
    assert_eq!(custom["b64"], "ABEiM0RVZneImaq7zN3u/w==");
    assert_eq!(
        custom["sid"], "AQIDBA==",
        "padding for a partial last chunk"
    );
    assert_eq!(custom["upper"], "{33221100-5544-7766-8899-AABBCCDDEEFF}");
    assert!(
        !custom.contains_key("plain"),
        "without `encode` binary is ignored"
    );
}

#[test]
fn base64_pads_every_length() {
    let m = mapper(json!({"custom": {"b": {"from": "bin", "encode": "base64"}}})).unwrap();
    for (bytes, want) in [
        (&b"f"[..], "Zg=="),
        (b"fo", "Zm8="),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg=="),
        (b"fooba", "Zm9vYmE="),
        (b"foobar", "Zm9vYmFy"),
    ] {
        let u = with_binary(user(&[("uid", "a")]), "bin", bytes);
        let t = m.map_user(&u).unwrap().unwrap();
        assert_eq!(t.custom, [("b".to_string(), want.to_string())]);
    }
}

#[test]
fn encode_falls_back_to_text_and_rejects_bad_guids() {
    let m = mapper(json!({
        "employee_id": {"from": ["objectGUID", "employeeID"], "encode": "guid"},
    }))
    .unwrap();
    // A source that already gives text: passed through.
    let t = map(&m, &[("uid", "a"), ("objectGUID", "already-text")]);
    assert_eq!(t.employee_id.as_deref(), Some("already-text"));
    let t = map(&m, &[("uid", "a"), ("employeeID", "42")]);
    assert_eq!(t.employee_id.as_deref(), Some("42"));
    // Binary beats the next attribute's text.
    let u = with_binary(
        user(&[("uid", "a"), ("employeeID", "42")]),
        "objectGUID",
        &GUID_BYTES,
    );
    let t = m.map_user(&u).unwrap().unwrap();
    assert_eq!(
        t.employee_id.as_deref(),
        Some("33221100-5544-7766-8899-aabbccddeeff")
    );
    // A GUID must have 16 bytes: a per-record error naming the field.
    let u = with_binary(user(&[("uid", "a")]), "objectGUID", &[1, 2, 3]);
    let e = m.map_user(&u).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("employee_id"));
    assert!(
        e.message.contains("16 bytes") && e.message.contains("objectGUID"),
        "{}",
        e.message
    );
    // `encode` needs `from`, and a known encoding.
    let e = mapper(json!({"email": {"template": "{mail}", "encode": "hex"}}))
        .err()
        .unwrap();
    assert!(
        e.starts_with("mapping.email:") && e.contains("`from` only"),
        "{e}"
    );
    let e = mapper(json!({"email": {"from": "mail", "encode": "rot13"}}))
        .err()
        .unwrap();
    assert!(
        e.starts_with("mapping.email:") && e.contains("rot13"),
        "{e}"
    );
}

/// Rough native speed check: `cargo test --release -p usersync-default-mapper -- --ignored --nocapture`.
#[test]
#[ignore]
fn speed() {
    let m = mapper(
        json!({"display_name": "{givenName} {sn}", "email": {"from": ["mail"], "case": "lower"}}),
    )
    .unwrap();
    let u = user(&[
        ("objectClass", "person"),
        ("uid", "ann"),
        ("cn", "Ann Lee"),
        ("givenName", "Ann"),
        ("sn", "Lee"),
        ("mail", "Ann@X.org"),
        ("title", "Dev"),
        ("department", "D"),
        ("telephoneNumber", "1"),
        ("employeeNumber", "42"),
        ("l", "Paris"),
        ("st", "IDF"),
        ("postalCode", "75000"),
        ("street", "1 rue"),
        ("description", "x"),
    ]);
    let n = 200_000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(m.map_user(std::hint::black_box(&u)).unwrap());
    }
    println!(
        "{:.0} ns per record",
        start.elapsed().as_nanos() as f64 / n as f64
    );
}

#[test]
fn several_emails_keep_the_others_in_custom_emails() {
    let m = mapper(json!({"email": {"from": ["mail", "email"], "case": "lower"}})).unwrap();
    let mut u = SourceObject::new(ObjectKind::User, "u1");
    u.push_text("uid", vec!["ann".into()]);
    u.push_text(
        "mail",
        vec![
            "Ann@X.org".into(),
            "ann.lee@x.org".into(),
            "ANN@x.org".into(),
        ],
    );
    u.push_text("email", vec!["other@x.org".into()]);
    let t = m.map_user(&u).unwrap().unwrap();
    assert_eq!(t.email.as_deref(), Some("ann@x.org"));
    assert_eq!(
        t.custom,
        [("emails".to_string(), "ann@x.org, ann.lee@x.org".to_string())],
        "all of mail, lowercased, without duplicates; not the fallback attribute"
    );

    // One address: no `emails` (nothing to keep, no churn for everyone else).
    let one = map(&m, &[("uid", "bob"), ("mail", "bob@x.org")]);
    assert!(one.custom.is_empty(), "{:?}", one.custom);

    // A configured custom `emails` wins.
    let m = mapper(json!({"custom": {"emails": {"value": "mine"}}})).unwrap();
    let t = m.map_user(&u).unwrap().unwrap();
    assert_eq!(t.custom, [("emails".to_string(), "mine".to_string())]);
}
