//! The secrets of a job given through the API, in its JSON body: sealed
//! before the body is stored, opened when a node reads it, and shown as
//! `"(set)"` in every answer. Through the API a secret is a value only:
//! `env:` and `file:` references would let a tenant read the node's
//! environment or files.

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use super::seal::{context, SealKey, HOW_TO_SET_A_KEY};

/// What answers show instead of a secret; sent back, it keeps the stored one.
pub const SET: &str = "(set)";

/// Every secret slot of a job body: (dotted key, JSON pointer).
fn slots(job: &Value) -> Vec<(String, String)> {
    let esc = |s: &str| s.replace('~', "~0").replace('/', "~1");
    let mut out = Vec::new();
    if let Some(Value::Object(secrets)) = job.get("secrets") {
        for name in secrets.keys() {
            out.push((format!("secrets.{name}"), format!("/secrets/{}", esc(name))));
        }
    }
    if let Some(Value::Object(creds)) = job.get("credentials") {
        for (name, c) in creds {
            for field in ["client_secret", "token", "password"] {
                if c.get(field).is_some() {
                    out.push((
                        format!("credentials.{name}.{field}"),
                        format!("/credentials/{}/{field}", esc(name)),
                    ));
                }
            }
        }
    }
    if job.pointer("/ldap/bind_password").is_some() {
        out.push(("ldap.bind_password".into(), "/ldap/bind_password".into()));
    }
    out
}

/// The plaintext a client gave for one slot, or `None` for `"(set)"`.
fn given(key: &str, v: &Value) -> Result<Option<String>> {
    let refuse_ref = || {
        anyhow!("jobs.{key}: `env:` and `file:` secrets are not taken through the API (a tenant must not read the node's environment or files); give the value itself, it is stored sealed")
    };
    match v {
        Value::String(s) if s == SET => Ok(None),
        Value::String(s) if s.starts_with("env:") || s.starts_with("file:") => Err(refuse_ref()),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Object(m) if m.contains_key("env") || m.contains_key("file") => Err(refuse_ref()),
        Value::Object(m) => match (m.len(), m.get("value")) {
            (1, Some(Value::String(s))) => Ok(Some(s.clone())),
            _ => bail!("jobs.{key}: give the secret as a string or {{\"value\": \"...\"}}"),
        },
        _ => bail!("jobs.{key}: give the secret as a string or {{\"value\": \"...\"}}"),
    }
}

/// `body` twice: with its secrets in the clear as `{"value": ...}` (to be
/// checked, never stored) and sealed as `{"sealed": ...}` (to be stored).
/// A slot sent as `"(set)"` keeps the value sealed in `previous`.
pub fn seal(
    key: Option<&SealKey>,
    tenant: &str,
    job: &str,
    body: &Value,
    previous: Option<&Value>,
) -> Result<(Value, Value)> {
    let (mut plain, mut sealed) = (body.clone(), body.clone());
    for (dotted, pointer) in slots(body) {
        let value = body.pointer(&pointer).expect("a slot exists");
        let sent = given(&dotted, value)?;
        let Some(key) = key else {
            bail!("jobs.{dotted}: this node has no key to seal secrets with, so it does not store them; {HOW_TO_SET_A_KEY}");
        };
        let ctx = context(tenant, job, &dotted);
        let text = match sent {
            Some(text) => text,
            None => {
                let old = previous
                    .and_then(|p| p.pointer(&pointer))
                    .and_then(|v| v.get("sealed"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("jobs.{dotted} = \"(set)\" but this job has no such secret yet; give the value"))?;
                key.open(old, &ctx)?
            }
        };
        *sealed.pointer_mut(&pointer).expect("a slot") = json!({ "sealed": key.seal(&text, &ctx) });
        *plain.pointer_mut(&pointer).expect("a slot") = json!({ "value": text });
    }
    Ok((plain, sealed))
}

/// A stored body with its secrets opened (as `{"value": ...}`).
pub fn open(key: Option<&SealKey>, tenant: &str, job: &str, stored: &Value) -> Result<Value> {
    let mut plain = stored.clone();
    for (dotted, pointer) in slots(stored) {
        let Some(sealed) = stored
            .pointer(&pointer)
            .and_then(|v| v.get("sealed"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let Some(key) = key else {
            bail!("jobs.{dotted} is sealed and this node has no key to open it; {HOW_TO_SET_A_KEY} (the same key on every node)");
        };
        let text = key
            .open(sealed, &context(tenant, job, &dotted))
            .map_err(|e| anyhow!("jobs.{dotted}: {e}"))?;
        *plain.pointer_mut(&pointer).expect("a slot") = json!({ "value": text });
    }
    Ok(plain)
}

/// A body as answers show it: every secret `"(set)"`.
pub fn redact(body: &Value) -> Value {
    let mut out = body.clone();
    for (_, pointer) in slots(body) {
        *out.pointer_mut(&pointer).expect("a slot") = Value::String(SET.into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealKey {
        SealKey::parse(&hex::encode([9u8; 32])).unwrap()
    }

    #[test]
    fn secrets_are_sealed_opened_and_never_shown() {
        let body = json!({
            "connector": "graph",
            "secrets": {"api": "hunter2"},
            "credentials": {"g": {"type": "basic", "username": "u", "password": {"value": "pw-123"}}},
            "ldap": {"url": "ldaps://x", "bind_password": "bindpw"}
        });
        let (plain, sealed) = seal(Some(&key()), "acme", "people", &body, None).unwrap();
        let text = sealed.to_string();
        for s in ["hunter2", "pw-123", "bindpw"] {
            assert!(!text.contains(s) && !redact(&sealed).to_string().contains(s));
        }
        assert_eq!(plain["secrets"]["api"]["value"], "hunter2");
        let opened = open(Some(&key()), "acme", "people", &sealed).unwrap();
        assert_eq!(opened, plain);
        assert!(open(Some(&key()), "globex", "people", &sealed).is_err());
        assert!(open(None, "acme", "people", &sealed).is_err());
        // "(set)" keeps the stored value.
        let again = json!({"secrets": {"api": "(set)"}});
        let (plain2, _) = seal(Some(&key()), "acme", "people", &again, Some(&sealed)).unwrap();
        assert_eq!(plain2["secrets"]["api"]["value"], "hunter2");
    }

    #[test]
    fn references_and_keyless_nodes_are_refused() {
        for s in [
            json!("env:HOME"),
            json!("file:/etc/shadow"),
            json!({"env": "HOME"}),
        ] {
            let body = json!({"secrets": {"api": s}});
            let e = seal(Some(&key()), "a", "j", &body, None)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("jobs.secrets.api") && e.contains("not taken"),
                "{e}"
            );
        }
        let e = seal(None, "a", "j", &json!({"secrets": {"api": "x"}}), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("USERSYNC_SECRET_KEY"), "{e}");
        assert!(seal(None, "a", "j", &json!({"connector": "csv"}), None).is_ok());
    }
}
