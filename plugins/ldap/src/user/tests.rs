//! [`Users::build`] fills records sent before, in place; it must send
//! exactly what building a new record by cloning sends (the way it was
//! first written, kept here as the reference), whatever fields share an
//! attribute and whatever record it reuses.

use usersync_sdk::host::ldap::{Entry, Page};

use super::*;
use crate::config::Config;
use crate::entries::{enabled, id_of};

fn values(e: EntryRef<'_>, name: &str) -> Vec<AttrValue> {
    e.values(name).map(ValueRef::to_owned).collect()
}

/// The record built by cloning every value from the borrowed entry.
fn user_by_cloning(e: EntryRef<'_>, cfg: &Resolved) -> Result<SourceObject, String> {
    let id = id_of(e, &cfg.id_attr).ok_or_else(|| {
        format!(
            "{} has no {} (the immutable id); check source.attributes.id",
            e.dn(),
            cfg.id_attr
        )
    })?;
    let mut o = SourceObject::new(ObjectKind::User, id);
    o.ref_key = dn::normalize_general(e.dn());
    o.enabled = enabled(e, cfg);
    o.attributes.push(Attribute {
        name: "dn".into(),
        values: vec![AttrValue::Text(e.dn().to_string())],
    });
    for (field, source) in &cfg.fields {
        let vals = values(e, source);
        if vals.is_empty() {
            continue;
        }
        let vals = if field == "manager" {
            e.texts(source)
                .map(|v| AttrValue::Text(dn::normalize_general(v)))
                .collect()
        } else {
            vals
        };
        if !source.eq_ignore_ascii_case(field) {
            o.attributes.push(Attribute {
                name: source.clone(),
                values: values(e, source),
            });
        }
        o.attributes.push(Attribute {
            name: field.clone(),
            values: vals,
        });
    }
    for extra in &cfg.extra {
        let vals = values(e, extra);
        let sent = o
            .attributes
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(extra));
        if !vals.is_empty() && !sent {
            o.attributes.push(Attribute {
                name: extra.clone(),
                values: vals,
            });
        }
    }
    Ok(o)
}

fn resolved(json: &str) -> Resolved {
    let c: Config = serde_json::from_str(json).unwrap();
    c.resolve(Some("dc=example,dc=com".into())).unwrap()
}

fn text(name: &str, vals: &[&str]) -> Attribute {
    Attribute {
        name: name.into(),
        values: vals
            .iter()
            .map(|v| AttrValue::Text(v.to_string()))
            .collect(),
    }
}

fn entry(dn: &str, attributes: Vec<Attribute>) -> Entry {
    Entry {
        dn: dn.into(),
        attributes,
        change: None,
    }
}

fn entries() -> Vec<Entry> {
    vec![
        entry(
            "UID=Ann,OU=People,DC=Example,DC=com",
            vec![
                text("entryUUID", &["0A1B2C3D-0000-0000-0000-000000000001"]),
                text("uid", &["Ann"]),
                text("Mail", &["ann@x.org", "a@x.org"]),
                text("cn", &["Ann Lee"]),
                text("sn", &[]),
                text("displayName", &["Ann"]),
                text("manager", &["CN=Boss\\, The, ou=People,DC=Example,DC=com"]),
                text(
                    "seeAlso",
                    &["uid=Bob,ou=People,dc=example,dc=com", "cn=x + uid=Y,dc=z"],
                ),
                Attribute {
                    name: "costCenter".into(),
                    values: vec![
                        AttrValue::Binary(vec![1, 2]),
                        AttrValue::Text("CC-1".into()),
                    ],
                },
                text("employeeType", &["Disabled"]),
                text("mail", &["second@x.org"]),
                text("telephoneNumber", &["+1 555"]),
                text("o", &["Org"]),
            ],
        ),
        entry(
            "uid=bob,ou=people,dc=example,dc=com",
            vec![
                text("entryuuid", &["0a1b2c3d-0000-0000-0000-000000000002"]),
                text("UID", &["bob"]),
                Attribute {
                    name: "manager".into(),
                    values: vec![AttrValue::Binary(vec![9])],
                },
                text("title", &["Chief"]),
            ],
        ),
        entry("uid=noid,dc=example,dc=com", vec![text("uid", &["noid"])]),
    ]
}

fn same_records(cfg: &Resolved) {
    let mut users = Users::new(cfg);
    let mut sent = Vec::new();
    // Twice round, each record built in one sent before (of another entry,
    // with other attributes) once there is one.
    let page = Page::from_entries(&entries());
    for e in page.iter().chain(page.iter()) {
        let want = user_by_cloning(e, cfg);
        let got = users.build(e, cfg);
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{}", e.dn());
        if let Ok(u) = got {
            assert_eq!(dn_of(&u), e.dn());
            sent.push(u);
            users.recycle(&mut sent);
        }
    }
}

#[test]
fn filling_in_place_sends_what_cloning_sends_with_the_default_fields() {
    same_records(&resolved(
        r#"{"disabled_attribute": "employeeType", "disabled_value": "disabled"}"#,
    ));
}

#[test]
fn filling_in_place_sends_what_cloning_sends_when_fields_share_attributes() {
    same_records(&resolved(
        r#"{
            "attributes": {
                "username": "mail", "email": "MAIL", "display_name": "cn",
                "manager": "seeAlso", "employee_id": "manager", "company": "uid",
                "given_name": "displayName", "family_name": "sn"
            },
            "extra_attributes": ["mail", "costCenter", "COSTCENTER", "username",
                                 "dn", "entryUUID", "title", "manager", "o", ""]
        }"#,
    ));
}

#[test]
fn filling_in_place_sends_what_cloning_sends_when_the_manager_is_its_own_name() {
    same_records(&resolved(
        r#"{
            "attributes": {"manager": "Manager", "job_title": "TITLE"},
            "extra_attributes": ["seeAlso", "telephoneNumber", "Mail"]
        }"#,
    ));
}
