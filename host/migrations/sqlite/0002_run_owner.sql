-- Who runs a run, so a starting process marks a "running" row interrupted
-- only when its owner is provably gone (same host and the process is not
-- there, or the heartbeat is stale), never because some process started.
ALTER TABLE runs ADD COLUMN owner_host TEXT;
ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
ALTER TABLE runs ADD COLUMN owner_token TEXT;   -- boot id and process start time
ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;  -- refreshed while the run runs
CREATE INDEX runs_outcome ON runs(outcome);
