//! Native unit tests of the parsing side (no host calls).

use usersync_sdk::{ObjectKind, SourceObject};

use crate::config::Config;
use crate::parse::{is_disabled, split_values, Reader, Row};

fn config(extra: &str) -> Config {
    let json = format!(r#"{{"path":"/input/t.csv","id_column":"id"{extra}}}"#);
    let c: Config = serde_json::from_str(&json).unwrap();
    c.validate().unwrap();
    c
}

/// Every row of `text`, as users and (ref, message) rejects.
fn read_all(
    text: &str,
    c: &Config,
) -> (Vec<SourceObject>, Vec<(String, String)>, Vec<SourceObject>) {
    let mut r = Reader::new(text.as_bytes(), c).unwrap();
    let (mut users, mut rejects) = (Vec::new(), Vec::new());
    while let Some(row) = r.next_row().unwrap() {
        match row {
            Row::User(u) => users.push(u),
            Row::Reject {
                record_ref,
                message,
            } => rejects.push((record_ref, message)),
        }
    }
    (users, rejects, r.group_objects())
}

fn texts(o: &SourceObject, name: &str) -> Vec<String> {
    o.texts(name).map(String::from).collect()
}

#[test]
fn basic_rows_become_users() {
    let c = config(r#","enabled_column":"active","groups_column":"groups""#);
    let csv =
        "id,uid,mail,active,groups\nE1,alice, alice@x.org ,yes,Staff;Admins\nE2,bob,,No,Staff\n";
    let (users, rejects, groups) = read_all(csv, &c);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(users.len(), 2);
    let a = &users[0];
    assert_eq!(a.kind, ObjectKind::User);
    assert_eq!(a.id, "E1");
    assert!(a.ref_key.is_empty());
    assert!(a.enabled);
    assert_eq!(texts(a, "uid"), ["alice"]);
    assert_eq!(texts(a, "mail"), ["alice@x.org"]); // trimmed
    assert_eq!(texts(a, "id"), ["E1"]); // the id stays visible to mappers
    assert!(a.attribute("active").is_none() && a.attribute("groups").is_none());
    assert_eq!(a.member_of, ["Staff", "Admins"]);
    let b = &users[1];
    assert!(!b.enabled);
    assert!(
        b.attribute("mail").is_none(),
        "empty values are not emitted"
    );
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].id, "Staff");
    assert_eq!(groups[0].ref_key, "Staff");
    assert_eq!(groups[0].kind, ObjectKind::Group);
    assert_eq!(texts(&groups[0], "cn"), ["Staff"]);
    assert_eq!(groups[1].id, "Admins");
}

#[test]
fn bom_quotes_and_newlines() {
    let c = config("");
    let csv = "\u{feff}id,note\n\"E1\",\"two\nlines, and a comma\"\n";
    let (users, rejects, _) = read_all(csv, &c);
    assert!(rejects.is_empty());
    assert_eq!(users[0].id, "E1");
    assert_eq!(texts(&users[0], "note"), ["two\nlines, and a comma"]);
}

#[test]
fn malformed_rows_are_rejected_with_line_numbers() {
    let c = config("");
    let csv = "id,a,b\nE1,1,2\nE2,1\n,1,2\nE1,3,4\nE3,1,2,3\nE4,5,6\n";
    let (users, rejects, _) = read_all(csv, &c);
    let ids: Vec<_> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["E1", "E4"]);
    assert_eq!(rejects.len(), 4);
    assert_eq!(rejects[0].0, "line 3");
    assert_eq!(
        rejects[0].1,
        "line 3: has 2 fields but the header has 3; check quoting and delimiters"
    );
    assert!(
        rejects[1].1.contains("id column `id` is empty"),
        "{}",
        rejects[1].1
    );
    assert_eq!(rejects[2].0, "line 5");
    assert!(
        rejects[2]
            .1
            .starts_with("line 5: id `E1` already used on line 2"),
        "{}",
        rejects[2].1
    );
    assert!(rejects[3].1.contains("has 4 fields"));
}

#[test]
fn line_numbers_count_embedded_newlines() {
    let c = config("");
    let csv = "id,a\nE1,\"x\ny\"\nE2\n";
    let (_, rejects, _) = read_all(csv, &c);
    assert_eq!(rejects[0].0, "line 4");
}

