-- The field a VALIDATION_FAILED rejection named, so the online lane replays the same
-- problem document (with `field`) as it first answered.
ALTER TABLE ops ADD COLUMN field TEXT;
