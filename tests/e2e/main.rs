//! End-to-end tests: the real host loads the real plugins (built for
//! wasm32-wasip2 by scripts/build-plugins.sh) and syncs into a real SQLite
//! store in a temporary folder, or with `USERSYNC_TEST_STORE=postgres` into a
//! database of a throwaway PostgreSQL cluster (see env.rs). The behaviour tests (lifecycle, scope,
//! attributes, groups_roles, licensing, incremental, safety, runs) script
//! their source with the scripted-connector fixture.

mod agent;
mod agent_bench;
mod agent_env;
mod agent_protocol;
mod api_errors;
mod attributes;
mod builtins;
mod candidate_mapper;
mod cli;
mod cli_lease;
mod cloud_env;
mod cloud_graph;
mod cloud_okta;
mod cluster;
mod cluster_quotas;
mod conformance;
mod console;
mod contract_versions;
mod crash;
mod csv_sync;
mod daemon;
mod daemon_env;
mod daemon_plugins;
mod daemon_shutdown;
mod db_outage;
mod env;
mod groups_roles;
mod hostile;
mod incremental;
mod ldap_deletions;
mod ldap_env;
mod ldap_names;
mod ldap_openldap;
mod ldap_samba;
mod ldap_samba_service;
mod ldap_scale;
mod ldap_verify;
mod leases;
mod licensing;
mod lifecycle;
mod misuse_config;
mod names;
mod notify;
mod plugin_cache;
mod plugin_upgrade;
mod plugins_new;
mod polyglot;
mod polyglot_connectors;
mod postgres_store;
mod probe;
mod remote_csv;
mod repository;
mod run_ids;
mod run_outcomes;
mod runs;
mod safety;
mod scope;
mod script;
mod signing;
mod tenant_admin;
mod tenant_admin_env;
mod tenant_admin_tokens;
mod tenant_fairness;
mod tenant_quotas;
mod tenant_tokens;
mod tenants;
mod validation;
mod webdriver;
