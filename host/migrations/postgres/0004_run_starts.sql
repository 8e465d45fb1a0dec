-- Tenant run quotas counted in the store, so that several nodes share them
-- (see store/leases.rs): each run start, by the database's clock, for a
-- tenant's `runs_per_hour`; rows older than an hour are pruned as runs start.
CREATE TABLE run_starts (
    run_id      TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    -- milliseconds since the epoch, by the database's clock
    started_ms  BIGINT NOT NULL
);
CREATE INDEX run_starts_tenant ON run_starts(tenant_id, started_ms);
CREATE INDEX leases_tenant_live ON leases(tenant_id, expires_at);
