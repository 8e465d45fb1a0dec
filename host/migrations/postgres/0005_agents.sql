-- Agents: processes inside a customer's network that run a tenant's agent
-- jobs' connectors and send what they read over HTTPS. Only SHA-256 digests
-- of enrolment codes and agent credentials are kept.
CREATE TABLE agent_enrollments (
    code_sha256  TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    jobs         TEXT                -- JSON array: the only jobs the agent may serve; NULL: every agent job
);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    name          TEXT NOT NULL,
    token_sha256  TEXT NOT NULL UNIQUE,
    allowed_jobs  TEXT,              -- JSON array from its enrolment code; NULL: every agent job of the tenant
    created_at    TEXT NOT NULL,
    last_seen     TEXT,
    version       TEXT,
    jobs          TEXT,              -- JSON array: the jobs it said it serves
    last_error    TEXT
);
CREATE INDEX agents_tenant ON agents (tenant_id);
