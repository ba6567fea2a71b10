-- The storage integration the external stage reads S3 through: Snowflake assumes the IAM role
-- warehouse.externalStage.awsRoleArn, and may read only under the stage URL. Numbered V000 so it runs before
-- V002's CREATE STAGE and V004's GRANT USAGE ON INTEGRATION to LOADER, which both fail while it is missing
-- (the grant stays in V004: on a new account LOADER does not exist yet here). An account-level object: the
-- admin role applies it (CREATE INTEGRATION is ACCOUNTADMIN's by default).
-- Rendered only when awsRoleArn is set (render.ts); without it the integration stays the account admin's to create.
-- Setting awsRoleArn hands the integration to this file: the ALTER brings its role and allowed locations back
-- to config whenever the file re-applies (an integration shared with other stages loses their locations).
-- Snowflake generates the external ID on CREATE; once copied from DESC INTEGRATION into
-- warehouse.externalStage.externalId the ALTER pins it, so the trust policy rendered from config keeps
-- matching even if the integration is re-created.
CREATE STORAGE INTEGRATION IF NOT EXISTS {{storage_integration}}
  TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' ENABLED = TRUE
  STORAGE_AWS_ROLE_ARN = {{storage_aws_role_arn}} STORAGE_ALLOWED_LOCATIONS = ({{stage_url}})
  COMMENT = 'Freshline: Snowflake reads the S3 stage through this IAM role';

ALTER STORAGE INTEGRATION {{storage_integration}} SET
  STORAGE_AWS_ROLE_ARN = {{storage_aws_role_arn}} {{pinned_external_id}}ENABLED = TRUE STORAGE_ALLOWED_LOCATIONS = ({{stage_url}});
