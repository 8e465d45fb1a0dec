//! The host's own data types. WIT types of each contract version convert
//! into these (see `runtime/wit/`), so the engine and store never depend on
//! a contract version. (Raw source records in flight between a connector and
//! the mappers stay in the wire type, `runtime::WireObject`, to avoid a copy.)

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    User,
    Group,
}

/// The target-store fields of a user, as a mapper produced them. `None`
/// means "leave the stored value alone". Optional texts are `Box<str>`, not
/// `String`: they are never grown in place, and the 8 bytes each saves
/// bring the struct from 288 to 208 bytes (a smaller allocator size class,
/// ~100 MB less for the records of a 1M-user sync).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserFields {
    pub username: String,
    pub display_name: Option<Box<str>>,
    pub given_name: Option<Box<str>>,
    pub family_name: Option<Box<str>>,
    pub email: Option<Box<str>>,
    pub phone: Option<Box<str>>,
    pub job_title: Option<Box<str>>,
    pub company: Option<Box<str>>,
    pub department: Option<Box<str>>,
    pub manager: Option<Box<str>>,
    pub employee_id: Option<Box<str>>,
    pub custom: Vec<(String, String)>,
}

/// The optional text fields, by their store column name, in one place so
/// diff, apply and audit agree on them.
pub const TEXT_FIELDS: [&str; 10] = [
    "display_name",
    "given_name",
    "family_name",
    "email",
    "phone",
    "job_title",
    "company",
    "department",
    "manager",
    "employee_id",
];

impl UserFields {
    pub fn get(&self, field: &str) -> Option<&str> {
        match field {
            "username" => Some(self.username.as_str()).filter(|s| !s.is_empty()),
            "display_name" => self.display_name.as_deref(),
            "given_name" => self.given_name.as_deref(),
            "family_name" => self.family_name.as_deref(),
            "email" => self.email.as_deref(),
            "phone" => self.phone.as_deref(),
            "job_title" => self.job_title.as_deref(),
            "company" => self.company.as_deref(),
            "department" => self.department.as_deref(),
            "manager" => self.manager.as_deref(),
            "employee_id" => self.employee_id.as_deref(),
            _ => None,
        }
    }

    fn slot(&mut self, field: &str) -> Option<&mut Option<Box<str>>> {
        Some(match field {
            "display_name" => &mut self.display_name,
            "given_name" => &mut self.given_name,
            "family_name" => &mut self.family_name,
            "email" => &mut self.email,
            "phone" => &mut self.phone,
            "job_title" => &mut self.job_title,
            "company" => &mut self.company,
            "department" => &mut self.department,
            "manager" => &mut self.manager,
            "employee_id" => &mut self.employee_id,
            _ => return None,
        })
    }

    pub fn set(&mut self, field: &str, value: Option<String>) {
        if field == "username" {
            self.username = value.unwrap_or_default();
        } else if let Some(slot) = self.slot(field) {
            *slot = value.map(String::into_boxed_str);
        }
    }

    /// Mapper chains: fields the later mapper set override this one's.
    pub fn overlay(&mut self, later: UserFields) {
        if !later.username.is_empty() {
            self.username = later.username;
        }
        let UserFields {
            display_name,
            given_name,
            family_name,
            email,
            phone,
            job_title,
            company,
            department,
            manager,
            employee_id,
            custom,
            ..
        } = later;
        for (field, value) in [
            ("display_name", display_name),
            ("given_name", given_name),
            ("family_name", family_name),
            ("email", email),
            ("phone", phone),
            ("job_title", job_title),
            ("company", company),
            ("department", department),
            ("manager", manager),
            ("employee_id", employee_id),
        ] {
            if let (Some(value), Some(slot)) = (value, self.slot(field)) {
                *slot = Some(value);
            }
        }
        for (k, v) in custom {
            self.custom.retain(|(ck, _)| ck != &k);
            self.custom.push((k, v));
        }
    }

    /// Custom metadata as a JSON object string (sorted keys: stable diffs).
    pub fn custom_json(&self) -> Option<String> {
        if self.custom.is_empty() {
            return None;
        }
        // Borrowed: every user of a full run is serialized to compare.
        let map: std::collections::BTreeMap<&str, &str> = self
            .custom
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Some(serde_json::to_string(&map).expect("string map serializes"))
    }
}

/// A user after mapping: what the source says this user should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUser {
    pub id: String,
    pub ref_key: String,
    pub enabled: bool,
    /// False when a filter put the user out of scope.
    pub in_filter: bool,
    /// Boxed: a plan creating this user takes the box as it is, instead of
    /// copying the fields into one of its own (see `engine/created.rs`).
    pub fields: Box<UserFields>,
    pub member_of: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceGroup {
    pub id: String,
    pub ref_key: String,
    pub name: String,
    pub description: Option<String>,
    /// Direct members: refs to users or groups.
    pub members: Vec<String>,
    pub member_of: Vec<String>,
}

/// A record that could not be used; the run goes on without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordError {
    /// Source id or a locator such as "line 17".
    pub record: String,
    pub field: Option<String>,
    pub message: String,
}

/// The manifest a plugin reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    pub description: String,
    pub config_schema: String,
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Connector,
    Mapper,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Connector => "connector",
            PluginKind::Mapper => "mapper",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub stage: String,
    pub status: CheckStatus,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    /// Works, but a sync would likely not do what is wanted.
    Warning,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadMode {
    Full,
    Incremental(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReadSummary {
    pub users: u64,
    pub groups: u64,
    pub complete: bool,
}
