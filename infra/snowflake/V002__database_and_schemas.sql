-- The database and its schemas (activities/warehouse/layout.ts), owned by the administrator who applies:
-- the worker's role may create tables and views in them but cannot grant access to a schema, so no
-- role reaches a schema unless this DDL says so.
CREATE DATABASE IF NOT EXISTS {{database}}
  COMMENT = 'Freshline: raw, shadow_<dataset>, certified, bi, audit, quarantine, governance';

CREATE SCHEMA IF NOT EXISTS {{raw_schema}} COMMENT = 'Every extracted row version, PII as HMAC tokens; written by load';

{{#each shadow_schemas}}
CREATE SCHEMA IF NOT EXISTS {{schema}} COMMENT = 'Staging, intermediate and mart models of one dataset before the quality gate';
{{/each}}

CREATE SCHEMA IF NOT EXISTS {{certified_schema}} COMMENT = 'Marts that passed the gate, swapped in by publish';

CREATE SCHEMA IF NOT EXISTS {{bi_schema}} COMMENT = 'Stable views over certified: the only thing dashboards read';

CREATE SCHEMA IF NOT EXISTS {{audit_schema}} COMMENT = 'Run records, check results, source state, freshness';

CREATE SCHEMA IF NOT EXISTS {{quarantine_schema}} COMMENT = 'Rows held back by error-severity checks';

CREATE SCHEMA IF NOT EXISTS {{governance_schema}}
  COMMENT = 'Freshline security objects (masking policies, network rules) and applied DDL versions; administrators only';

-- The external stage COPY INTO reads the staged Parquet from. The worker creates it too if missing
-- (activities/warehouse/snowflake-stage.ts); creating it here lets LOADER be granted USAGE on it.
CREATE STAGE IF NOT EXISTS {{stage}}
  URL = {{stage_url}} STORAGE_INTEGRATION = {{storage_integration}} FILE_FORMAT = (TYPE = PARQUET);
