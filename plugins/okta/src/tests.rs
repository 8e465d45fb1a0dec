//! Native unit tests of the parsing side (no host calls).

use serde_json::json;

use crate::parse::*;

#[test]
fn link_headers_give_the_next_page() {
    let self_only = "<https://x.okta.com/api/v1/users?limit=2>; rel=\"self\"";
    let next = "<https://x.okta.com/api/v1/users?after=00u2&limit=2>; rel=\"next\"";
    assert_eq!(
        next_link([self_only, next]).as_deref(),
        Some("https://x.okta.com/api/v1/users?after=00u2&limit=2")
    );
    assert_eq!(next_link([self_only]), None);
    let combined = format!("{self_only}, {next}");
    assert_eq!(
        next_link([combined.as_str()]).as_deref(),
        Some("https://x.okta.com/api/v1/users?after=00u2&limit=2")
    );
    assert_eq!(
        next_link(["<https://a/b?c=1,2>; rel=next"]).as_deref(),
        Some("https://a/b?c=1,2")
    );
}

#[test]
fn only_active_users_are_enabled() {
    let item = |status: &str| {
        json!({ "id": "00u1", "status": status, "profile": {
            "login": "ada@example.com", "email": "ada@example.com", "firstName": "Ada",
            "lastName": "Lovelace", "mobilePhone": null, "managerId": "grace@example.com",
            "emails": ["a@x", "b@x"] } })
    };
    let u = user(&item("ACTIVE")).unwrap();
    assert!(u.enabled);
    assert_eq!(u.ref_key, "ada@example.com");
    assert_eq!(u.text("firstName"), Some("Ada"));
    assert_eq!(u.text("manager"), Some("grace@example.com"));
    assert_eq!(u.texts("emails").count(), 2);
    assert!(u.attribute("mobilePhone").is_none());
    for s in [
        "SUSPENDED",
        "DEPROVISIONED",
        "STAGED",
        "PROVISIONED",
        "LOCKED_OUT",
    ] {
        assert!(!user(&item(s)).unwrap().enabled, "{s}");
    }
}

#[test]
fn groups_carry_name_and_members() {
    let g = group(&json!({ "id": "00g1", "type": "OKTA_GROUP", "profile": { "name": "Eng", "description": "" } }), vec!["00u1".into()]).unwrap();
    assert_eq!(g.text("name"), Some("Eng"));
    assert!(g.attribute("description").is_none());
    assert_eq!(g.members, ["00u1"]);
}

#[test]
fn dates_errors_and_rate_limits() {
    assert_eq!(
        iso_from_http_date("Tue, 15 Nov 1994 08:12:31 GMT").as_deref(),
        Some("1994-11-15T08:12:31.000Z")
    );
    assert!(valid_cursor("1994-11-15T08:12:31.000Z"));
    assert!(!valid_cursor("csv:rows=3"));
    assert_eq!(iso_from_http_date("yesterday"), None);
    // 2023-11-14T22:13:20Z is 1700000000.
    assert_eq!(
        reset_in(Some("1700000005"), Some("Tue, 14 Nov 2023 22:13:20 GMT")),
        Some(5)
    );
    assert_eq!(
        error_text(br#"{"errorCode":"E0000011","errorSummary":"Invalid token provided"}"#),
        "E0000011: Invalid token provided"
    );
}
