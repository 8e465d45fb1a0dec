//! One field's rule: a source (attribute list, template or constant) plus
//! transforms, compiled once at configure time.

use std::borrow::Cow;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use usersync_sdk::SourceObject;

use crate::encode::Encode;
use crate::slots::{Slots, Values};
use crate::template::Template;

/// The table form of a rule, e.g. `{ from = ["mail", "upn"], case = "lower" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    from: Option<OneOrMany>,
    template: Option<String>,
    value: Option<String>,
    replace: Option<Replace>,
    case: Option<Case>,
    /// Binary values of `from` attributes, as text.
    encode: Option<Encode>,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    required: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Replace {
    /// A regular expression; `with` may use `$1` / `${name}` groups.
    pattern: String,
    #[serde(default)]
    with: String,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Case {
    Lower,
    Upper,
}

enum Source {
    From(Vec<u16>),
    Template(Template),
    /// A constant, already transformed at configure time.
    Value(Option<String>),
}

pub struct Rule {
    source: Source,
    replace: Option<(Regex, String)>,
    case: Option<Case>,
    /// With the `from` names: their first binary value is encoded.
    encode: Option<(Encode, Vec<Box<str>>)>,
    prefix: String,
    suffix: String,
    pub required: bool,
}

impl Rule {
    /// A built-in rule: the first of `names` that has a value, unchanged.
    pub fn first_of(names: &[&str], slots: &mut Slots) -> Rule {
        let from = names.iter().map(|n| slots.intern(n)).collect();
        Rule::plain(Source::From(from))
    }

    fn plain(source: Source) -> Rule {
        Rule {
            source,
            replace: None,
            case: None,
            encode: None,
            prefix: String::new(),
            suffix: String::new(),
            required: false,
        }
    }

    /// Compiles the rule configured for `field` (a template string or a table).
    pub fn compile(field: &str, spec: &Value, slots: &mut Slots) -> Result<Rule, String> {
        let fail = |e: String| format!("mapping.{field}: {e}");
        let table = match spec {
            Value::String(t) => {
                return Ok(Rule::plain(Source::Template(
                    Template::parse(t, slots).map_err(fail)?,
                )))
            }
            Value::Object(_) => Table::deserialize(spec).map_err(|e| fail(e.to_string()))?,
            _ => {
                return Err(fail(
                    "must be a template string or a table with `from`, `template` or `value`"
                        .into(),
                ))
            }
        };
        let mut encode = None;
        let source = match (table.from, table.template, table.value) {
            (Some(from), None, None) => {
                let names = match from {
                    OneOrMany::One(n) => vec![n],
                    OneOrMany::Many(ns) => ns,
                };
                if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
                    return Err(fail("`from` needs one or more attribute names".into()));
                }
                encode = table
                    .encode
                    .map(|e| (e, names.iter().map(|n| n.trim().into()).collect()));
                Source::From(names.iter().map(|n| slots.intern(n.trim())).collect())
            }
            _ if table.encode.is_some() => {
                return Err(fail(
                    "`encode` works with `from` only (it encodes binary attribute values)".into(),
                ))
            }
            (None, Some(t), None) => Source::Template(Template::parse(&t, slots).map_err(fail)?),
            (None, None, Some(v)) => Source::Value(Some(v)),
            _ => {
                return Err(fail(
                    "give exactly one of `from`, `template` or `value`".into(),
                ))
            }
        };
        let replace = match table.replace {
            Some(r) => {
                let re = Regex::new(&r.pattern)
                    .map_err(|e| fail(format!("invalid `replace` pattern: {e}")))?;
                Some((re, r.with))
            }
            None => None,
        };
        let mut rule = Rule {
            source,
            replace,
            case: table.case,
            encode,
            prefix: table.prefix,
            suffix: table.suffix,
            required: table.required,
        };
        // A constant never changes: transform it once here, not per record.
        if let Source::Value(Some(v)) = &mut rule.source {
            let v = std::mem::take(v);
            rule.source = Source::Value(rule.finish(Cow::Owned(v)));
        }
        Ok(rule)
    }

    /// The field's value for one record; `None` when it comes out empty.
    /// Errs only when a binary value cannot be encoded as asked.
    pub fn eval(&self, values: &Values) -> Result<Option<String>, String> {
        Ok(match &self.source {
            Source::Value(v) => v.clone(),
            Source::From(from) => {
                if let Some((encode, names)) = &self.encode {
                    // Per attribute, in order: its binary value (encoded),
                    // else its text (sources that already give text).
                    for (name, &slot) in names.iter().zip(from) {
                        if let Some(bytes) = values.bytes(name) {
                            let text = encode.apply(bytes).map_err(|e| format!("`{name}`: {e}"))?;
                            return Ok(self.finish(Cow::Owned(text)));
                        }
                        if let Some(v) = values.get(slot) {
                            return Ok(self.finish(Cow::Borrowed(v)));
                        }
                    }
                    return Ok(None);
                }
                match from.iter().find_map(|&s| values.get(s)) {
                    Some(v) => self.finish(Cow::Borrowed(v)),
                    None => None,
                }
            }
            Source::Template(t) => {
                let mut out = String::new();
                if !t.render(values, &mut out) {
                    return Ok(None);
                }
                self.finish(Cow::Owned(out))
            }
        })
    }

    /// Every value of the attribute the rule's value comes from (the first
    /// of its `from` names that has one), transformed as `eval` does, without
    /// duplicates, the rule's value first: a field the target keeps one of
    /// (email) can keep the others elsewhere. Empty for templates, constants
    /// and encoded rules.
    pub fn all_values(&self, object: &SourceObject, slots: &Slots) -> Vec<String> {
        let Source::From(from) = &self.source else {
            return Vec::new();
        };
        if self.encode.is_some() {
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for &slot in from {
            for v in object.texts(slots.name(slot)) {
                if let Some(v) = self.finish(Cow::Borrowed(v)) {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
            if !out.is_empty() {
                break;
            }
        }
        out
    }

    /// Applies replace, case, prefix and suffix, in that order. An empty
    /// value stays empty: a prefix alone is not a value.
    fn finish(&self, core: Cow<str>) -> Option<String> {
        let replaced = self.replace.as_ref().and_then(|(re, with)| {
            match re.replace_all(&core, with.as_str()) {
                Cow::Owned(s) => Some(s),
                Cow::Borrowed(_) => None, // no match: keep `core` without a copy
            }
        });
        let core = replaced.map_or(core, Cow::Owned);
        if core.trim().is_empty() {
            return None;
        }
        if self.case.is_none() && self.prefix.is_empty() && self.suffix.is_empty() {
            return Some(core.into_owned());
        }
        let mut out = String::with_capacity(self.prefix.len() + core.len() + self.suffix.len());
        out.push_str(&self.prefix);
        match self.case {
            None => out.push_str(&core),
            Some(Case::Lower) if core.is_ascii() => {
                let at = out.len();
                out.push_str(&core);
                out[at..].make_ascii_lowercase();
            }
            Some(Case::Upper) if core.is_ascii() => {
                let at = out.len();
                out.push_str(&core);
                out[at..].make_ascii_uppercase();
            }
            Some(Case::Lower) => out.push_str(&core.to_lowercase()),
            Some(Case::Upper) => out.push_str(&core.to_uppercase()),
        }
        out.push_str(&self.suffix);
        Some(out)
    }

    /// What the rule read, for "is empty" messages: "none of uid, mail has a value".
    pub fn describe_sources(&self, slots: &Slots) -> String {
        let join = |it: &mut dyn Iterator<Item = u16>| {
            it.map(|s| slots.name(s)).collect::<Vec<_>>().join(", ")
        };
        match &self.source {
            Source::From(from) => {
                format!("none of {} has a value", join(&mut from.iter().copied()))
            }
            Source::Template(t) => {
                let attrs = join(&mut t.attrs());
                if attrs.is_empty() {
                    format!("template `{}` gave nothing", t.source())
                } else {
                    format!(
                        "template `{}` gave nothing (none of {attrs} has a value)",
                        t.source()
                    )
                }
            }
            Source::Value(_) => "its `value` is empty".to_string(),
        }
    }
}
