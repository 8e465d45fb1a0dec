//! The agent protocol's messages, shared by the server (`daemon/agents/`)
//! and the agent (`agent/`). JSON over HTTPS; every list a remote party
//! sends is bounded by the body size the receiver accepts.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::config::Limits;
use crate::model::{ObjectKind, RecordError};
use crate::runtime::{WireAttribute, WireKind, WireObject, WireValue};

/// The path prefix of every agent endpoint.
pub const PREFIX: &str = "/agent/v1";
/// The longest a poll may wait for work.
pub const MAX_WAIT_SECONDS: u64 = 60;
/// Most jobs one agent may say it serves.
pub const MAX_JOBS: usize = 1000;
/// The most state entries a work item carries (the connector's own state).
pub const MAX_STATE_ENTRIES: usize = 10_000;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub code: String,
    pub name: String,
    pub version: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EnrollAnswer {
    pub agent_id: String,
    pub tenant: String,
    /// The agent's credential; shown once, kept by the server as a digest.
    pub credential: String,
}

/// A long poll: the jobs this agent has local settings for.
#[derive(Debug, Serialize, Deserialize)]
pub struct PollRequest {
    pub jobs: Vec<String>,
    pub version: String,
    pub wait_seconds: u64,
    /// A problem the agent had since its last poll (a plugin it could not
    /// load, a run it had to give up), for the agent list.
    #[serde(default)]
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PollAnswer {
    pub work: Option<WorkItem>,
}

/// "Run job J of tenant T now": what the agent needs besides its own
/// grants and secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkItem {
    pub run_id: String,
    pub tenant: String,
    pub job: String,
    /// `None`: a full read; else the cursor of an incremental one.
    pub cursor: Option<String>,
    pub plugin: PluginRef,
    /// `[jobs.source]` as JSON (no secrets: those are the agent's own).
    pub source: String,
    /// The connector's stored state: key and base64 value.
    pub state: Vec<(String, String)>,
    /// License seats: kind, total, used.
    pub seats: Vec<(String, u32, u32)>,
    /// The tenant's sandbox limits for the connector.
    pub limits: Limits,
    /// The largest batch body the server takes, in bytes.
    pub max_batch_bytes: usize,
    /// Send something at least this often, or the run is given up.
    pub heartbeat_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginRef {
    pub name: String,
    pub version: String,
    /// Hex SHA-256 of the `.wasm`: the download is checked against it.
    pub sha256: String,
}

/// One `target` call of the connector, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    Users {
        objects: Vec<Object>,
    },
    Groups {
        objects: Vec<Object>,
    },
    Members {
        group: String,
        members: Vec<String>,
    },
    Remove {
        kind: ObjectKind,
        ids: Vec<String>,
    },
    Reject {
        record: String,
        field: Option<String>,
        message: String,
    },
    Checkpoint {
        cursor: String,
    },
    /// `value` is base64; `None` deletes the key.
    State {
        key: String,
        value: Option<String>,
    },
    RunAgainIn {
        seconds: u32,
    },
    Warn {
        message: String,
    },
}

/// A batch of calls: `POST /agent/v1/runs/{run}/batches/{seq}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    pub calls: Vec<Call>,
}

/// `POST /agent/v1/runs/{run}/finish`: how the connector's read ended,
/// after `batches` batches (0..batches-1).
#[derive(Debug, Serialize, Deserialize)]
pub struct Finish {
    pub batches: u64,
    pub outcome: ReadEnd,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReadEnd {
    Ok {
        users: u64,
        groups: u64,
        complete: bool,
    },
    Failed {
        message: String,
    },
}

/// A source object as JSON (binary values in base64).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Object {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ref_key: String,
    pub enabled: bool,
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_of: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Value {
    #[serde(rename = "t")]
    Text(String),
    #[serde(rename = "b")]
    Binary(String),
}

impl Object {
    pub fn from_wire(o: WireObject) -> Object {
        Object {
            id: o.id,
            ref_key: o.ref_key,
            enabled: o.enabled,
            attributes: o
                .attributes
                .into_iter()
                .map(|a| Attribute {
                    name: a.name,
                    values: a
                        .values
                        .into_iter()
                        .map(|v| match v {
                            WireValue::Text(t) => Value::Text(t),
                            WireValue::Binary(b) => Value::Binary(b64().encode(b)),
                        })
                        .collect(),
                })
                .collect(),
            member_of: o.member_of,
            members: o.members,
        }
    }

    /// Back to the wire type; `kind` is what the call carrying it says.
    pub fn into_wire(self, kind: ObjectKind) -> Result<WireObject, String> {
        let attributes = self
            .attributes
            .into_iter()
            .map(|a| {
                let values = a
                    .values
                    .into_iter()
                    .map(|v| match v {
                        Value::Text(t) => Ok(WireValue::Text(t)),
                        Value::Binary(b) => b64().decode(b).map(WireValue::Binary).map_err(|_| {
                            format!("attribute {:?}: a binary value is not base64", a.name)
                        }),
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(WireAttribute {
                    name: a.name,
                    values,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(WireObject {
            kind: match kind {
                ObjectKind::User => WireKind::User,
                ObjectKind::Group => WireKind::Group,
            },
            id: self.id,
            ref_key: self.ref_key,
            enabled: self.enabled,
            attributes,
            member_of: self.member_of,
            members: self.members,
        })
    }
}

impl Call {
    pub fn reject(e: RecordError) -> Call {
        Call::Reject {
            record: e.record,
            field: e.field,
            message: e.message,
        }
    }
}

pub fn encode_bytes(b: &[u8]) -> String {
    b64().encode(b)
}

pub fn decode_bytes(s: &str) -> Result<Vec<u8>, String> {
    b64()
        .decode(s)
        .map_err(|_| "a state value is not base64".to_string())
}
