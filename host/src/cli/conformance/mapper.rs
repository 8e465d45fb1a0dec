//! The mapper checks: it accepts the fixture's `[mapping]` (or an empty
//! one), survives an empty batch and odd records (empty strings, huge
//! values, unicode, binary), maps the same input to the same output, and
//! gives a reason with every reject.

use std::sync::Arc;

use crate::config::Limits;
use crate::runtime::{
    CallContext, LoadedPlugin, MapperInstance, Runtime, WireAttribute, WireKind, WireObject,
    WireValue,
};

use super::report::Verdict;

pub const CONFIGURE: &str = "accepts its configuration";
pub const EMPTY: &str = "survives an empty batch";
pub const ODD: &str = "survives odd records (empty, huge, unicode, binary)";
pub const DETERMINISTIC: &str = "same input gives the same output";
pub const REASONS: &str = "every reject carries a reason";

const NEVER_PANIC: &str =
    "never panic on odd input: return a record error with a reason (or None to skip the record)";

fn text(name: &str, values: &[&str]) -> WireAttribute {
    WireAttribute {
        name: name.to_string(),
        values: values
            .iter()
            .map(|v| WireValue::Text(v.to_string()))
            .collect(),
    }
}

fn object(kind: WireKind, id: &str, attributes: Vec<WireAttribute>) -> WireObject {
    WireObject {
        kind,
        id: id.to_string(),
        ref_key: String::new(),
        enabled: true,
        attributes,
        member_of: Vec::new(),
        members: Vec::new(),
    }
}

/// What directories really send, and the corners they sometimes send.
fn odd_users() -> Vec<WireObject> {
    let names = [
        "uid",
        "username",
        "givenName",
        "sn",
        "displayName",
        "mail",
        "email",
        "title",
        "department",
        "employeeNumber",
        "telephoneNumber",
        "manager",
    ];
    let plain = object(
        WireKind::User,
        "conformance-1001",
        vec![
            text("uid", &["ada"]),
            text("username", &["ada"]),
            text("givenName", &["Ada"]),
            text("sn", &["Lovelace"]),
            text("displayName", &["Ada Lovelace"]),
            text("mail", &["ada@example.com"]),
            text("title", &["Engineer"]),
            text("department", &["R&D"]),
            text("employeeNumber", &["1001"]),
        ],
    );
    let empty = object(
        WireKind::User,
        "conformance-empty",
        names
            .iter()
            .map(|n| text(n, &[""]))
            .chain([WireAttribute {
                name: "memberOf".into(),
                values: vec![],
            }])
            .collect(),
    );
    let huge_value = "x".repeat(256 * 1024);
    let huge = object(
        WireKind::User,
        "conformance-huge",
        names
            .iter()
            .map(|n| text(n, &[huge_value.as_str(), huge_value.as_str()]))
            .collect(),
    );
    let unicode = object(
        WireKind::User,
        "conformance-ünï-李",
        vec![
            text("uid", &["zoë.ñúñez"]),
            text("username", &["zoë.ñúñez"]),
            text("givenName", &["Zoë"]),
            text("sn", &["Ñúñez 李 👩‍💻"]),
            text("displayName", &["مرحبا Zoë\u{200f}"]),
            text("mail", &["zoë@exämple.com"]),
            text("title", &["e\u{301}ngineer\0"]),
        ],
    );
    let mut binary = object(
        WireKind::User,
        "conformance-binary",
        vec![text("uid", &["bin"])],
    );
    binary.attributes.push(WireAttribute {
        name: "objectGUID".into(),
        values: vec![WireValue::Binary(vec![0, 255, 128, 7])],
    });
    binary.enabled = false;
    let bare = object(WireKind::User, "", vec![]);
    vec![plain, empty, huge, unicode, binary, bare]
}

fn odd_groups() -> Vec<WireObject> {
    vec![
        object(
            WireKind::Group,
            "conformance-staff",
            vec![text("cn", &["Staff"])],
        ),
        object(
            WireKind::Group,
            "conformance-unicode",
            vec![text("cn", &["Équipe 李 👩‍💻"])],
        ),
        object(
            WireKind::Group,
            "conformance-empty",
            vec![text("cn", &[""])],
        ),
    ]
}

