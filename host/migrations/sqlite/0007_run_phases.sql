-- How long a run's phases took (JSON: read_ms, plan_ms, apply_ms; see
-- store/run_phases.rs). NULL for runs recorded before this column, and for
-- runs that stopped before they planned.
ALTER TABLE runs ADD COLUMN phases TEXT;
