-- Moves with every admin write to the branch's change stream: a push that decided
-- without the branch lock compares it under the lock (see BranchRecord::admin_version).
ALTER TABLE branches ADD COLUMN admin_version bigint NOT NULL DEFAULT 0;
