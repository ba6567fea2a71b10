-- Repeatable: runs on every apply, after the versioned files. Raw tables appear with their first load,
-- so a PII column configured today may not exist yet: IF EXISTS skips it now and the next apply attaches
-- it. FORCE makes re-attaching the same policy a no-op. One statement per configured PII column.
-- shadow_<dataset> tables are rebuilt (CREATE OR REPLACE) by every run, which drops column policies, so
-- they are not listed here: only TRANSFORMER and PII_ADMIN have USAGE on those schemas.
{{#each pii_columns}}
ALTER TABLE IF EXISTS {{table}} MODIFY COLUMN {{column}} SET MASKING POLICY {{masking_policy}} FORCE;
{{/each}}
