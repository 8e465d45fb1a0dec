//! The audit `changes` shapes a first sync writes most of, stored compact
//! and read back in the shape every other event has.
//!
//! A first sync creates every user, and each joins its groups. Read, that
//! is one `user:create` event (`[{"field", "old": null, "new"}]`) and one
//! `membership:join` event (`{"groups": [{"group", "group_id"}]}`) per user.
//! Stored, it is one row: `[[field, value], ...]` for a user who joins no
//! group, `{"fields": [[field, value], ...], "groups": [[name, id], ...]}`
//! for one who does. Pairs are ~40% smaller than the read shape, and one
//! row instead of two took a 100k first sync's audit from 202k rows to 104k
//! (SQLite's cost is mostly per row). Readers never see the stored shape:
//! [`readable`] expands it (a stored row may read as two events, which
//! share its id), and rows written before it pass through unchanged.

use super::audit_read::AuditRow;
use crate::engine::FieldChange;

/// A created user's fields, and the groups it joins, each as
/// [`joined_group`] wrote it. Fields are serialized straight from the pairs
/// (building a `serde_json::Value` first was 3% of a 100k-user first sync's
/// apply); each group is escaped once per run, not once per member: at 1M
/// users, escaping 6M group names and ids again was a quarter of the audit.
pub(super) fn created(fields: &[(&str, &str)], groups: &[&str]) -> String {
    let fields = serde_json::to_string(fields).expect("pairs serialize");
    if groups.is_empty() {
        return fields;
    }
    // What serde writes for `{fields, groups}`, compact.
    format!(r#"{{"fields":{fields},"groups":[{}]}}"#, groups.join(","))
}

/// A group a created user joins, as [`created`] stores it: `[name, id]`.
pub(super) fn joined_group(name: &str, source_id: &str) -> String {
    serde_json::to_string(&(name, source_id)).expect("pairs serialize")
}

/// Whether a stored row holds a created user's joins too: an audit search
/// for memberships must read it (`Store::audit`'s SQL says the same).
pub(super) const JOINS_PREFIX: &str = r#"{"fields":[["#;

/// An event as readers see it.
#[derive(Debug, PartialEq)]
pub(super) struct Readable {
    pub changes: String,
    /// The `membership:join` event a created user's row also holds.
    pub joined: Option<String>,
}

/// `changes` as readers see it: the stored compact shapes expanded, any
/// other text as it is.
pub(super) fn readable(category: &str, action: &str, changes: String) -> Readable {
    let expanded = match (category, action) {
        ("user", "create") if changes.starts_with("[[") => {
            created_as_changes(&changes).map(|c| (c, None))
        }
        ("user", "create") if changes.starts_with(JOINS_PREFIX) => created_and_joined(&changes),
        ("membership", "join") if changes.starts_with(r#"{"groups":[["#) => {
            joined_as_groups(&changes).map(|j| (j, None))
        }
        _ => None,
    };
    let (changes, joined) = expanded.unwrap_or((changes, None));
    Readable { changes, joined }
}

/// A stored row as the events readers see: one, or a created user's
/// `user:create` and then its `membership:join`, newest first as the audit
/// search lists them.
pub(super) fn as_read(mut row: AuditRow) -> impl Iterator<Item = AuditRow> {
    let Some(changes) = row.changes.take() else {
        return [Some(row), None].into_iter().flatten();
    };
    let read = readable(&row.category, &row.action, changes);
    row.changes = Some(read.changes);
    let join = read.joined.map(|joined| AuditRow {
        category: "membership".into(),
        action: "join".into(),
        changes: Some(joined),
        ..row.clone()
    });
    [join, Some(row)].into_iter().flatten()
}

type Pairs = Vec<(String, String)>;

/// `{"fields": [...], "groups": [...]}` as a create's changes and a join's.
fn created_and_joined(stored: &str) -> Option<(String, Option<String>)> {
    #[derive(serde::Deserialize)]
    struct Stored {
        fields: Pairs,
        groups: Pairs,
    }
    let stored: Stored = serde_json::from_str(stored).ok()?;
    Some((field_changes(stored.fields)?, Some(groups(&stored.groups))))
}

/// `[[field, value], ...]` as `[{"field", "old": null, "new"}, ...]`.
fn created_as_changes(stored: &str) -> Option<String> {
    field_changes(serde_json::from_str(stored).ok()?)
}

fn field_changes(fields: Pairs) -> Option<String> {
    let changes: Vec<FieldChange> = fields
        .into_iter()
        .map(|(field, new)| FieldChange {
            field,
            old: None,
            new: Some(new),
        })
        .collect();
    serde_json::to_string(&changes).ok()
}

/// `{"groups": [[name, id], ...]}` (rows written before a create held its
/// joins) as `{"groups": [{"group", "group_id"}, ...]}`.
fn joined_as_groups(stored: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Stored {
        groups: Pairs,
    }
    let stored: Stored = serde_json::from_str(stored).ok()?;
    Some(groups(&stored.groups))
}

/// Keys in sorted order, as serde_json writes an object.
fn groups(pairs: &[(String, String)]) -> String {
    let groups: Vec<_> = pairs
        .iter()
        .map(|(group, group_id)| serde_json::json!({"group": group, "group_id": group_id}))
        .collect();
    serde_json::json!({ "groups": groups }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(category: &str, action: &str, stored: &str) -> Readable {
        readable(category, action, stored.into())
    }

    #[test]
    fn a_created_user_reads_back_as_field_changes_in_order() {
        let stored = created(
            &[("username", "zoë"), ("email", "z@x"), ("active", "false")],
            &[],
        );
        assert_eq!(
            stored,
            r#"[["username","zoë"],["email","z@x"],["active","false"]]"#
        );
        assert_eq!(
            read("user", "create", &stored),
            Readable {
                changes: r#"[{"field":"username","old":null,"new":"zoë"},{"field":"email","old":null,"new":"z@x"},{"field":"active","old":null,"new":"false"}]"#.into(),
                joined: None,
            }
        );
    }

    #[test]
    fn a_created_user_and_its_joins_are_one_row_read_as_two_events() {
        let groups = [joined_group("Team \"A\"", "g-1"), joined_group("b", "g-2")];
        let stored = created(
            &[("username", "zoë")],
            &groups.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(
            stored,
            r#"{"fields":[["username","zoë"]],"groups":[["Team \"A\"","g-1"],["b","g-2"]]}"#
        );
        assert!(stored.starts_with(JOINS_PREFIX));
        assert_eq!(
            read("user", "create", &stored),
            Readable {
                changes: r#"[{"field":"username","old":null,"new":"zoë"}]"#.into(),
                joined: Some(
                    r#"{"groups":[{"group":"Team \"A\"","group_id":"g-1"},{"group":"b","group_id":"g-2"}]}"#
                        .into()
                ),
            }
        );
    }

    #[test]
    fn a_join_stored_on_its_own_reads_back_as_group_and_group_id() {
        assert_eq!(
            read("membership", "join", r#"{"groups":[["b","g-2"]]}"#).changes,
            r#"{"groups":[{"group":"b","group_id":"g-2"}]}"#
        );
    }

    #[test]
    fn rows_in_the_read_shape_and_other_events_pass_through() {
        for (category, action, changes) in [
            (
                "user",
                "create",
                r#"[{"field":"username","old":null,"new":"a"}]"#,
            ),
            (
                "membership",
                "join",
                r#"{"groups":[{"group":"g","group_id":"1"}]}"#,
            ),
            ("user", "update", r#"[["not","ours"]]"#),
            ("user", "create", "[[broken"),
            ("user", "create", r#"{"fields":[["broken"#),
        ] {
            assert_eq!(
                read(category, action, changes),
                Readable {
                    changes: changes.into(),
                    joined: None
                }
            );
        }
    }
}
