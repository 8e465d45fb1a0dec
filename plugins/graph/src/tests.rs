//! Native unit tests of the parsing side (no host calls).

use serde_json::json;

use crate::parse::*;

#[test]
fn users_keep_graph_names_and_disabled_state() {
    let u = user(&json!({
        "id": "u1", "userPrincipalName": "ada@contoso.com", "displayName": "Ada",
        "mail": null, "mobilePhone": "", "accountEnabled": false,
        "manager@delta": [{ "@odata.type": "#microsoft.graph.user", "id": "u9" }],
    }))
    .unwrap();
    assert_eq!(u.id, "u1");
    assert!(!u.enabled);
    assert_eq!(u.text("userPrincipalName"), Some("ada@contoso.com"));
    assert_eq!(u.text("manager"), Some("u9"));
    assert!(u.attribute("mail").is_none(), "null is no value");
    assert!(u.attribute("mobilePhone").is_none(), "empty is no value");
    let expanded = user(&json!({ "id": "u2", "manager": { "id": "u1" } })).unwrap();
    assert_eq!(expanded.text("manager"), Some("u1"));
    assert!(expanded.enabled, "accountEnabled missing: enabled");
}

#[test]
fn delta_items_are_classified() {
    assert_eq!(
        change(&json!({ "id": "u1", "@removed": { "reason": "changed" } })),
        Some(Change::Removed("u1".into()))
    );
    assert_eq!(
        change(&json!({ "id": "u1", "userPrincipalName": "a@b" })),
        Some(Change::Present {
            id: "u1".into(),
            complete: true
        })
    );
    assert_eq!(
        change(&json!({ "id": "u1", "jobTitle": "Boss" })),
        Some(Change::Present {
            id: "u1".into(),
            complete: false
        })
    );
}

#[test]
fn pages_carry_next_and_delta_links() {
    let p: Page = serde_json::from_value(json!({
        "@odata.context": "x", "value": [{ "id": "a" }],
        "@odata.nextLink": "https://g/v1.0/users/delta?$skiptoken=abc",
    }))
    .unwrap();
    assert_eq!(p.value.len(), 1);
    assert!(p.next_link.is_some() && p.delta_link.is_none());
    let p: Page = serde_json::from_value(json!({
        "value": [], "@odata.deltaLink": "https://g/v1.0/users/delta?$deltatoken=xyz",
    }))
    .unwrap();
    assert_eq!(
        p.delta_link.as_deref(),
        Some("https://g/v1.0/users/delta?$deltatoken=xyz")
    );
}

#[test]
fn groups_and_members() {
    let g = group(
        &json!({ "id": "g1", "displayName": "Staff" }),
        vec!["u1".into()],
    )
    .unwrap();
    assert_eq!(g.text("name"), Some("Staff"));
    assert_eq!(g.members, ["u1"]);
    let items = [
        json!({ "@odata.type": "#microsoft.graph.user", "id": "u1" }),
        json!({ "@odata.type": "#microsoft.graph.group", "id": "g2" }),
    ];
    assert_eq!(user_ids(&items).collect::<Vec<_>>(), ["u1"]);
}

#[test]
fn cursor_round_trip_and_foreign_links() {
    let c = Cursor {
        users: Some("https://graph.example/v1.0/users/delta?$deltatoken=1".into()),
        groups: None,
    };
    assert_eq!(
        Cursor::decode(&c.encode(), "https://graph.example/v1.0"),
        Some(c)
    );
    let text = Cursor {
        users: Some("https://other/v1.0/users/delta".into()),
        groups: None,
    }
    .encode();
    assert_eq!(Cursor::decode(&text, "https://graph.example/v1.0"), None);
    assert_eq!(
        Cursor::decode("csv:rows=3", "https://graph.example/v1.0"),
        None
    );
}

#[test]
fn permissions_and_errors() {
    assert_eq!(
        permission_for("https://g/v1.0/users/delta?$select=id"),
        "User.Read.All"
    );
    assert_eq!(
        permission_for("https://g/v1.0/groups/delta"),
        "Group.Read.All"
    );
    assert_eq!(
        permission_for("https://g/v1.0/groups/g1/transitiveMembers/microsoft.graph.user"),
        "GroupMember.Read.All"
    );
    let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#;
    assert_eq!(
        error_text(body),
        "Authorization_RequestDenied: Insufficient privileges to complete the operation."
    );
    assert_eq!(retry_after(Some(" 7"), 60), 7);
    assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT"), 60), 60);
}
