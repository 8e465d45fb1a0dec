//! `mappers = ["default-mapper"]`: maps source attributes to target fields
//! from the job's `[mapping]` table, with built-in rules for common LDAP,
//! AD and CSV attribute names.
//!
//! ```toml
//! [mapping]
//! defaults = true                      # built-in rules for unconfigured fields
//! username = "{uid}"                   # a string is a template
//! email = { from = ["mail", "userPrincipalName"], case = "lower" }
//! company = { value = "ACME" }
//! department = { template = "{department}", replace = { pattern = "^Dept-", with = "" } }
//! [mapping.custom]
//! cost_center = "{costCenter}"
//! guid = { from = "objectGUID", encode = "guid" }   # binary values: hex, base64 or guid
//! ```
//!
//! A user with several addresses in the attribute `email` comes from (e.g. a
//! multi-valued LDAP `mail`) gets the first as `email` and all of them, the
//! first first, comma-separated in the custom attribute `emails` (unless
//! `[mapping.custom]` defines `emails` itself).

// A 0.1 build (feature `contract-0-1`) uses the frozen SDK under the same name.
#[cfg(not(feature = "contract-0-2"))]
extern crate usersync_sdk_v01 as usersync_sdk;

mod encode;
mod rule;
mod slots;
mod template;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use usersync_sdk::{export_mapper, Mapper, RecordError, SourceObject, TargetGroup, TargetUser};

use rule::Rule;
use slots::{Slots, Values};

/// Target user fields, in [`TargetUser`] order, with their built-in rules.
const FIELDS: [(&str, &[&str]); 11] = [
    (
        "username",
        &[
            "username",
            "uid",
            "sAMAccountName",
            "userPrincipalName",
            "mail",
            "email",
        ],
    ),
    (
        "display_name",
        &["displayName", "display_name", "cn", "name"],
    ),
    (
        "given_name",
        &["givenName", "given_name", "first_name", "firstName"],
    ),
    (
        "family_name",
        &["sn", "surname", "family_name", "last_name", "lastName"],
    ),
    ("email", &["mail", "email"]),
    ("phone", &["telephoneNumber", "phone", "mobile"]),
    ("job_title", &["title", "job_title"]),
    ("company", &["company"]),
    ("department", &["department"]),
    ("manager", &["manager"]),
    (
        "employee_id",
        &["employeeNumber", "employeeID", "employee_id"],
    ),
];
const GROUP_NAME_DEFAULT: &[&str] = &["cn", "name"];
/// Index of `email` in [`FIELDS`].
const EMAIL: usize = 4;
/// The custom attribute holding every address of a user with several.
const EMAILS: &str = "emails";

/// The `[mapping]` table. Rules stay JSON values here and are compiled in
/// [`DefaultMapper::new`], so errors can name the field they belong to.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    #[serde(default = "yes")]
    defaults: bool,
    username: Option<Value>,
    display_name: Option<Value>,
    given_name: Option<Value>,
    family_name: Option<Value>,
    email: Option<Value>,
    phone: Option<Value>,
    job_title: Option<Value>,
    company: Option<Value>,
    department: Option<Value>,
    manager: Option<Value>,
    employee_id: Option<Value>,
    group_name: Option<Value>,
    #[serde(default)]
    custom: BTreeMap<String, Value>,
}

fn yes() -> bool {
    true
}

/// A value the rule could not turn into text (e.g. a GUID of the wrong size).
fn unusable(field: &str, e: String) -> RecordError {
    RecordError {
        field: Some(field.to_string()),
        message: format!("{field}: {e}"),
    }
}

pub struct DefaultMapper {
    slots: Slots,
    /// One rule per entry of [`FIELDS`]; `None` leaves the field alone.
    fields: Vec<Option<Rule>>,
    group_name: Rule,
    custom: Vec<(String, Rule)>,
    /// Per-record slot table, reused so mapping a record allocates only its output.
    scratch: RefCell<Vec<(u32, u32)>>,
}

impl DefaultMapper {
    /// One field's value, or the record error a `required` rule raises.
    fn field(
        &self,
        name: &str,
        rule: &Rule,
        values: &Values,
    ) -> Result<Option<String>, RecordError> {
        match rule.eval(values).map_err(|e| unusable(name, e))? {
            Some(v) => Ok(Some(v)),
            None if rule.required => Err(RecordError {
                field: Some(name.to_string()),
                message: format!(
                    "{name} is required but empty: {}",
                    rule.describe_sources(&self.slots)
                ),
            }),
            None => Ok(None),
        }
    }

