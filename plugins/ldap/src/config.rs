//! The job's `[source]` table, with presets for OpenLDAP and Active
//! Directory. Anything set explicitly wins over the preset.
//!
//! ```toml
//! [jobs.source]
//! preset = "active-directory"          # or "openldap" (the default)
//! base_dn = "dc=example,dc=com"        # default: the server's naming context
//! users_base = "ou=Staff,dc=example,dc=com"
//! groups_base = "ou=Groups,dc=example,dc=com"
//! user_filter = "(&(objectCategory=person)(objectClass=user))"
//! group_filter = "(objectClass=group)"
//! group_member_filter = "(memberOf=[#LDAPGroupDN#])"   # members by search instead of `member`
//! page_size = 1000
//! incremental = "auto"                 # auto | content-sync | timestamp | usn | none
//! extra_attributes = ["costCenter"]    # passed to mappers under their own names
//! [jobs.source.attributes]             # where each field comes from
//! username = "userPrincipalName"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// The macro a `group_member_filter` uses for the group's DN.
pub const GROUP_DN_MACRO: &str = "[#LDAPGroupDN#]";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    #[default]
    Openldap,
    ActiveDirectory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Incremental {
    /// content-sync when the server offers syncprov, else timestamp (OpenLDAP); usn on AD.
    #[default]
    Auto,
    ContentSync,
    Timestamp,
    Usn,
    /// Every run reads everything.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub preset: Preset,
    pub base_dn: Option<String>,
    pub users_base: Option<String>,
    pub groups_base: Option<String>,
    pub user_filter: Option<String>,
    pub group_filter: Option<String>,
    /// Members found by searching users with this filter per group, the
    /// group's DN put in place of `[#LDAPGroupDN#]`.
    pub group_member_filter: Option<String>,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Active Directory hands out at most this many values of `member` at a
    /// time (MaxValRange); larger groups are read range by range.
    #[serde(default = "default_range")]
    pub member_range: u32,
    #[serde(default)]
    pub incremental: Incremental,
    /// OpenLDAP has no standard "disabled" flag: users whose
    /// `disabled_attribute` has `disabled_value` are read as disabled.
    pub disabled_attribute: Option<String>,
    pub disabled_value: Option<String>,
    #[serde(default)]
    pub extra_attributes: Vec<String>,
    /// Extra attributes to read as bytes (e.g. `objectSid`).
    #[serde(default)]
    pub binary_attributes: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Where a change search cannot see deletions (OpenLDAP without
    /// syncprov; AD when the bind account cannot read deleted objects), an
    /// incremental run lists every id in scope when the last listing is at
    /// least this old. 0: on every incremental run.
    #[serde(default = "default_deletion_check")]
    pub deletion_check_minutes: u32,
}

fn default_deletion_check() -> u32 {
    60
}

fn default_page_size() -> u32 {
    1000
}

fn default_range() -> u32 {
    1500
}

/// Target-facing field names the connector fills, in the default mapper's
/// vocabulary, and where each comes from by preset (OpenLDAP, AD).
const FIELDS: [(&str, &str, &str); 12] = [
    ("username", "uid", "sAMAccountName"),
    ("display_name", "displayName", "displayName"),
    ("given_name", "givenName", "givenName"),
    ("family_name", "sn", "sn"),
    ("email", "mail", "mail"),
    ("phone", "telephoneNumber", "telephoneNumber"),
    ("job_title", "title", "title"),
    ("company", "o", "company"),
    ("department", "ou", "department"),
    ("manager", "manager", "manager"),
    ("employee_id", "employeeNumber", "employeeID"),
    ("user_principal_name", "", "userPrincipalName"),
];

/// Everything resolved: preset defaults filled in, names checked.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub preset: Preset,
    pub users_base: String,
    pub groups_base: String,
    pub user_filter: String,
    pub group_filter: String,
    pub group_member_filter: Option<String>,
    pub page_size: u32,
    pub member_range: u32,
    pub incremental: Incremental,
    /// The immutable id attribute (entryUUID or objectGUID).
    pub id_attr: String,
    pub group_name_attr: String,
    pub modified_attr: String,
    /// (field, source attribute) pairs, only the ones with a source.
    pub fields: Vec<(String, String)>,
    pub extra: Vec<String>,
    pub binary: Vec<String>,
    pub disabled: Option<(String, String)>,
    pub deletion_check_minutes: u32,
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        let known = |k: &str| {
            FIELDS.iter().any(|(f, _, _)| *f == k) || matches!(k, "id" | "group_name" | "modified")
        };
        if let Some(bad) = self.attributes.keys().find(|k| !known(k)) {
            let names: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
            return Err(format!(
                "source.attributes.{bad} is not a field this connector fills; use one of id, group_name, modified, {}",
                names.join(", ")
            ));
        }
        if let Some(f) = &self.group_member_filter {
            if !f.contains(GROUP_DN_MACRO) {
                return Err(format!(
                    "source.group_member_filter must contain {GROUP_DN_MACRO} where the group's DN goes, e.g. \"(memberOf={GROUP_DN_MACRO})\""
                ));
            }
        }
        if self.disabled_attribute.is_some() != self.disabled_value.is_some() {
            return Err(
                "set both source.disabled_attribute and source.disabled_value, or neither".into(),
            );
        }
        if self.page_size == 0 || self.page_size > 100_000 {
            return Err("source.page_size must be between 1 and 100000".into());
        }
        if self.deletion_check_minutes > 7 * 24 * 60 {
            return Err(format!(
                "source.deletion_check_minutes = {} is more than a week; deletions would wait for the full run anyway (sync.full_every_hours): use at most 10080",
                self.deletion_check_minutes
            ));
        }
        if self.member_range < 10 {
            return Err("source.member_range must be at least 10".into());
        }
        Ok(())
    }

    /// Fill in the preset; `naming_context` is the server's default base.
    pub fn resolve(&self, naming_context: Option<String>) -> Result<Resolved, String> {
        self.validate()?;
        let ad = self.preset == Preset::ActiveDirectory;
        let base = self.base_dn.clone().or(naming_context).ok_or(
            "the server names no naming context: set source.base_dn (e.g. \"dc=example,dc=com\")",
        )?;
        let attr = |key: &str, default: &str| {
            self.attributes
                .get(key)
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        let fields = FIELDS
            .iter()
            .map(|(f, ol, ad_attr)| (f.to_string(), attr(f, if ad { ad_attr } else { ol })))
            .filter(|(_, a)| !a.is_empty())
            .collect();
        let (user_filter, group_filter) = if ad {
            (
                "(&(objectCategory=person)(objectClass=user))",
                "(objectClass=group)",
            )
        } else {
            (
                "(objectClass=inetOrgPerson)",
                "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
            )
        };
        let mut binary = self.binary_attributes.clone();
        if ad {
            binary.extend(["objectGUID".to_string(), "objectSid".to_string()]);
        }
        Ok(Resolved {
            preset: self.preset,
            users_base: self.users_base.clone().unwrap_or_else(|| base.clone()),
            groups_base: self.groups_base.clone().unwrap_or_else(|| base.clone()),
            user_filter: self
                .user_filter
                .clone()
                .unwrap_or_else(|| user_filter.into()),
            group_filter: self
                .group_filter
                .clone()
                .unwrap_or_else(|| group_filter.into()),
            group_member_filter: self.group_member_filter.clone(),
            page_size: self.page_size,
            member_range: self.member_range,
            incremental: self.incremental,
            id_attr: attr("id", if ad { "objectGUID" } else { "entryUUID" }),
            group_name_attr: attr("group_name", "cn"),
            modified_attr: attr(
                "modified",
                if ad { "whenChanged" } else { "modifyTimestamp" },
            ),
            fields,
            extra: self.extra_attributes.clone(),
            binary,
            disabled: self
                .disabled_attribute
                .clone()
                .zip(self.disabled_value.clone()),
            deletion_check_minutes: self.deletion_check_minutes,
        })
    }
}

