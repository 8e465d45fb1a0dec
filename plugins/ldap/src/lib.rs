//! `connector = "ldap"`: users and groups from OpenLDAP or Active Directory
//! over the host's brokered `ldap` interface. The host owns the connection
//! (`[jobs.ldap]`: server, TLS, bind DN and password); this plugin only
//! searches. See README.md for the configuration and what each incremental
//! mode sees.

// A 0.1 build (feature `contract-0-1`) uses the frozen SDK under the same name.
#[cfg(not(feature = "contract-0-2"))]
extern crate usersync_sdk_v01 as usersync_sdk;

mod bytes;
mod changed;
mod changes;
mod check;
mod config;
mod cursor;
mod deletions;
mod dn;
mod entries;
mod graph;
mod groups;
mod ids;
mod member_attrs;
mod read;
mod search;
mod server;
mod user;

use usersync_sdk::{export_connector, Check, Connector, ReadMode, ReadSummary};

use config::{Config, Incremental};
use cursor::Cursor;
use server::Server;

struct LdapConnector;

impl Connector for LdapConnector {
    const NAME: &'static str = "ldap";
    const DESCRIPTION: &'static str =
        "Users and groups from OpenLDAP or Active Directory (paged reads; content-sync, timestamp or USN incremental runs)";
    const CAPABILITIES: &'static [&'static str] = &["ldap", "incremental"];
    type Config = Config;

    fn test_connection(config: Config) -> Vec<Check> {
        check::run(config)
    }

    fn read(config: Config, mode: ReadMode) -> Result<ReadSummary, String> {
        config.validate()?;
        let server = Server::read()?;
        let cfg = config.resolve(server.naming_context.clone())?;
        let incremental = read::mode(&cfg, &server)?;
        match mode {
            ReadMode::Incremental(cursor) if incremental != Incremental::None => {
                let cursor = Cursor::parse(&cursor)?;
                changes::incremental(&cfg, &server, cursor)
            }
            _ => read::full(&cfg, &server, incremental),
        }
    }
}

export_connector!(LdapConnector);
