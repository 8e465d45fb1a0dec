//! The contract versions this host serves. A component says which one it
//! was built for by the version of the API it exports
//! (`usersync:plugin/connector-api@0.2.0`); the loader picks the bindings.
//!
//! A new version adds a variant here, its bindings and conversions in
//! `runtime/wit/`, an arm in `capability::link!`, and the version's code in
//! each capability whose WIT changed (an unchanged one names it in its
//! shim macro).

/// One version of the WIT contract (`wit/v0.X/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// Typed records in every call: one guest allocation per string.
    V0_1,
    /// Packed pages for the bulk calls (`wit/v0.2/PACKED.md`).
    V0_2,
}

impl Contract {
    /// What `usersync-sdk` builds today.
    pub const LATEST: Contract = Contract::V0_2;
    pub const ALL: [Contract; 2] = [Contract::V0_1, Contract::V0_2];

    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => super::wit::v0_1::VERSION,
            Contract::V0_2 => super::wit::v0_2::VERSION,
        }
    }

    pub fn from_version(version: &str) -> Option<Contract> {
        Contract::ALL.into_iter().find(|c| c.version() == version)
    }

    /// "0.1.0, 0.2.0", for messages.
    pub fn supported() -> String {
        Contract::ALL.map(Contract::version).join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_name_their_contract() {
        assert_eq!(Contract::from_version("0.2.0"), Some(Contract::LATEST));
        assert_eq!(Contract::from_version("0.1.0"), Some(Contract::V0_1));
        assert_eq!(Contract::from_version("0.3.0"), None);
        assert_eq!(Contract::supported(), "0.1.0, 0.2.0");
    }
}
