//! Conveniences on the contract's record types.
#![cfg(any(feature = "mapper", feature = "connector"))]

use crate::{AttrValue, Attribute, ObjectKind, RecordError, SourceObject, TargetGroup, TargetUser};

impl SourceObject {
    /// A new object with no attributes; `ref_key` defaults to the id.
    pub fn new(kind: ObjectKind, id: impl Into<String>) -> Self {
        SourceObject {
            kind,
            id: id.into(),
            ref_key: String::new(),
            enabled: true,
            attributes: Vec::new(),
            member_of: Vec::new(),
            members: Vec::new(),
        }
    }

    /// The attribute named `name` (case-insensitive, as LDAP names are).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The first text value of `name`, if it has one and it is not empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.texts(name).find(|v| !v.is_empty())
    }

    /// Every text value of `name`.
    pub fn texts<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.attribute(name)
            .into_iter()
            .flat_map(|a| a.values.iter())
            .filter_map(|v| match v {
                AttrValue::Text(t) => Some(t.as_str()),
                AttrValue::Binary(_) => None,
            })
    }

    /// The first binary value of `name`.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.attribute(name)
            .into_iter()
            .flat_map(|a| a.values.iter())
            .find_map(|v| match v {
                AttrValue::Binary(b) => Some(b.as_slice()),
                AttrValue::Text(_) => None,
            })
    }

    /// Add a text attribute (builder style, for connectors).
    pub fn with_text(mut self, name: impl Into<String>, values: Vec<String>) -> Self {
        self.push_text(name, values);
        self
    }

    pub fn push_text(&mut self, name: impl Into<String>, values: Vec<String>) {
        self.attributes.push(Attribute {
            name: name.into(),
            values: values.into_iter().map(AttrValue::Text).collect(),
        });
    }
}

impl TargetUser {
    /// A user with only a username; every other field is "leave alone".
    /// In a mapper chain, an empty username also means "leave alone".
    pub fn new(username: impl Into<String>) -> Self {
        TargetUser {
            username: username.into(),
            display_name: None,
            given_name: None,
            family_name: None,
            email: None,
            phone: None,
            job_title: None,
            company: None,
            department: None,
            manager: None,
            employee_id: None,
            custom: Vec::new(),
        }
    }
}

impl Default for TargetUser {
    fn default() -> Self {
        TargetUser::new("")
    }
}

impl TargetGroup {
    pub fn new(name: impl Into<String>) -> Self {
        TargetGroup {
            name: name.into(),
            description: None,
        }
    }
}

impl RecordError {
    /// A required source attribute is missing or empty.
    pub fn missing(attribute: &str) -> Self {
        RecordError {
            field: Some(attribute.to_string()),
            message: format!("required attribute `{attribute}` is missing or empty"),
        }
    }

    pub fn new(message: impl Into<String>) -> Self {
        RecordError {
            field: None,
            message: message.into(),
        }
    }
}
