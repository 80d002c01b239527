-- When the signed-in person last acted (sign-in or a queued action): the idle sign-out
-- after the policy's idle_signout_minutes (SPEC §6) counts from it, across restarts.
ALTER TABLE device ADD COLUMN last_action_at TEXT;
