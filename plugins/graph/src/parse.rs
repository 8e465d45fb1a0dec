//! Graph JSON to source objects, paging and delta links, the cursor, and
//! which permission a 403 means. Pure, so it is unit-tested natively.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use usersync_sdk::{ObjectKind, SourceObject};

/// The user properties read (the `$select` of every user request).
pub const USER_FIELDS: [&str; 11] = [
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "jobTitle",
    "department",
    "companyName",
    "mobilePhone",
    "employeeId",
    "accountEnabled",
];

/// One page of a Graph collection (plain or delta).
#[derive(Debug, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub value: Vec<Value>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
}

/// A Graph error body: `{"error": {"code", "message"}}`.
pub fn error_text(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v["error"]["code"].as_str().unwrap_or("");
    let message = v["error"]["message"].as_str().unwrap_or("");
    match (code.is_empty(), message.is_empty()) {
        (true, true) => "no error details".into(),
        (false, true) => code.into(),
        (true, false) => message.into(),
        (false, false) => format!("{code}: {message}"),
    }
}

/// What one delta item means.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// Deleted (or soft-deleted: `reason` "changed") since the last round.
    Removed(String),
    /// Created or updated; `complete` is false when Graph sent only some
    /// properties (then the connector reads the whole object).
    Present { id: String, complete: bool },
}

pub fn change(item: &Value) -> Option<Change> {
    let id = item["id"].as_str()?.to_string();
    if item.get("@removed").is_some() {
        return Some(Change::Removed(id));
    }
    let complete = item.get("userPrincipalName").is_some() || item.get("displayName").is_some();
    Some(Change::Present { id, complete })
}

/// A Graph user as a source object: Graph's own property names as
/// attributes, `accountEnabled=false` as disabled, `manager` as the
/// manager's object id (from `$expand=manager` or `manager@delta`).
pub fn user(item: &Value) -> Option<SourceObject> {
    let id = item["id"].as_str()?;
    let mut o = SourceObject::new(ObjectKind::User, id);
    o.enabled = item["accountEnabled"].as_bool().unwrap_or(true);
    o.push_text("id", vec![id.to_string()]);
    for field in USER_FIELDS {
        if let Some(text) = item[field].as_str().filter(|t| !t.is_empty()) {
            o.push_text(field, vec![text.to_string()]);
        }
    }
    let manager = item["manager"]["id"]
        .as_str()
        .or_else(|| item["manager@delta"][0]["id"].as_str());
    if let Some(m) = manager {
        o.push_text("manager", vec![m.to_string()]);
    }
    Some(o)
}

/// A group with its member user ids; `name` carries `displayName` for the
/// default mapper's group name rule.
pub fn group(item: &Value, members: Vec<String>) -> Option<SourceObject> {
    let id = item["id"].as_str()?;
    let name = item["displayName"].as_str().unwrap_or(id);
    let mut o = SourceObject::new(ObjectKind::Group, id)
        .with_text("name", vec![name.to_string()])
        .with_text("displayName", vec![name.to_string()]);
    if let Some(d) = item["description"].as_str().filter(|d| !d.is_empty()) {
        o.push_text("description", vec![d.to_string()]);
    }
    o.members = members;
    Some(o)
}

/// The ids of the users among `items` (transitive members include groups).
pub fn user_ids(items: &[Value]) -> impl Iterator<Item = String> + '_ {
    items
        .iter()
        .filter(|m| {
            m["@odata.type"]
                .as_str()
                .is_none_or(|t| t == "#microsoft.graph.user")
        })
        .filter_map(|m| m["id"].as_str().map(String::from))
}

/// The cursor: the delta link of each collection read.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Cursor {
    pub users: Option<String>,
    pub groups: Option<String>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("strings serialize")
    }

    /// The stored cursor, if it is ours and points at `base`.
    pub fn decode(text: &str, base: &str) -> Option<Cursor> {
        let c: Cursor = serde_json::from_str(text).ok()?;
        let ours = |l: &Option<String>| l.as_deref().is_none_or(|l| l.starts_with(base));
        (ours(&c.users) && ours(&c.groups)).then_some(c)
    }
}

/// The application permission a 403 on `url` points to.
pub fn permission_for(url: &str) -> &'static str {
    let path = url.split('?').next().unwrap_or(url);
    if path.contains("/transitiveMembers")
        || path.contains("/members")
        || path.contains("/transitiveMemberOf")
    {
        "GroupMember.Read.All"
    } else if path.contains("/groups") {
        "Group.Read.All"
    } else {
        "User.Read.All"
    }
}

/// Seconds from a `Retry-After` header (seconds form), else `default`.
pub fn retry_after(value: Option<&str>, default: u32) -> u32 {
    value
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(default)
}
