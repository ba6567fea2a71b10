-- Privileges per functional role, schema by schema. ALL … grants cover what exists now, FUTURE … grants
-- what the worker creates later (publish replaces bi views and swaps certified tables on every run, and
-- future grants apply to each new object). GRANT is idempotent.

-- LOADER: writes raw (its tables, and the temporary tables COPY INTO lands in), reads the external
-- stage, and records each table's baseline in audit.source_state.
GRANT USAGE ON DATABASE {{database}} TO ROLE {{loader_role}};
GRANT USAGE ON WAREHOUSE {{pipeline_warehouse}} TO ROLE {{loader_role}};
GRANT USAGE, CREATE TABLE, CREATE STAGE ON SCHEMA {{raw_schema}} TO ROLE {{loader_role}};
GRANT USAGE ON INTEGRATION {{storage_integration}} TO ROLE {{loader_role}};
GRANT USAGE ON STAGE {{stage}} TO ROLE {{loader_role}};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {{raw_schema}} TO ROLE {{loader_role}};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON FUTURE TABLES IN SCHEMA {{raw_schema}} TO ROLE {{loader_role}};
GRANT USAGE, CREATE TABLE ON SCHEMA {{audit_schema}} TO ROLE {{loader_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {{audit_schema}} TO ROLE {{loader_role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON FUTURE TABLES IN SCHEMA {{audit_schema}} TO ROLE {{loader_role}};

-- TRANSFORMER: reads raw; builds models in shadow_<dataset>; publishes into certified and bi; writes
-- audit and quarantine. CREATE SCHEMA: the shadow schema of a dataset added after this apply.
GRANT USAGE, CREATE SCHEMA ON DATABASE {{database}} TO ROLE {{transformer_role}};
GRANT USAGE ON WAREHOUSE {{pipeline_warehouse}} TO ROLE {{transformer_role}};
GRANT USAGE ON SCHEMA {{raw_schema}} TO ROLE {{transformer_role}};
GRANT SELECT ON ALL TABLES IN SCHEMA {{raw_schema}} TO ROLE {{transformer_role}};
GRANT SELECT ON FUTURE TABLES IN SCHEMA {{raw_schema}} TO ROLE {{transformer_role}};
{{#each shadow_schemas}}
GRANT USAGE, CREATE TABLE, CREATE VIEW ON SCHEMA {{schema}} TO ROLE {{transformer_role}};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {{schema}} TO ROLE {{transformer_role}};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON FUTURE TABLES IN SCHEMA {{schema}} TO ROLE {{transformer_role}};
GRANT SELECT ON ALL VIEWS IN SCHEMA {{schema}} TO ROLE {{transformer_role}};
GRANT SELECT ON FUTURE VIEWS IN SCHEMA {{schema}} TO ROLE {{transformer_role}};
{{/each}}
GRANT USAGE, CREATE TABLE ON SCHEMA {{certified_schema}} TO ROLE {{transformer_role}};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {{certified_schema}} TO ROLE {{transformer_role}};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON FUTURE TABLES IN SCHEMA {{certified_schema}} TO ROLE {{transformer_role}};
GRANT USAGE, CREATE VIEW ON SCHEMA {{bi_schema}} TO ROLE {{transformer_role}};
GRANT SELECT ON ALL VIEWS IN SCHEMA {{bi_schema}} TO ROLE {{transformer_role}};
GRANT SELECT ON FUTURE VIEWS IN SCHEMA {{bi_schema}} TO ROLE {{transformer_role}};
GRANT USAGE, CREATE TABLE ON SCHEMA {{audit_schema}} TO ROLE {{transformer_role}};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {{audit_schema}} TO ROLE {{transformer_role}};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON FUTURE TABLES IN SCHEMA {{audit_schema}} TO ROLE {{transformer_role}};
GRANT USAGE, CREATE TABLE ON SCHEMA {{quarantine_schema}} TO ROLE {{transformer_role}};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {{quarantine_schema}} TO ROLE {{transformer_role}};
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON FUTURE TABLES IN SCHEMA {{quarantine_schema}} TO ROLE {{transformer_role}};

-- PII_ADMIN: reads where PII tokens live (raw, shadow, quarantine), unmasked by the masking policy.
GRANT USAGE ON DATABASE {{database}} TO ROLE {{pii_admin_role}};
GRANT USAGE ON WAREHOUSE {{pipeline_warehouse}} TO ROLE {{pii_admin_role}};
GRANT USAGE ON SCHEMA {{raw_schema}} TO ROLE {{pii_admin_role}};
GRANT SELECT ON ALL TABLES IN SCHEMA {{raw_schema}} TO ROLE {{pii_admin_role}};
GRANT SELECT ON FUTURE TABLES IN SCHEMA {{raw_schema}} TO ROLE {{pii_admin_role}};
{{#each shadow_schemas}}
GRANT USAGE ON SCHEMA {{schema}} TO ROLE {{pii_admin_role}};
GRANT SELECT ON ALL TABLES IN SCHEMA {{schema}} TO ROLE {{pii_admin_role}};
GRANT SELECT ON FUTURE TABLES IN SCHEMA {{schema}} TO ROLE {{pii_admin_role}};
{{/each}}
GRANT USAGE ON SCHEMA {{quarantine_schema}} TO ROLE {{pii_admin_role}};
GRANT SELECT ON ALL TABLES IN SCHEMA {{quarantine_schema}} TO ROLE {{pii_admin_role}};
GRANT SELECT ON FUTURE TABLES IN SCHEMA {{quarantine_schema}} TO ROLE {{pii_admin_role}};

-- BI_READER (Tableau): the bi views and its own warehouse, nothing else. A bi view runs with its
-- owner's rights on the certified table underneath, so BI_READER needs no privilege on certified.
GRANT USAGE ON DATABASE {{database}} TO ROLE {{bi_role}};
GRANT USAGE ON SCHEMA {{bi_schema}} TO ROLE {{bi_role}};
GRANT SELECT ON ALL VIEWS IN SCHEMA {{bi_schema}} TO ROLE {{bi_role}};
GRANT SELECT ON FUTURE VIEWS IN SCHEMA {{bi_schema}} TO ROLE {{bi_role}};
GRANT USAGE ON WAREHOUSE {{bi_warehouse}} TO ROLE {{bi_role}};
-- Earlier publishes granted certified to the BI role; take that back (REVOKE of a missing grant is a no-op).
REVOKE SELECT ON ALL TABLES IN SCHEMA {{certified_schema}} FROM ROLE {{bi_role}};
REVOKE USAGE ON SCHEMA {{certified_schema}} FROM ROLE {{bi_role}};
