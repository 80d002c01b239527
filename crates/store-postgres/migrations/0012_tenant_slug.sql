-- Tenants get a slug (SPEC §3): what a manager types to name the shop at sign-in.
-- Tenants made before get one from their id; `modula admin init` makes new ones from
-- the name or `--slug`.
ALTER TABLE tenants ADD COLUMN slug text;
UPDATE tenants SET slug = 'tenant-' || replace(id::text, '-', '');
ALTER TABLE tenants ALTER COLUMN slug SET NOT NULL;
CREATE UNIQUE INDEX tenants_slug ON tenants(slug);
