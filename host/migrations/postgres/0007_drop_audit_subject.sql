-- The audit search matches a subject by name, source id or any name it
-- once had (a JSON test over the rename events), which an index on
-- `subject` alone cannot answer: the query plan scans audit_events with or
-- without it. Keeping it up cost a 100k-user first sync 0.5-1 s of its
-- write (200k names inserted in random order).
DROP INDEX IF EXISTS audit_subject;
