-- PII columns (config `pii`) hold HMAC tokens, never plain values; the masking policy hides even the
-- tokens from every session whose primary role is not PII_ADMIN, TRANSFORMER or the worker's role (the
-- worker transforms with it, and must read real tokens to join on them). R__pii_masking.sql attaches it.
-- CREATE OR REPLACE is refused while the policy is attached to columns, so: create once, then keep the
-- body in step with config.
CREATE MASKING POLICY IF NOT EXISTS {{masking_policy}} AS (val STRING) RETURNS STRING ->
  {{masking_body}}
  COMMENT = 'Freshline: PII tokens visible to PII_ADMIN and TRANSFORMER only';

ALTER MASKING POLICY {{masking_policy}} SET BODY ->
  {{masking_body}};

-- Publish sets the policy on certified's columns computed from PII (model lineage) after every swap, since a
-- swapped-in table is a fresh build without policies: the worker's role must be allowed to apply it.
GRANT APPLY ON MASKING POLICY {{masking_policy}} TO ROLE {{worker_role}};
