//! User records from entries, built cheaply: the values a record sends are
//! moved out of the page's entry, cloned only when they go out twice, and
//! a record is filled in one already sent (its strings and vectors
//! overwritten in place) rather than allocated anew.

use std::mem::take;

use usersync_sdk::host::ldap::Entry;
use usersync_sdk::{AttrValue, Attribute, ObjectKind, SourceObject};

use crate::config::Resolved;
use crate::dn;
use crate::entries::{self, values};
use crate::read::BATCH;

/// Builds a read's user records: how, worked out once from the
/// configured fields, and the records already sent, kept to be reused.
pub struct Users {
    fields: Vec<FieldPlan>,
    extras: Vec<String>,
    spare: Vec<SourceObject>,
}

struct FieldPlan {
    field: String,
    source: String,
    /// A reference: the engine resolves it to the manager's id.
    manager: bool,
    /// Mappings may name the directory's own attribute as well as the
    /// field (`from = "sAMAccountName"` or `from = "username"`), so the
    /// values go out under the source's name too.
    own_name: bool,
    /// A later field reads the same attribute: clone, do not take.
    shared: bool,
}

impl Users {
    pub fn new(cfg: &Resolved) -> Users {
        let fields = cfg
            .fields
            .iter()
            .enumerate()
            .map(|(i, (field, source))| FieldPlan {
                field: field.clone(),
                source: source.clone(),
                manager: field == "manager",
                own_name: !source.eq_ignore_ascii_case(field),
                shared: cfg.fields[i + 1..]
                    .iter()
                    .any(|(_, later)| later.eq_ignore_ascii_case(source)),
            })
            .collect();
        Users {
            fields,
            extras: cfg.extra.clone(),
            spare: Vec::new(),
        }
    }

    /// Keep records the host has taken, to build the next ones in (at
    /// most a batch of them); `sent` is left empty.
    pub fn recycle(&mut self, sent: &mut Vec<SourceObject>) {
        let room = BATCH.saturating_sub(self.spare.len());
        self.spare.extend(sent.drain(..).take(room));
    }

    /// A user record, or the reason it cannot be one (then `e` is as it
    /// was). What the record sends is moved out of `e`: its DN and the
    /// values of the attributes sent.
    pub fn build(&mut self, e: &mut Entry, cfg: &Resolved) -> Result<SourceObject, String> {
        let mut o = self
            .spare
            .pop()
            .unwrap_or_else(|| SourceObject::new(ObjectKind::User, String::new()));
        match self.fill(&mut o, e, cfg) {
            Ok(()) => Ok(o),
            Err(why) => {
                self.spare.push(o);
                Err(why)
            }
        }
    }

    /// Overwrite every part of `o` with the record of `e`.
    fn fill(&self, o: &mut SourceObject, e: &mut Entry, cfg: &Resolved) -> Result<(), String> {
        // Every field named, so a field added to records is not left over.
        let SourceObject {
            kind,
            id,
            ref_key,
            enabled,
            attributes,
            member_of,
            members,
        } = o;
        if !id_into(id, e, &cfg.id_attr) {
            return Err(format!(
                "{} has no {} (the immutable id); check source.attributes.id",
                e.dn, cfg.id_attr
            ));
        }
        *kind = ObjectKind::User;
        *enabled = entries::enabled(e, cfg);
        member_of.clear();
        members.clear();
        let dn = take(&mut e.dn);
        dn::normalize_into(ref_key, &dn);
        let mut out = Out { attributes, n: 0 };
        let dn_values = &mut out.next("dn").values;
        dn_values.clear();
        dn_values.push(AttrValue::Text(dn));
        for f in &self.fields {
            let Some(a) = e
                .attributes
                .iter_mut()
                .find(|a| a.name.eq_ignore_ascii_case(&f.source))
            else {
                continue;
            };
            if a.values.is_empty() {
                continue;
            }
            if f.own_name {
                clone_values(&mut out.next(&f.source).values, &a.values);
            }
            let vals = &mut out.next(&f.field).values;
            if f.shared {
                clone_values(vals, &a.values);
            } else {
                *vals = take(&mut a.values);
            }
            if f.manager {
                // A reference: the engine resolves it to the manager's id.
                vals.retain(|v| matches!(v, AttrValue::Text(_)));
                for v in vals.iter_mut() {
                    if let AttrValue::Text(t) = v {
                        *t = dn::normalize_owned(take(t));
                    }
                }
            }
        }
        for extra in &self.extras {
            // An attribute a field sent is sent under its name, so what
            // is taken here went out nowhere else.
            let sent = out
                .sent()
                .iter()
                .any(|a| a.name.eq_ignore_ascii_case(extra));
            let found = e
                .attributes
                .iter_mut()
                .find(|a| a.name.eq_ignore_ascii_case(extra));
            if let (false, Some(a)) = (sent, found) {
                if !a.values.is_empty() {
                    out.next(extra).values = take(&mut a.values);
                }
            }
        }
        out.finish();
        Ok(())
    }
}

/// The attributes of a record being filled: those from slot `n` on are
/// left from a record sent before, overwritten in order and cut off at
/// the end.
struct Out<'a> {
    attributes: &'a mut Vec<Attribute>,
    n: usize,
}

impl Out<'_> {
    /// The next attribute, named `name`; its values are the old ones.
    fn next(&mut self, name: &str) -> &mut Attribute {
        if self.n == self.attributes.len() {
            self.attributes.push(Attribute {
                name: name.to_string(),
                values: Vec::new(),
            });
        }
        let a = &mut self.attributes[self.n];
        if a.name != name {
            a.name.clear();
            a.name.push_str(name);
        }
        self.n += 1;
        a
    }

    fn sent(&self) -> &[Attribute] {
        &self.attributes[..self.n]
    }

    fn finish(self) {
        self.attributes.truncate(self.n);
    }
}

/// `dst` becomes a copy of `src`, in the strings it already has.
fn clone_values(dst: &mut Vec<AttrValue>, src: &[AttrValue]) {
    dst.truncate(src.len());
    let (same, more) = src.split_at(dst.len());
    for (d, s) in dst.iter_mut().zip(same) {
        match (d, s) {
            (AttrValue::Text(d), AttrValue::Text(s)) => d.clone_from(s),
            (AttrValue::Binary(d), AttrValue::Binary(s)) => d.clone_from(s),
            (d, s) => *d = s.clone(),
        }
    }
    dst.extend_from_slice(more);
}

/// [`entries::id_of`] into `id`, reusing its allocation for a text id;
/// false when there is none.
fn id_into(id: &mut String, e: &Entry, id_attr: &str) -> bool {
    match values(e, id_attr).first() {
        Some(AttrValue::Text(t)) if !t.is_empty() => {
            id.clear();
            id.push_str(t);
            id.make_ascii_lowercase();
            true
        }
        _ => match entries::id_of(e, id_attr) {
            Some(other) => {
                *id = other;
                true
            }
            None => false,
        },
    }
}

/// The DN of a record [`Users::build`] built (its first attribute).
pub fn dn_of(u: &SourceObject) -> &str {
    match u.attributes.first().and_then(|a| a.values.first()) {
        Some(AttrValue::Text(dn)) => dn,
        _ => "",
    }
}

#[cfg(test)]
mod tests;
