//! Running plugin instances: a fresh store per instance with its memory
//! limit, CPU deadline, output cap and deny-by-default WASI context.

use anyhow::{anyhow, Result};
use wasmtime::Store;

use super::capability::{PluginHost, ReadSink};
use super::job::{CallContext, Grant, InstanceLimits};
use super::loader::{ConnectorPre, LoadedPlugin, MapperPre, PluginPre};
use super::store::{new_store, CpuLimitExceeded};
use super::wit::{v0_1, v0_2};
use super::{packed, Runtime, WireObject, WireValue};
use crate::config::Limits;
use crate::model::{Check, ReadMode, ReadSummary, RecordError, UserFields};

/// Turn a trap into a message a person can act on.
fn explain(err: wasmtime::Error, plugin: &LoadedPlugin, limits: &InstanceLimits) -> anyhow::Error {
    let who = format!("{} `{}`", plugin.kind(), plugin.label());
    if err.downcast_ref::<CpuLimitExceeded>().is_some() {
        return anyhow!(
            "{who} computed for more than {:.1} s without returning to the host (an endless loop?); it was stopped. Raise limits.cpu_seconds if it really needs longer",
            limits.cpu.as_secs_f64()
        );
    }
    let text = format!("{err:#}");
    if text.contains("growing memory") || text.contains("memory size") {
        return anyhow!(
            "{who} exceeded its memory limit of {} MiB and was stopped. Raise limits.memory_mb if it really needs more",
            limits.memory_bytes >> 20
        );
    }
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
        return anyhow!("{who} crashed ({trap}); see its log lines above for a reason");
    }
    anyhow!("{who} failed: {text}")
}

fn start_call(store: &mut Store<PluginHost>) {
    store.data_mut().resume();
}

/// A connector's exports, in the contract it was built for.
enum ConnectorBindings {
    V0_1(v0_1::connector_bindings::Connector),
    V0_2(v0_2::connector_bindings::Connector),
}

pub struct ConnectorInstance {
    store: Store<PluginHost>,
    bindings: ConnectorBindings,
    plugin: LoadedPlugin,
    limits: InstanceLimits,
}

impl ConnectorInstance {
    pub fn new(
        rt: &Runtime,
        plugin: &LoadedPlugin,
        limits: &Limits,
        ctx: CallContext,
        grant: &Grant,
    ) -> Result<Self> {
        let PluginPre::Connector(pre) = &plugin.pre else {
            anyhow::bail!(
                "`{}` is a {}, not a connector",
                plugin.label(),
                plugin.kind()
            );
        };
        let limits = InstanceLimits::from_config(limits);
        let mut store = new_store(rt.engine(), &limits, ctx, grant)?;
        let bindings = match pre {
            ConnectorPre::V0_1(pre) => pre.instantiate(&mut store).map(ConnectorBindings::V0_1),
            ConnectorPre::V0_2(pre) => pre.instantiate(&mut store).map(ConnectorBindings::V0_2),
        }
        .map_err(|e| explain(e, plugin, &limits))?;
        Ok(ConnectorInstance {
            store,
            bindings,
            plugin: plugin.clone(),
            limits,
        })
    }

    pub fn test_connection(&mut self, config: &str) -> Result<Vec<Check>> {
        start_call(&mut self.store);
        let store = &mut self.store;
        match &self.bindings {
            ConnectorBindings::V0_1(b) => b
                .usersync_plugin_connector_api()
                .call_test_connection(store, config)
                .map(|c| c.into_iter().map(Into::into).collect()),
            ConnectorBindings::V0_2(b) => b
                .usersync_plugin_connector_api()
                .call_test_connection(store, config)
                .map(|c| c.into_iter().map(Into::into).collect()),
        }
        .map_err(|e| explain(e, &self.plugin, &self.limits))
    }

    /// Bytes of linear memory the instance holds now.
    pub fn memory_bytes(&self) -> usize {
        self.store.data().limits.memory_bytes
    }

    /// Run `read`, streaming into `sink`. The outer error is the plugin
    /// failing (trap, limit); the inner one is the error it reported.
    pub fn read(
        &mut self,
        config: &str,
        mode: &ReadMode,
        sink: Box<dyn ReadSink>,
    ) -> Result<ReadSummary> {
        self.store.data_mut().sink = Some(sink);
        start_call(&mut self.store);
        let store = &mut self.store;
        let result = match &self.bindings {
            ConnectorBindings::V0_1(b) => b
                .usersync_plugin_connector_api()
                .call_read(store, config, &mode.into())
                .map(|r| r.map(|s| (s.users, s.groups, s.complete))),
            ConnectorBindings::V0_2(b) => b
                .usersync_plugin_connector_api()
                .call_read(store, config, &mode.into())
                .map(|r| r.map(|s| (s.users, s.groups, s.complete))),
        };
        let host = self.store.data_mut();
        host.sink = None;
        if let Some(fatal) = host.fatal.take() {
            return Err(fatal);
        }
        match result {
            Err(trap) => Err(explain(trap, &self.plugin, &self.limits)),
            Ok(Err(reported)) => Err(ReadRefused {
                connector: self.plugin.label(),
                message: reported,
            }
            .into()),
            Ok(Ok((users, groups, complete))) => Ok(ReadSummary {
                users,
                groups,
                complete,
            }),
        }
    }
}

