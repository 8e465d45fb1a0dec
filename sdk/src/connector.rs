//! The connector side of the SDK: the [`Connector`] trait, `export_connector!`
//! and the host services a connector may call.

use serde::de::DeserializeOwned;

use crate::connector_world::exports::usersync::plugin::connector_api as api;
pub use api::{Check, CheckStatus, ReadSummary};

/// How much to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadMode {
    /// Everything in scope; the host detects departures.
    Full,
    /// Changes since the cursor the connector last checkpointed.
    Incremental(String),
}

/// A directory connector: reads users and groups and streams them to the host
/// through [`host::target`].
pub trait Connector: 'static {
    /// The name jobs use to pick this connector (`connector = "..."`).
    const NAME: &'static str;
    const DESCRIPTION: &'static str = "";
    /// Host capabilities it needs: "files", "ldap", "http".
    const CAPABILITIES: &'static [&'static str] = &[];
    /// The configuration type, deserialized from the job's `[source]` table.
    type Config: DeserializeOwned;

    /// Check that the source is reachable and configured right, stage by stage.
    fn test_connection(config: Self::Config) -> Vec<Check> {
        let _ = config;
        vec![Check::ok("configuration", "parsed")]
    }

    /// Read users and groups and hand them to [`host::target`].
    fn read(config: Self::Config, mode: ReadMode) -> Result<ReadSummary, String>;
}

impl Check {
    pub fn ok(stage: &str, detail: impl Into<String>) -> Self {
        Check {
            stage: stage.to_string(),
            status: CheckStatus::Ok,
            detail: detail.into(),
        }
    }
    pub fn failed(stage: &str, detail: impl Into<String>) -> Self {
        Check {
            stage: stage.to_string(),
            status: CheckStatus::Failed,
            detail: detail.into(),
        }
    }
}

/// Export `$t` (a [`Connector`]) as this component's connector.
#[macro_export]
macro_rules! export_connector {
    ($t:ty) => {
        struct __UsersyncConnectorExport;

        impl $crate::__private::connector_world::exports::usersync::plugin::connector_api::Guest
            for __UsersyncConnectorExport
        {
            fn describe() -> $crate::Manifest {
                $crate::__private::connector_glue::manifest::<$t>(env!("CARGO_PKG_VERSION"))
            }
            fn test_connection(config: ::std::string::String) -> ::std::vec::Vec<$crate::Check> {
                $crate::__private::connector_glue::test_connection::<$t>(&config)
            }
            fn read(
                config: ::std::string::String,
                mode: $crate::__private::connector_world::exports::usersync::plugin::connector_api::ReadMode,
            ) -> ::std::result::Result<$crate::ReadSummary, ::std::string::String> {
                $crate::__private::connector_glue::read::<$t>(&config, mode)
            }
        }

        $crate::__private::export_connector_world!(
            __UsersyncConnectorExport with_types_in $crate::__private::connector_world
        );
    };
}

#[doc(hidden)]
pub mod glue {
    use super::*;
    use crate::{Manifest, PluginKind};

    pub fn manifest<C: Connector>(version: &str) -> Manifest {
        Manifest {
            name: C::NAME.to_string(),
            version: version.to_string(),
            kind: PluginKind::Connector,
            description: C::DESCRIPTION.to_string(),
            config_schema: "{}".to_string(),
            capabilities: C::CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        }
    }

    pub fn test_connection<C: Connector>(json: &str) -> Vec<Check> {
        match crate::parse_config::<C::Config>(json, "source") {
            Ok(config) => C::test_connection(config),
            Err(e) => vec![Check::failed("configuration", e)],
        }
    }

    pub fn read<C: Connector>(json: &str, mode: api::ReadMode) -> Result<ReadSummary, String> {
        let config = crate::parse_config::<C::Config>(json, "source")?;
        let mode = match mode {
            api::ReadMode::Full => ReadMode::Full,
            api::ReadMode::Incremental(cursor) => ReadMode::Incremental(cursor),
        };
        C::read(config, mode)
    }
}

/// Services the host offers a connector.
pub mod host {
    use crate::connector_world::usersync::plugin as wit;

    /// Where read objects go. Send batches of a few hundred.
    pub mod target {
        use super::wit::target;
        use crate::{ObjectKind, SourceObject};

        use crate::packed;

