-- Tenants get a slug (SPEC §3): what a manager types to name the shop at sign-in.
-- Tenants made before get one from their id; `modula admin init` makes new ones from
-- the name or `--slug`.
ALTER TABLE tenants ADD COLUMN slug TEXT;
UPDATE tenants SET slug = 'tenant-' || lower(hex(id));
CREATE UNIQUE INDEX tenants_slug ON tenants(slug);