/// The error a connector's `read` returned itself (as opposed to a trap
/// or a limit): the conformance kit tells the two apart.
#[derive(Debug)]
pub struct ReadRefused {
    pub connector: String,
    pub message: String,
}

impl std::fmt::Display for ReadRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connector `{}` could not read: {}",
            self.connector, self.message
        )
    }
}
impl std::error::Error for ReadRefused {}

pub type MapResult<T> = Result<Option<T>, RecordError>;

/// A mapped group: name and optional description.
pub type GroupNaming = (String, Option<String>);

/// A mapper's exports, in the contract it was built for.
enum MapperBindings {
    V0_1(v0_1::mapper_bindings::Mapper),
    V0_2(v0_2::mapper_bindings::Mapper),
}

pub struct MapperInstance {
    store: Store<PluginHost>,
    bindings: MapperBindings,
    plugin: LoadedPlugin,
    limits: InstanceLimits,
}

impl MapperInstance {
    /// Instantiate and configure with the job's `[mapping]` JSON.
    pub fn new(
        rt: &Runtime,
        plugin: &LoadedPlugin,
        limits: &Limits,
        ctx: CallContext,
        mapping_json: &str,
    ) -> Result<Self> {
        let PluginPre::Mapper(pre) = &plugin.pre else {
            anyhow::bail!("`{}` is a {}, not a mapper", plugin.label(), plugin.kind());
        };
        let limits = InstanceLimits::from_config(limits);
        let mut store = new_store(rt.engine(), &limits, ctx, &Grant::default())?;
        let bindings = match pre {
            MapperPre::V0_1(pre) => pre.instantiate(&mut store).map(MapperBindings::V0_1),
            MapperPre::V0_2(pre) => pre.instantiate(&mut store).map(MapperBindings::V0_2),
        }
        .map_err(|e| explain(e, plugin, &limits))?;
        let mut me = MapperInstance {
            store,
            bindings,
            plugin: plugin.clone(),
            limits,
        };
        start_call(&mut me.store);
        let store = &mut me.store;
        match &me.bindings {
            MapperBindings::V0_1(b) => b
                .usersync_plugin_mapper_api()
                .call_configure(store, mapping_json),
            MapperBindings::V0_2(b) => b
                .usersync_plugin_mapper_api()
                .call_configure(store, mapping_json),
        }
        .map_err(|e| explain(e, &me.plugin, &me.limits))?
        .map_err(|e| {
            anyhow!(
                "mapper `{}` rejected its configuration: {e}",
                me.plugin.label()
            )
        })?;
        Ok(me)
    }

    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    /// Whether it takes packed pages (contract 0.2), so a connector's page
    /// can go to it as it came.
    pub fn takes_pages(&self) -> bool {
        matches!(self.bindings, MapperBindings::V0_2(_))
    }

    pub fn map_users(&mut self, batch: &[WireObject]) -> Result<Vec<MapResult<UserFields>>> {
        self.map_users_of(batch, None)
    }

    /// [`Self::map_users`] of a connector's page as it came (`heads` are
    /// its records' heads, [`super::PackedUsers`]): a 0.2 mapper gets the
    /// page itself, not a copy re-encoded from records the host decoded.
    pub fn map_user_page(
        &mut self,
        heads: &[WireObject],
        page: &[u8],
    ) -> Result<Vec<MapResult<UserFields>>> {
        self.map_users_of(heads, Some(page))
    }