        // Each call carries one packed page (contract 0.2): the host copies
        // one buffer instead of lifting every string separately.
        pub fn put_users(batch: &[SourceObject]) -> Result<(), String> {
            target::put_users(&packed::encode_objects(batch))
        }
        pub fn put_groups(batch: &[SourceObject]) -> Result<(), String> {
            target::put_groups(&packed::encode_objects(batch))
        }
        pub fn put_members(group_ref: &str, member_refs: &[String]) -> Result<(), String> {
            target::put_members(&packed::encode_members(group_ref, member_refs))
        }
        pub fn remove(kind: ObjectKind, ids: &[String]) -> Result<(), String> {
            target::remove(kind, ids)
        }
        /// Everything sent so far is covered by `cursor`.
        /// Report one unreadable record; the run goes on.
        pub fn reject(record_ref: &str, message: &str) {
            target::reject(record_ref, message)
        }
        pub fn checkpoint(cursor: &str) -> Result<(), String> {
            target::checkpoint(cursor)
        }
        /// Incremental reads: which of these users (source ids) the store
        /// already holds as read from this source, in order. Only the
        /// groups of users answered `false` need to be sent again (`false`
        /// also means the host cannot tell). At most 10,000 ids per call.
        pub fn known_users(ids: &[String]) -> Result<Vec<bool>, String> {
            target::known_users(ids)
        }
    }

    /// Key/value state scoped to tenant + job + plugin.
    pub mod state {
        pub use super::wit::state::{delete, get, set};
    }

    /// Brokered LDAP (the host holds the connection and the bind secret).
    pub mod ldap {
        pub use super::wit::ldap::{
            check, root_dse, Change, Entry, Scope, SearchRequest, Stage, SyncDone, SyncRequest,
        };
        pub use crate::ldap_page::{AttributeRef, EntryRef, Page, ValueRef, Values};

        /// An open search; pull pages until one is empty.
        pub struct Search(super::wit::ldap::Search);

        /// Connect and bind with the job's server and credentials, and start `req`.
        pub fn open_search(req: &SearchRequest) -> Result<Search, String> {
            super::wit::ldap::open_search(req).map(Search)
        }

        impl Search {
            /// The next page of entries (empty after the last).
            pub fn next_page(&self) -> Result<Vec<Entry>, String> {
                let mut page = Page::new();
                self.read_page(&mut page)?;
                Ok(page.iter().map(|e| e.to_owned()).collect())
            }

            /// The next page of entries into `page`, read in place: no
            /// allocation per value, and `page`'s index is reused (empty
            /// after the last page). For connectors that read much.
            pub fn read_page(&self, page: &mut Page) -> Result<(), String> {
                page.read(self.0.next_page()?).map_err(String::from)
            }

            /// After the last page of a content-sync search.
            pub fn sync_done(&self) -> Option<SyncDone> {
                self.0.sync_done()
            }
        }
    }

    /// Brokered HTTP: the host checks the destination against the job's
    /// grant, adds the credential named in `request.credential` (the plugin
    /// never sees the secret), retries throttled requests and caps the size.
    pub mod http {
        pub use super::wit::http::*;

        /// `GET url`, authenticated with the job's credential `credential`.
        pub fn get(
            url: &str,
            credential: Option<&str>,
            headers: &[(&str, &str)],
        ) -> Result<Response, String> {
            send(&Request {
                method: "GET".into(),
                url: url.into(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                body: None,
                credential: credential.map(String::from),
            })
        }

        impl Response {
            /// The first value of header `name` (case-insensitive).
            pub fn header(&self, name: &str) -> Option<&str> {
                self.headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            }

            /// Every value of header `name` (e.g. several `Link` headers).
            pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
                self.headers
                    .iter()
                    .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            }

            pub fn is_success(&self) -> bool {
                (200..300).contains(&self.status)
            }

            /// The body as text (invalid UTF-8 replaced).
            pub fn text(&self) -> String {
                String::from_utf8_lossy(&self.body).into_owned()
            }

            /// The body parsed as JSON.
            pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
                serde_json::from_slice(&self.body).map_err(|e| {
                    format!(
                        "the answer (HTTP {}) is not the JSON expected: {e}",
                        self.status
                    )
                })
            }
        }
    }

    pub mod licensing {
        pub use super::wit::licensing::*;
    }

    pub mod schedule {
        pub use super::wit::schedule::*;
    }
}
