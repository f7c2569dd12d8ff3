-- The built-in "minimal" template was inserted with created_at 0 (shown as 1970-01-01).
-- It is registered by 0020_capsules.sql, so that migration's applied_at is its creation time.
UPDATE capsule_templates
SET created_at = (SELECT applied_at FROM _migrations WHERE name = '0020_capsules.sql')
WHERE id = 'tpl-minimal' AND created_at = 0
  AND EXISTS (SELECT 1 FROM _migrations WHERE name = '0020_capsules.sql');
