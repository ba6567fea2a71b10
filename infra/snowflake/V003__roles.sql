-- Functional roles. LOADER, TRANSFORMER and PII_ADMIN are privilege bundles; the worker runs every step
-- in one session, so its role (warehouse.role) holds LOADER and TRANSFORMER and owns what it creates.
-- A worker deployment that only loads could be given LOADER alone.
CREATE ROLE IF NOT EXISTS {{loader_role}} COMMENT = 'Freshline LOADER: writes raw, reads the external stage';

CREATE ROLE IF NOT EXISTS {{transformer_role}} COMMENT = 'Freshline TRANSFORMER: reads raw; writes shadow, certified, bi, audit, quarantine';

CREATE ROLE IF NOT EXISTS {{pii_admin_role}} COMMENT = 'Freshline PII_ADMIN: sees PII tokens in raw, shadow and quarantine; grant to named people only';

CREATE ROLE IF NOT EXISTS {{bi_role}} COMMENT = 'Freshline BI_READER (Tableau): SELECT on bi views, nothing else';

CREATE ROLE IF NOT EXISTS {{worker_role}} COMMENT = 'Freshline worker: LOADER + TRANSFORMER';

GRANT ROLE {{loader_role}} TO ROLE {{worker_role}};

GRANT ROLE {{transformer_role}} TO ROLE {{worker_role}};

-- Custom roles roll up to SYSADMIN (Snowflake's recommended hierarchy) so administrators can manage the
-- objects the worker owns. PII_ADMIN does not: it is granted to people, one by one, by SECURITYADMIN.
-- The masking policy checks the session's primary role, so SYSADMIN still sees masked tokens.
GRANT ROLE {{worker_role}} TO ROLE SYSADMIN;

GRANT ROLE {{bi_role}} TO ROLE SYSADMIN;

-- The worker's service user (key pair set by whoever holds its private key: ALTER USER … SET RSA_PUBLIC_KEY).
CREATE USER IF NOT EXISTS {{worker_user}}
  TYPE = SERVICE DEFAULT_ROLE = {{worker_role}} DEFAULT_WAREHOUSE = {{pipeline_warehouse}} DEFAULT_SECONDARY_ROLES = ()
  COMMENT = 'Freshline worker';

GRANT ROLE {{worker_role}} TO USER {{worker_user}};
