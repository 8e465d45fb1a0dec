-- Several `usersync serve` nodes on one store: each run names the node that
-- ran it, and a job is run by the node holding its lease (see store/leases.rs).
ALTER TABLE runs ADD COLUMN node TEXT;

CREATE TABLE leases (
    tenant_id    TEXT NOT NULL,
    job_id       TEXT NOT NULL,
    node         TEXT NOT NULL,
    -- the run holding the lease; NULL once released
    run_id       TEXT,
    -- milliseconds since the epoch, by the database's clock
    expires_at   INTEGER NOT NULL,
    -- the last schedule slot started, so each slot runs once per cluster
    last_slot    TEXT,
    -- who held it before the last take, to tell a takeover
    prev_node    TEXT,
    prev_run_id  TEXT,
    PRIMARY KEY (tenant_id, job_id)
);
CREATE INDEX leases_run ON leases(run_id);