impl Resolved {
    pub fn is_ad(&self) -> bool {
        self.preset == Preset::ActiveDirectory
    }

    /// What a user search asks for.
    pub fn user_attributes(&self) -> Vec<String> {
        let mut a = vec![self.id_attr.clone(), self.modified_attr.clone()];
        a.extend(self.fields.iter().map(|(_, src)| src.clone()));
        a.extend(self.extra.iter().cloned());
        if let Some((d, _)) = &self.disabled {
            a.push(d.clone());
        }
        if self.is_ad() {
            a.extend([
                "userAccountControl".into(),
                "uSNChanged".into(),
                "primaryGroupID".into(),
            ]);
        }
        dedup(a)
    }

    /// What a group search asks for (members come separately for AD ranges).
    pub fn group_attributes(&self) -> Vec<String> {
        let mut a = vec![self.id_attr.clone(), self.group_name_attr.clone()];
        if self.group_member_filter.is_none() {
            if self.is_ad() {
                a.push(format!("member;range=0-{}", self.member_range - 1));
            } else {
                a.extend(["member".into(), "uniqueMember".into(), "memberUid".into()]);
            }
        }
        a.extend(["description".into()]);
        if self.is_ad() {
            // The RID at its end is what members' primaryGroupID names.
            a.push("objectSid".into());
        }
        dedup(a)
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|a| seen.insert(a.to_ascii_lowercase()));
    v
}
