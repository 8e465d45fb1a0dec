//! Parsing the TOML text with errors that are safe to log.
//!
//! toml's own error text quotes the offending line of the file, and serde's
//! messages quote the value (`invalid type: string "…"`). A config line may
//! hold a secret (`password = { value = "…" }`), so an error is rebuilt from
//! the dotted key, the line and column, and the message with every quoted
//! value redacted. Unknown keys get their full dotted path and, when one is
//! close, the key that was probably meant.

use serde::de::DeserializeOwned;

/// Deserialize `text`; the error names the key, line and column, never a value.
pub fn from_toml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| describe(text, &e))
}

fn describe(text: &str, e: &serde_path_to_error::Error<toml::de::Error>) -> String {
    let inner = e.inner();
    let message = inner.message().trim();
    let at = inner
        .span()
        .map(|s| {
            let (line, column) = line_column(text, s.start);
            format!("line {line}, column {column}: ")
        })
        .unwrap_or_default();
    let path = e.path().to_string();
    let path = (path != ".").then_some(path);
    if let Some(unknown) = backticked_after(message, "unknown field ") {
        // serde_path_to_error usually ends the path with the key itself.
        let key = match &path {
            Some(p) if p == unknown || p.ends_with(&format!(".{unknown}")) => p.clone(),
            Some(p) => format!("{p}.{unknown}"),
            None => unknown.to_string(),
        };
        let known = expected_names(message);
        let hint = closest(unknown, &known)
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_else(|| {
                if known.is_empty() {
                    String::new()
                } else {
                    format!("; known keys here: {}", known.join(", "))
                }
            });
        return format!("{at}unknown key `{key}`{hint}");
    }
    match path {
        Some(p) => format!("{at}{p}: {}", redact_values(message)),
        None => format!("{at}{}", redact_values(message)),
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The first `` `name` `` after `prefix` in `message`.
fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.split_once(prefix)?.1.strip_prefix('`')?;
    Some(&rest[..rest.find('`')?])
}

/// serde's "expected one of `a`, `b`" list.
fn expected_names(message: &str) -> Vec<String> {
    let Some((_, list)) = message.split_once("expected one of ") else {
        return message
            .split_once("expected `")
            .and_then(|(_, r)| r.split_once('`'))
            .map(|(k, _)| vec![k.to_string()])
            .unwrap_or_default();
    };
    list.split(", ")
        .filter_map(|n| n.trim().strip_prefix('`')?.strip_suffix('`'))
        .map(str::to_string)
        .collect()
}

/// The known key nearest to a typo, if it is near enough to be the one meant.
fn closest(typo: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(typo, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// serde quotes the value it could not use (`invalid type: string "…"`,
/// ``unknown variant `…` ``): replace every quoted value with `"…"`.
pub fn redact_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    let mut after_variant = false;
    while let Some(c) = chars.next() {
        if c == '"' {
            // Skip to the closing quote (honouring backslash escapes).
            let mut escaped = false;
            for c in chars.by_ref() {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    _ => escaped = false,
                }
            }
            out.push_str("\"…\"");
            continue;
        }
        if c == '`' && after_variant {
            // The unknown variant is the user's value; the expected list is ours.
            for c in chars.by_ref() {
                if c == '`' {
                    break;
                }
            }
            out.push_str("`…`");
            after_variant = false;
            continue;
        }
        out.push(c);
        if out.ends_with("unknown variant ") {
            after_variant = true;
        }
    }
    out
}

/// A URL as it may be shown in an error: a password or query is replaced
/// by `***` (`https://user:***@host/path?***`). Not a URL: shown as is only
/// when it cannot carry credentials.
pub fn safe_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query().is_some() {
                u.set_query(Some("***"));
            }
            u.to_string()
        }
        Err(_) if raw.contains('@') || raw.contains('?') => {
            "(not shown: it may hold a credential)".into()
        }
        Err(_) => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const SECRET: &str = "pl4nted-s3cret-value";

    fn error_of(text: &str) -> String {
        format!(
            "{:#}",
            Config::parse(text, "test.toml", "/tmp".into()).unwrap_err()
        )
    }

    #[test]
    fn a_typo_on_a_line_holding_a_secret_never_prints_the_secret() {
        let job = "[[jobs]]\nid = \"j\"\nconnector = \"c\"\n";
        let cases = [
            // A syntax error on the secret's line.
            format!("{job}[jobs.secrets]\napi = {{ value = \"{SECRET}\"\n"),
            format!("{job}[jobs.secrets]\napi = {{ value = \"{SECRET}\", }}\n"),
            format!("{job}[jobs.secrets]\napi = {{ valeu = \"{SECRET}\" }}\n"),
            format!("{job}[jobs.secrets]\napi = {{ value = \"{SECRET}\" }} x\n"),
            // A type error on it, and one elsewhere.
            format!("{job}[jobs.secrets]\napi = {{ value = [\"{SECRET}\"] }}\n"),
            format!("{job}interval_seconds = \"{SECRET}\"\n"),
            format!("[server]\ntoken = {{ value = \"{SECRET}\" }}\nlisten = 8080\n"),
            format!("[server]\ntoken = {{ value = \"{SECRET}\", env = 1 }}\n"),
            // (a string is a secret's value since issue 12; a list is not)
            format!("[server]\ntoken = [\"{SECRET}\"]\n"),
            // An unknown variant whose value is the secret.
            format!("{job}[jobs.credentials.x]\ntype = \"{SECRET}\"\n"),
            // An unterminated string holding it.
            format!("[server]\ntoken = {{ value = \"{SECRET}\n"),
        ];
        for text in cases {
            let e = error_of(&text);
            assert!(!e.contains(SECRET), "the secret leaks:\n{text}\n=> {e}");
            assert!(!e.contains("s3cret"), "part of the secret leaks: {e}");
            assert!(e.contains("line "), "no line given: {e}");
        }
    }

    #[test]
    fn unknown_keys_are_named_by_their_dotted_path_with_a_suggestion() {
        let e = error_of(
            "[[jobs]]\nid = \"j\"\nconnector = \"c\"\n[jobs.sync]\nadopt_by_usernam = true\n",
        );
        assert!(
            e.contains("unknown key `jobs[0].sync.adopt_by_usernam`"),
            "{e}"
        );
        assert!(e.contains("did you mean `adopt_by_username`"), "{e}");
        assert!(e.contains("line 5"), "{e}");
        let e = error_of("[store]\nurll = \"sqlite://x.db\"\n");
        assert!(e.contains("unknown key `store.urll`"), "{e}");
        assert!(e.contains("did you mean `url`"), "{e}");
        let e = error_of("[serverr]\nlisten = \"127.0.0.1:1\"\n");
        assert!(e.contains("unknown key `serverr`"), "{e}");
        assert!(e.contains("did you mean `server`"), "{e}");
    }

    #[test]
    fn urls_lose_their_password_and_query() {
        assert_eq!(
            safe_url("postgres://app:hunter2@db/usersync"),
            "postgres://app:***@db/usersync"
        );
        assert_eq!(
            safe_url("https://hooks.example.com/x?token=hunter2"),
            "https://hooks.example.com/x?***"
        );
        assert!(!safe_url("ldap://u:hunter2@ bad").contains("hunter2"));
    }
}
