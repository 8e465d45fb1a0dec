-- Tenants, jobs and tenant plugins made through the admin API. They live in
-- the store so every node that shares it serves them; `managed_version`
-- goes up with every change, and each node polls it to notice changes made
-- through another node.
CREATE TABLE managed_tenants (
    id            TEXT PRIMARY KEY,
    token_sha256  TEXT,              -- hex SHA-256 of the tenant's API token, never the token
    licenses      TEXT NOT NULL,     -- JSON object: kind -> seats
    limits        TEXT,              -- JSON object as [tenants.limits], or NULL
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE managed_jobs (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    body        TEXT NOT NULL,       -- the job as JSON, its secrets sealed
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE managed_plugins (
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    wasm        BYTEA NOT NULL,
    sha256      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE managed_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO managed_version (id, version) VALUES (1, 0);