/// One mapping of the standard batches, as comparable text, and every
/// reject's (record, message).
struct Mapped {
    text: String,
    rejects: Vec<(String, String)>,
}

fn map_all(m: &mut MapperInstance) -> anyhow::Result<Mapped> {
    let users = m.map_users(&odd_users())?;
    let groups = m.map_groups(&odd_groups())?;
    let mut rejects: Vec<(String, String)> = users
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| (e.record.clone(), e.message.clone()))
        .collect();
    rejects.extend(
        groups
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| (e.record.clone(), e.message.clone())),
    );
    Ok(Mapped {
        text: format!("{users:?}\n{groups:?}"),
        rejects,
    })
}

pub fn check(
    rt: &Arc<Runtime>,
    plugin: &LoadedPlugin,
    limits: &Limits,
    mapping: Option<&str>,
) -> Vec<Verdict> {
    let mapping = mapping.unwrap_or("{}");
    let ctx = || CallContext {
        tenant: "conformance".into(),
        job: "conformance".into(),
        run: "conformance".into(),
        plugin: plugin.manifest.name.clone(),
        version: plugin.manifest.version.clone(),
    };
    let new = || MapperInstance::new(rt, plugin, limits, ctx(), mapping);
    let shown = if mapping == "{}" {
        "an empty [mapping]".to_string()
    } else {
        format!("the fixture's [mapping] {mapping}")
    };
    let mut m = match new() {
        Ok(m) => m,
        Err(e) => {
            return vec![Verdict::fail(CONFIGURE, format!("refused {shown}: {e:#}"), "accept an empty [mapping] with sensible defaults, and say which key is wrong in one that is not")];
        }
    };
    let mut out = vec![Verdict::pass(CONFIGURE, format!("configured with {shown}"))];
    out.push(match (m.map_users(&[]), m.map_groups(&[])) {
        (Ok(u), Ok(g)) if u.is_empty() && g.is_empty() => {
            Verdict::pass(EMPTY, "no records in, none out")
        }
        (Err(e), _) | (_, Err(e)) => Verdict::fail(
            EMPTY,
            format!("{e:#}"),
            "return an empty list for an empty batch",
        ),
        _ => Verdict::fail(
            EMPTY,
            "returned results for an empty batch",
            "return one result per record, none for an empty batch",
        ),
    });
    // A crashed instance is gone: each check below gets a fresh one.
    let first = new().and_then(|mut m| map_all(&mut m));
    let first = match first {
        Ok(f) => {
            out.push(Verdict::pass(
                ODD,
                format!(
                    "{} users and {} groups mapped or rejected",
                    odd_users().len(),
                    odd_groups().len()
                ),
            ));
            f
        }
        Err(e) => {
            out.push(Verdict::fail(ODD, format!("{e:#}"), NEVER_PANIC));
            out.push(Verdict::skip(DETERMINISTIC, "needs the odd records mapped"));
            return out;
        }
    };
    let again = new().and_then(|mut m| {
        map_all(&mut m)?;
        map_all(&mut m)
    });
    out.push(match again {
        Ok(a) if a.text == first.text => Verdict::pass(DETERMINISTIC, "a fresh instance and a used one mapped the batch alike"),
        Ok(_) => Verdict::fail(DETERMINISTIC, "the same records mapped twice gave different results", "map from the record and the [mapping] alone: no clocks, random values or state carried between batches"),
        Err(e) => Verdict::fail(DETERMINISTIC, format!("mapping the batch a second time failed: {e:#}"), NEVER_PANIC),
    });
    let bare: Vec<&(String, String)> = first
        .rejects
        .iter()
        .filter(|(_, why)| why.trim().is_empty())
        .collect();
    out.push(if first.rejects.is_empty() {
        Verdict::pass(REASONS, "no record was rejected")
    } else {
        Verdict::judge(
            REASONS,
            (!bare.is_empty()).then(|| format!("{} of {} rejects have no reason (records {})", bare.len(), first.rejects.len(), super::connector::some(bare.iter().map(|(r, _)| r)))),
            format!("{} rejects, each with a reason (e.g. {:?}: {})", first.rejects.len(), first.rejects[0].0, first.rejects[0].1),
            "return RecordError with the field at fault and what to change, e.g. RecordError::missing(\"mail\")",
        )
    });
    out
}