    /// `page`, when given, holds `batch`'s records whole (`batch` may be
    /// their heads alone).
    fn map_users_of(
        &mut self,
        batch: &[WireObject],
        page: Option<&[u8]>,
    ) -> Result<Vec<MapResult<UserFields>>> {
        start_call(&mut self.store);
        let store = &mut self.store;
        let out: Vec<packed::Mapped<UserFields>> = match (&self.bindings, page) {
            (MapperBindings::V0_1(b), None) => b
                .usersync_plugin_mapper_api()
                .call_map_users(store, batch)
                .map(|out| Ok(out.into_iter().map(v0_1_result).collect())),
            // A 0.1 mapper after a 0.2 connector: typed records, whole.
            (MapperBindings::V0_1(b), Some(page)) => {
                let whole = packed::decode_objects(page).map_err(|e| anyhow!("{e}"))?;
                b.usersync_plugin_mapper_api()
                    .call_map_users(store, &whole)
                    .map(|out| Ok(out.into_iter().map(v0_1_result).collect()))
            }
            (MapperBindings::V0_2(b), page) => {
                let encoded;
                let page = match page {
                    Some(page) => page,
                    None => {
                        encoded = packed::encode_objects(batch);
                        &encoded
                    }
                };
                b.usersync_plugin_mapper_api()
                    .call_map_users(store, page)
                    .map(|page| packed::decode_user_results(&page))
            }
        }
        .map_err(|e| explain(e, &self.plugin, &self.limits))?
        .map_err(|e| self.malformed(e))?;
        self.check_len(out.len(), batch.len())?;
        let mut mapped = Vec::with_capacity(out.len());
        for (result, source) in out.into_iter().zip(batch) {
            mapped.push(match result {
                Ok(Some(user)) => {
                    self.check_size(user_size(&user), &source.id)?;
                    Ok(Some(user))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(record_error(source, e)),
            });
        }
        Ok(mapped)
    }

    pub fn map_groups(&mut self, batch: &[WireObject]) -> Result<Vec<MapResult<GroupNaming>>> {
        start_call(&mut self.store);
        let store = &mut self.store;
        let out: Vec<packed::Mapped<GroupNaming>> = match &self.bindings {
            MapperBindings::V0_1(b) => b
                .usersync_plugin_mapper_api()
                .call_map_groups(store, batch)
                .map(|out| Ok(out.into_iter().map(v0_1_result).collect())),
            MapperBindings::V0_2(b) => b
                .usersync_plugin_mapper_api()
                .call_map_groups(store, &packed::encode_groups(batch))
                .map(|page| packed::decode_group_results(&page)),
        }
        .map_err(|e| explain(e, &self.plugin, &self.limits))?
        .map_err(|e| self.malformed(e))?;
        self.check_len(out.len(), batch.len())?;
        let mut mapped = Vec::with_capacity(out.len());
        for (result, source) in out.into_iter().zip(batch) {
            mapped.push(match result {
                Ok(Some((name, description))) => {
                    let size = name.len() + description.as_ref().map_or(0, String::len);
                    self.check_size(size, &source.id)?;
                    Ok(Some((name, description)))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(record_error(source, e)),
            });
        }
        Ok(mapped)
    }

    fn malformed(&self, e: usersync_packed::Malformed) -> anyhow::Error {
        anyhow!("mapper `{}` answered with a {e}", self.plugin.label())
    }

    fn check_len(&self, got: usize, want: usize) -> Result<()> {
        if got != want {
            anyhow::bail!(
                "mapper `{}` returned {got} results for {want} records; it must return one per record",
                self.plugin.label()
            );
        }
        Ok(())
    }

    fn check_size(&self, size: usize, id: &str) -> Result<()> {
        if size > self.limits.max_output {
            anyhow::bail!(
                "mapper `{}` returned {} KiB for record {id:?}, over the {} KiB limit (limits.max_output_kb)",
                self.plugin.label(),
                size / 1024,
                self.limits.max_output / 1024
            );
        }
        Ok(())
    }
}

/// A mapper's error for `source`, named by its id and, when the connector
/// sent one (LDAP), its DN: an entryUUID alone finds nothing in a console.
fn record_error(source: &WireObject, (field, message): (Option<String>, String)) -> RecordError {
    let dn = source
        .attributes
        .iter()
        .find(|a| a.name == "dn")
        .and_then(|a| a.values.first());
    let record = match dn {
        Some(WireValue::Text(dn)) if !dn.is_empty() => format!("{} ({dn})", source.id),
        _ => source.id.clone(),
    };
    packed::record_error(record, (field, message))
}

/// A 0.1 mapper's typed result, in the shape 0.2's pages decode to.
fn v0_1_result<T, U: Into<T>>(r: Result<Option<U>, v0_1::types::RecordError>) -> packed::Mapped<T> {
    r.map(|o| o.map(Into::into))
        .map_err(|e| (e.field, e.message))
}

fn user_size(u: &UserFields) -> usize {
    let opt = |o: &Option<Box<str>>| o.as_ref().map_or(0, |s| s.len());
    u.username.len()
        + opt(&u.display_name)
        + opt(&u.given_name)
        + opt(&u.family_name)
        + opt(&u.email)
        + opt(&u.phone)
        + opt(&u.job_title)
        + opt(&u.company)
        + opt(&u.department)
        + opt(&u.manager)
        + opt(&u.employee_id)
        + u.custom
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
}
