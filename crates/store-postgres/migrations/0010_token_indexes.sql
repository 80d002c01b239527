-- A person's tokens are revoked together (a deactivation or role change), and expired
-- tokens are purged hourly: both find their rows by index, not by scanning every token.
CREATE INDEX tokens_subject ON tokens(subject_id);
CREATE INDEX tokens_expiry ON tokens(expires_at) WHERE expires_at IS NOT NULL;
