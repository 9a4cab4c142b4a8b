-- One worker's cycle with nothing but PostgreSQL: claim the oldest waiting
-- job (FOR UPDATE SKIP LOCKED) in one transaction, complete it in another.
UPDATE raw_jobs SET state = 1, taken_at = now()
  WHERE id = (SELECT id FROM raw_jobs WHERE state = 0 ORDER BY id
              FOR UPDATE SKIP LOCKED LIMIT 1)
  RETURNING id AS job \gset
UPDATE raw_jobs SET state = 2, done_at = now() WHERE id = :job;
