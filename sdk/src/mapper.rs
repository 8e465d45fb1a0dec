//! The mapper side of the SDK: the [`Mapper`] trait and `export_mapper!`.

use crate::{RecordError, SourceObject, TargetGroup, TargetUser};
use serde::de::DeserializeOwned;

/// A custom attribute mapper: turns a source record into a target record.
///
/// The host calls [`Mapper::new`] once per run with the job's `[mapping]`
/// table, then maps records in batches.
pub trait Mapper: Sized + 'static {
    /// The name jobs use to pick this mapper (`mapper = "..."`).
    const NAME: &'static str;
    const DESCRIPTION: &'static str = "";
    /// The configuration type, deserialized from the job's `[mapping]` table.
    type Config: DeserializeOwned;

    fn new(config: Self::Config) -> Result<Self, String>;

    /// `Ok(None)` skips the user; `Err` is a per-record error in the run record.
    fn map_user(&self, user: &SourceObject) -> Result<Option<TargetUser>, RecordError>;

    /// By default a group keeps its `cn` (or `name`, or id) as its name.
    fn map_group(&self, group: &SourceObject) -> Result<Option<TargetGroup>, RecordError> {
        let name = group
            .text("cn")
            .or_else(|| group.text("name"))
            .unwrap_or(&group.id);
        Ok(Some(TargetGroup::new(name)))
    }
}

/// Export `$t` (a [`Mapper`]) as this component's mapper.
#[macro_export]
macro_rules! export_mapper {
    ($t:ty) => {
        ::std::thread_local! {
            static __USERSYNC_MAPPER: ::std::cell::RefCell<::std::option::Option<$t>> =
                const { ::std::cell::RefCell::new(::std::option::Option::None) };
        }

        struct __UsersyncMapperExport;

        impl $crate::__private::mapper_world::exports::usersync::plugin::mapper_api::Guest
            for __UsersyncMapperExport
        {
            fn describe() -> $crate::Manifest {
                $crate::__private::mapper_glue::manifest::<$t>(env!("CARGO_PKG_VERSION"))
            }
            fn configure(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                let mapper = $crate::__private::mapper_glue::configure::<$t>(&config)?;
                __USERSYNC_MAPPER.with(|m| *m.borrow_mut() = ::std::option::Option::Some(mapper));
                Ok(())
            }
            fn map_users(batch: ::std::vec::Vec<u8>) -> ::std::vec::Vec<u8> {
                __USERSYNC_MAPPER.with(|m| $crate::__private::mapper_glue::map_users(m.borrow().as_ref(), &batch))
            }
            fn map_groups(batch: ::std::vec::Vec<u8>) -> ::std::vec::Vec<u8> {
                __USERSYNC_MAPPER.with(|m| $crate::__private::mapper_glue::map_groups(m.borrow().as_ref(), &batch))
            }
        }

        $crate::__private::export_mapper_world!(
            __UsersyncMapperExport with_types_in $crate::__private::mapper_world
        );
    };
}

#[doc(hidden)]
pub mod glue {
    use super::*;
    use crate::{Manifest, PluginKind};

    pub fn manifest<M: Mapper>(version: &str) -> Manifest {
        Manifest {
            name: M::NAME.to_string(),
            version: version.to_string(),
            kind: PluginKind::Mapper,
            description: M::DESCRIPTION.to_string(),
            config_schema: "{}".to_string(),
            capabilities: Vec::new(),
        }
    }

    pub fn configure<M: Mapper>(json: &str) -> Result<M, String> {
        M::new(crate::parse_config(json, "mapping")?)
    }

    /// One packed page in, one packed page of results out (contract 0.2).
    /// A page the SDK cannot read traps: the host sent it, so it is a bug
    /// there, not a record error.
    pub fn map_users<M: Mapper>(mapper: Option<&M>, page: &[u8]) -> Vec<u8> {
        with_decoded(page, |batch| {
            crate::packed::encode_user_results(&map_all(mapper, batch, M::map_user))
        })
    }

    pub fn map_groups<M: Mapper>(mapper: Option<&M>, page: &[u8]) -> Vec<u8> {
        with_decoded(page, |batch| {
            crate::packed::encode_group_results(&map_all(mapper, batch, M::map_group))
        })
    }

    std::thread_local! {
        /// The records of the last page, kept so the next one reuses
        /// their strings (a component instance is single-threaded).
        static POOL: std::cell::RefCell<Vec<SourceObject>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    fn with_decoded(page: &[u8], f: impl FnOnce(&[SourceObject]) -> Vec<u8>) -> Vec<u8> {
        POOL.with_borrow_mut(|pool| {
            let n = crate::packed::decode_objects_into(page, pool)
                .expect("the host sent a malformed page");
            f(&pool[..n])
        })
    }

    pub fn map_all<M, T>(
        mapper: Option<&M>,
        batch: &[SourceObject],
        map: fn(&M, &SourceObject) -> Result<Option<T>, RecordError>,
    ) -> Vec<Result<Option<T>, RecordError>> {
        match mapper {
            Some(m) => batch.iter().map(|r| map(m, r)).collect(),
            None => batch
                .iter()
                .map(|_| Err(RecordError::new("mapper used before `configure`")))
                .collect(),
        }
    }
}