    fn get(&self, i: usize, values: &Values) -> Result<Option<String>, RecordError> {
        match &self.fields[i] {
            Some(rule) => self.field(FIELDS[i].0, rule, values),
            None => Ok(None),
        }
    }
}

impl Mapper for DefaultMapper {
    const NAME: &'static str = "default-mapper";
    const DESCRIPTION: &'static str =
        "Maps attributes to user fields by templates and rules from [mapping]";
    type Config = MappingConfig;

    fn new(c: MappingConfig) -> Result<Self, String> {
        let configured = [
            c.username,
            c.display_name,
            c.given_name,
            c.family_name,
            c.email,
            c.phone,
            c.job_title,
            c.company,
            c.department,
            c.manager,
            c.employee_id,
        ];
        let mut slots = Slots::default();
        let mut fields = Vec::with_capacity(FIELDS.len());
        for ((name, builtin), spec) in FIELDS.iter().zip(&configured) {
            fields.push(match spec {
                Some(spec) => Some(Rule::compile(name, spec, &mut slots)?),
                None if c.defaults => Some(Rule::first_of(builtin, &mut slots)),
                None => None,
            });
        }
        // A group always needs a name, so its built-in rule applies even with defaults = false.
        let group_name = match &c.group_name {
            Some(spec) => Rule::compile("group_name", spec, &mut slots)?,
            None => Rule::first_of(GROUP_NAME_DEFAULT, &mut slots),
        };
        let mut custom = Vec::with_capacity(c.custom.len());
        for (name, spec) in &c.custom {
            if name.trim().is_empty() {
                return Err("mapping.custom: a custom field name is empty".into());
            }
            custom.push((
                name.clone(),
                Rule::compile(&format!("custom.{name}"), spec, &mut slots)?,
            ));
        }
        Ok(DefaultMapper {
            slots,
            fields,
            group_name,
            custom,
            scratch: RefCell::new(Vec::new()),
        })
    }

    fn map_user(&self, user: &SourceObject) -> Result<Option<TargetUser>, RecordError> {
        let mut found = self.scratch.borrow_mut();
        self.slots.resolve(user, &mut found);
        let v = Values::new(user, &found);

        // No username rule at all (defaults = false, none configured) means
        // "leave alone" in a mapper chain; a rule that yields nothing is an error.
        let username = match &self.fields[0] {
            Some(rule) => rule
                .eval(&v)
                .map_err(|e| unusable("username", e))?
                .ok_or_else(|| RecordError {
                    field: Some("username".to_string()),
                    message: format!("username is empty: {}", rule.describe_sources(&self.slots)),
                })?,
            None => String::new(),
        };
        let mut custom = Vec::with_capacity(self.custom.len());
        for (name, rule) in &self.custom {
            if let Some(value) = self.field(name, rule, &v)? {
                custom.push((name.clone(), value));
            }
        }
        let email = self.get(EMAIL, &v)?;
        if let (Some(rule), Some(_)) = (&self.fields[EMAIL], &email) {
            let all = rule.all_values(user, &self.slots);
            if all.len() > 1 && !custom.iter().any(|(name, _)| name == EMAILS) {
                custom.push((EMAILS.to_string(), all.join(", ")));
            }
        }
        Ok(Some(TargetUser {
            username,
            display_name: self.get(1, &v)?,
            given_name: self.get(2, &v)?,
            family_name: self.get(3, &v)?,
            email,
            phone: self.get(5, &v)?,
            job_title: self.get(6, &v)?,
            company: self.get(7, &v)?,
            department: self.get(8, &v)?,
            manager: self.get(9, &v)?,
            employee_id: self.get(10, &v)?,
            custom,
        }))
    }

    /// The group's name from `group_name` (default: cn, then name), else its id.
    fn map_group(&self, group: &SourceObject) -> Result<Option<TargetGroup>, RecordError> {
        let mut found = self.scratch.borrow_mut();
        self.slots.resolve(group, &mut found);
        let v = Values::new(group, &found);
        let name = match self.field("group_name", &self.group_name, &v)? {
            Some(name) => name,
            None => v.id().to_string(),
        };
        Ok(Some(TargetGroup::new(name)))
    }
}

export_mapper!(DefaultMapper);
