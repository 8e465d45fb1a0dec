//! The WIT contracts, one module per version (`wit/v0.X/`): each holds
//! its `bindgen!` invocations and every conversion between that version's
//! types and the host's own, so this is the one place that knows a
//! version's shapes. The capabilities (`runtime/capability/`) implement
//! each import once, on host types.
//!
//! A new version `v0_3.rs`: its `bindgen!`, `conversions_since_v0_1!()`
//! for what it shares with 0.1, and conversions of what it changed.

/// The conversions of every type that has kept its shape since 0.1
/// (imports and exports), for the version module that invokes it; its
/// names resolve there (`log`, `types`, `ldap`, ...).
macro_rules! conversions_since_v0_1 {
    () => {
        impl From<log::Level> for tracing::Level {
            fn from(l: log::Level) -> Self {
                match l {
                    log::Level::Trace => tracing::Level::TRACE,
                    log::Level::Debug => tracing::Level::DEBUG,
                    log::Level::Info => tracing::Level::INFO,
                    log::Level::Warn => tracing::Level::WARN,
                    log::Level::Error => tracing::Level::ERROR,
                }
            }
        }

        impl From<types::ObjectKind> for model::ObjectKind {
            fn from(k: types::ObjectKind) -> Self {
                match k {
                    types::ObjectKind::User => model::ObjectKind::User,
                    types::ObjectKind::Group => model::ObjectKind::Group,
                }
            }
        }

        impl From<(String, u32, u32)> for licensing::SeatCount {
            fn from((kind, total, used): (String, u32, u32)) -> Self {
                licensing::SeatCount { kind, total, used }
            }
        }

        impl From<http::Request> for HttpRequest {
            fn from(r: http::Request) -> Self {
                HttpRequest {
                    method: r.method,
                    url: r.url,
                    headers: r.headers,
                    body: r.body,
                    credential: r.credential,
                }
            }
        }

        impl From<HttpResponse> for http::Response {
            fn from(r: HttpResponse) -> Self {
                http::Response {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                }
            }
        }

        impl From<ldap::SearchRequest> for LdapRequest {
            /// `max_page_bytes` is the host's to set (limits.max_output_kb).
            fn from(req: ldap::SearchRequest) -> Self {
                LdapRequest {
                    base: req.base,
                    scope: match req.scope {
                        ldap::Scope::Base => ldap3::Scope::Base,
                        ldap::Scope::OneLevel => ldap3::Scope::OneLevel,
                        ldap::Scope::Subtree => ldap3::Scope::Subtree,
                    },
                    filter: req.filter,
                    attributes: req.attributes,
                    binary_attributes: req.binary_attributes,
                    page_size: req.page_size,
                    controls: req.controls,
                    max_page_bytes: usize::MAX,
                    sync: req.sync.map(|s| s.cookie),
                }
            }
        }

        impl From<Entry> for ldap::Entry {
            fn from(e: Entry) -> Self {
                ldap::Entry {
                    dn: e.dn,
                    attributes: e
                        .attributes
                        .into_iter()
                        .map(|(name, values)| types::Attribute {
                            name,
                            values: values
                                .into_iter()
                                .map(|v| match v {
                                    Value::Text(t) => types::AttrValue::Text(t),
                                    Value::Bytes(b) => types::AttrValue::Binary(b),
                                })
                                .collect(),
                        })
                        .collect(),
                    change: e.change.map(|(c, uuid)| {
                        let c = match c {
                            Change::Add => ldap::Change::Add,
                            Change::Modify => ldap::Change::Modify,
                            Change::Delete => ldap::Change::Delete,
                            Change::Present => ldap::Change::Present,
                        };
                        (c, uuid)
                    }),
                }
            }
        }

        impl From<StageReport> for ldap::Stage {
            fn from(s: StageReport) -> Self {
                ldap::Stage {
                    name: s.name.to_string(),
                    ok: s.ok,
                    detail: s.detail,
                }
            }
        }

        impl From<SyncOutcome> for ldap::SyncDone {
            fn from(done: SyncOutcome) -> Self {
                ldap::SyncDone {
                    cookie: done.cookie,
                    deleted: done.deleted,
                    present: done.present,
                    present_phase: done.present_phase,
                }
            }
        }

        impl From<&model::ReadMode> for connector_api::ReadMode {
            fn from(mode: &model::ReadMode) -> Self {
                match mode {
                    model::ReadMode::Full => connector_api::ReadMode::Full,
                    model::ReadMode::Incremental(c) => {
                        connector_api::ReadMode::Incremental(c.clone())
                    }
                }
            }
        }

        impl From<types::Manifest> for model::Manifest {
            fn from(m: types::Manifest) -> Self {
                model::Manifest {
                    name: m.name,
                    version: m.version,
                    kind: match m.kind {
                        types::PluginKind::Connector => model::PluginKind::Connector,
                        types::PluginKind::Mapper => model::PluginKind::Mapper,
                    },
                    description: m.description,
                    config_schema: m.config_schema,
                    capabilities: m.capabilities,
                }
            }
        }

        impl From<connector_api::Check> for model::Check {
            fn from(c: connector_api::Check) -> Self {
                model::Check {
                    stage: c.stage,
                    status: match c.status {
                        connector_api::CheckStatus::Ok => model::CheckStatus::Ok,
                        connector_api::CheckStatus::Failed => model::CheckStatus::Failed,
                        connector_api::CheckStatus::Skipped => model::CheckStatus::Skipped,
                    },
                    detail: c.detail,
                }
            }
        }
    };
}

pub mod v0_1;
pub mod v0_2;

/// A raw source record as connectors send it (contract 0.1's wire type;
/// 0.2's packed pages decode into it).
pub use v0_1::types::{
    AttrValue as WireValue, Attribute as WireAttribute, ObjectKind as WireKind,
    SourceObject as WireObject,
};
