-- The application's user store, as usersync keeps it.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
);

-- Per job: the connector's cursor, committed with the data it covers.
CREATE TABLE jobs (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    cursor        TEXT,
    last_full_at  TEXT,
    PRIMARY KEY (tenant_id, id)
);

-- Lookup tables: sync links to existing entries, never creates them.
CREATE TABLE job_titles (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE TABLE companies (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id            TEXT NOT NULL,
    job_id               TEXT,              -- NULL: created in the application
    source_id            TEXT,              -- the source's immutable id
    ref_key              TEXT NOT NULL DEFAULT '',
    origin               TEXT NOT NULL CHECK (origin IN ('sync', 'local')),
    username             TEXT NOT NULL,
    display_name         TEXT,
    given_name           TEXT,
    family_name          TEXT,
    email                TEXT,
    phone                TEXT,
    job_title_id         INTEGER REFERENCES job_titles(id),
    company_id           INTEGER REFERENCES companies(id),
    department           TEXT,
    manager_source_id    TEXT,
    manager_id           INTEGER REFERENCES users(id),
    employee_id          TEXT,
    custom               TEXT,              -- JSON object
    active               INTEGER NOT NULL DEFAULT 1,
    in_source            INTEGER NOT NULL DEFAULT 1,
    source_enabled       INTEGER NOT NULL DEFAULT 1,
    deactivation_reason  TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (tenant_id, job_id, source_id),
    UNIQUE (tenant_id, username)
);

CREATE TABLE groups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT NOT NULL,
    job_id       TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    ref_key      TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL,
    description  TEXT,
    active       INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (tenant_id, job_id, source_id)
);

-- Effective memberships (nested groups resolved).
CREATE TABLE memberships (
    group_id  INTEGER NOT NULL REFERENCES groups(id),
    user_id   INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE roles (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('functional', 'organizational')),
    UNIQUE (tenant_id, name)
);

-- Roles held; job_id says which job's bindings granted it (NULL: by hand).
CREATE TABLE user_roles (
    user_id  INTEGER NOT NULL REFERENCES users(id),
    role_id  INTEGER NOT NULL REFERENCES roles(id),
    job_id   TEXT,
    PRIMARY KEY (user_id, role_id)
);

CREATE TABLE license_assignments (
    tenant_id   TEXT NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    kind        TEXT NOT NULL,
    granted_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, kind)
);

CREATE TABLE runs (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL,
    job_id             TEXT NOT NULL,
    mode               TEXT NOT NULL,
    dry_run            INTEGER NOT NULL,
    started_at         TEXT NOT NULL,
    finished_at        TEXT,
    duration_ms        INTEGER,
    outcome            TEXT NOT NULL,        -- running, succeeded, failed, stopped_by_*
    message            TEXT,
    counts             TEXT,                 -- JSON
    errors             TEXT,                 -- JSON list of per-record errors
    warnings           TEXT,                 -- JSON list
    connector_version  TEXT,
    mapper_versions    TEXT,
    plugin_versions    TEXT                  -- JSON, as audit events cite them
);
CREATE INDEX runs_job ON runs(tenant_id, job_id, started_at);

-- One row per change; tenant, job, time and plugin versions come from the
-- run (audit rows of a run share them, so they are not repeated per row).
CREATE TABLE audit_events (
    id                 INTEGER PRIMARY KEY,
    run_id             TEXT NOT NULL REFERENCES runs(id),
    category           TEXT NOT NULL,        -- user, group, membership, role, license
    action             TEXT NOT NULL,
    subject            TEXT NOT NULL,        -- username or group name
    subject_source_id  TEXT,
    changes            TEXT                  -- JSON: [{field, old, new}] or details
);
CREATE INDEX audit_run ON audit_events(run_id, category);
CREATE INDEX audit_subject ON audit_events(subject);

CREATE TABLE plugin_state (
    tenant_id  TEXT NOT NULL,
    job_id     TEXT NOT NULL,
    plugin     TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    PRIMARY KEY (tenant_id, job_id, plugin, key)
);