#[test]
fn invalid_utf8_is_rejected() {
    let c = config("");
    let mut bytes = b"id,name\nE1,ok\nE2,".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let mut r = Reader::new(bytes.as_slice(), &c).unwrap();
    assert!(matches!(r.next_row().unwrap(), Some(Row::User(_))));
    match r.next_row().unwrap() {
        Some(Row::Reject { message, .. }) => {
            assert!(message.contains("`name` is not valid UTF-8"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(r.next_row().unwrap().is_none());
    assert_eq!(r.rows(), 2);
}

#[test]
fn delimiter_columns_and_multi_values() {
    let c = config(
        r#","delimiter":";","columns":{"E-Mail":"mail"},"multi_valued":["phones"],"multi_value_separator":"|""#,
    );
    let csv = "ID;E-Mail;phones\nE1;a@x;1 | 2 ||3\n";
    let (users, rejects, _) = read_all(csv, &c);
    assert!(rejects.is_empty());
    assert_eq!(users[0].id, "E1"); // id_column matched case-insensitively
    assert_eq!(texts(&users[0], "mail"), ["a@x"]);
    assert!(users[0].attribute("E-Mail").is_none());
    assert_eq!(texts(&users[0], "phones"), ["1", "2", "3"]);
}

#[test]
fn groups_and_multi_values_share_one_default_separator() {
    let c = config(r#","groups_column":"groups","multi_valued":["mail"]"#);
    let csv = "id,mail,groups\nE1,a@x;b@x,Staff;Admins\n";
    let (users, rejects, _) = read_all(csv, &c);
    assert!(rejects.is_empty());
    assert_eq!(texts(&users[0], "mail"), ["a@x", "b@x"]);
    assert_eq!(users[0].member_of, ["Staff", "Admins"]);
}

#[test]
fn header_problems() {
    let c = config(r#","columns":{"nope":"x"}"#);
    let err = Reader::new("uid,mail\n".as_bytes(), &c).err().unwrap();
    assert_eq!(
        err,
        "id_column `id` is not a column; the header has: uid, mail"
    );
    let err = Reader::new("".as_bytes(), &c).err().unwrap();
    assert!(err.contains("empty"), "{err}");
    let r = Reader::new("id,mail\n".as_bytes(), &c).unwrap();
    assert!(r.warnings()[0].contains("`nope`"));
    let c = config(r#","groups_column":"grps""#);
    let err = Reader::new("id,groups\n".as_bytes(), &c).err().unwrap();
    assert!(
        err.starts_with("groups_column `grps` is not a column"),
        "{err}"
    );
}

#[test]
fn group_order_and_dedup() {
    let c = config(r#","groups_column":"g","groups_separator":",""#);
    let csv = "id,g\nE1,\"B, A, B\"\nE2,C;D\nE3,A\n";
    let (users, _, groups) = read_all(csv, &c);
    assert_eq!(users[0].member_of, ["B", "A"]);
    assert_eq!(users[1].member_of, ["C;D"]);
    let names: Vec<_> = groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(names, ["B", "A", "C;D"]);
}

#[test]
fn helpers() {
    for v in ["false", "FALSE", "0", "No", "n", "Disabled", "INACTIVE"] {
        assert!(is_disabled(v), "{v}");
    }
    for v in ["", "true", "1", "yes", "active", "maybe"] {
        assert!(!is_disabled(v), "{v}");
    }
    assert_eq!(split_values(" a ;; b;a ", ";"), ["a", "b"]);
    assert!(split_values("  ", ";").is_empty());
}

#[test]
fn match_field_and_manager_column() {
    let json = r#"{"url":"https://files.example.com/p.csv","match_field":"login","manager_column":"boss"}"#;
    let c: Config = serde_json::from_str(json).unwrap();
    c.validate().unwrap();
    let csv = "login,mail,boss\nada,ada@x.org,\ngrace,grace@x.org,ada\n";
    let (users, rejects, _) = read_all(csv, &c);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(
        users[0].id, "ada",
        "the match field is the id when id_column is not set"
    );
    assert_eq!(users[1].ref_key, "grace");
    assert_eq!(texts(&users[1], "username"), ["grace"]);
    assert_eq!(texts(&users[1], "manager"), ["ada"]);
    assert!(users[0].attribute("manager").is_none());
}

#[test]
fn crlf_line_numbers_match_the_file() {
    // What Excel and Python write: CRLF endings, and a quoted field holding
    // a line break. Line 1 is the header.
    let c = config("");
    let csv = "id,a\r\nE1,1\r\nE2\r\nE3,\"x\r\ny\"\r\nE4\r\n\r\nE5\r\n";
    let (users, rejects, _) = read_all(csv, &c);
    let ids: Vec<_> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["E1", "E3"]);
    let lines: Vec<_> = rejects.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(lines, ["line 3", "line 6", "line 8"]);
    // The same file with LF endings cites the same lines.
    let (_, rejects, _) = read_all(&csv.replace("\r\n", "\n"), &c);
    let lines: Vec<_> = rejects.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(lines, ["line 3", "line 6", "line 8"]);
}

#[test]
fn duplicate_ids_cite_the_first_line_with_crlf() {
    let c = config("");
    let csv = "id,a\r\nE1,\"a\r\nb\"\r\nE1,2\r\n";
    let (_, rejects, _) = read_all(csv, &c);
    assert_eq!(rejects[0].0, "line 4");
    assert!(
        rejects[0].1.contains("already used on line 2"),
        "{}",
        rejects[0].1
    );
}
