//! User records from entries, built cheaply: an entry is read in place in
//! its page, and a record is filled in one already sent (its strings and
//! vectors overwritten in place) rather than allocated anew, so a user
//! costs copies and no allocation once the first batch has gone out.

use usersync_sdk::host::ldap::{EntryRef, ValueRef, Values};
use usersync_sdk::{AttrValue, Attribute, ObjectKind, SourceObject};

use crate::config::Resolved;
use crate::dn;
use crate::entries;
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
}

impl Users {
    pub fn new(cfg: &Resolved) -> Users {
        let fields = cfg
            .fields
            .iter()
            .map(|(field, source)| FieldPlan {
                field: field.clone(),
                source: source.clone(),
                manager: field == "manager",
                own_name: !source.eq_ignore_ascii_case(field),
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

    /// A user record, or the reason it cannot be one.
    pub fn build(&mut self, e: EntryRef<'_>, cfg: &Resolved) -> Result<SourceObject, String> {
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
    fn fill(&self, o: &mut SourceObject, e: EntryRef<'_>, cfg: &Resolved) -> Result<(), String> {
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
                e.dn(),
                cfg.id_attr
            ));
        }
        *kind = ObjectKind::User;
        *enabled = entries::enabled(e, cfg);
        member_of.clear();
        members.clear();
        dn::normalize_into(ref_key, e.dn());
        let mut out = Out { attributes, n: 0 };
        let dn_values = &mut out.next("dn").values;
        dn_values.truncate(1);
        match dn_values.first_mut() {
            Some(v) => ValueRef::Text(e.dn()).copy_into(v),
            None => dn_values.push(AttrValue::Text(e.dn().to_owned())),
        }
        for f in &self.fields {
            let Some(a) = e.attribute(&f.source).filter(|a| !a.is_empty()) else {
                continue;
            };
            if f.own_name {
                refill(&mut out.next(&f.source).values, a.values());
            }
            let vals = &mut out.next(&f.field).values;
            if f.manager {
                // A reference: the engine resolves it to the manager's id.
                refill_dns(vals, a.values());
            } else {
                refill(vals, a.values());
            }
        }
        for extra in &self.extras {
            // An attribute a field sent is sent under its name already.
            let sent = out
                .sent()
                .iter()
                .any(|a| a.name.eq_ignore_ascii_case(extra));
            if sent {
                continue;
            }
            if let Some(a) = e.attribute(extra).filter(|a| !a.is_empty()) {
                refill(&mut out.next(extra).values, a.values());
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
fn refill(dst: &mut Vec<AttrValue>, mut src: Values<'_>) {
    dst.truncate(src.len());
    for (d, s) in dst.iter_mut().zip(src.by_ref()) {
        s.copy_into(d);
    }
    dst.extend(src.map(ValueRef::to_owned));
}

/// `dst` becomes the text values of `src` as normalized DNs.
fn refill_dns(dst: &mut Vec<AttrValue>, src: Values<'_>) {
    let mut n = 0;
    for t in src.filter_map(ValueRef::text) {
        match dst.get_mut(n) {
            Some(AttrValue::Text(d)) => dn::normalize_into(d, t),
            Some(d) => *d = AttrValue::Text(dn::normalize(t)),
            None => dst.push(AttrValue::Text(dn::normalize(t))),
        }
        n += 1;
    }
    dst.truncate(n);
}

/// [`entries::id_of`] into `id`, reusing its allocation for a text id;
/// false when there is none.
fn id_into(id: &mut String, e: EntryRef<'_>, id_attr: &str) -> bool {
    match e.values(id_attr).next() {
        Some(ValueRef::Text(t)) if !t.is_empty() => {
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
