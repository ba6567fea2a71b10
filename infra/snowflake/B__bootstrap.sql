-- Runs first on every apply (not versioned): what the migration runner itself needs.
-- The record of applied versions lives in `governance`, a schema only administrators can write:
-- the worker's role writes `audit`, and must not be able to rewrite the history of security DDL.
CREATE DATABASE IF NOT EXISTS {{database}}
  COMMENT = 'Freshline: raw, shadow_<dataset>, certified, bi, audit, quarantine, governance';

CREATE SCHEMA IF NOT EXISTS {{governance_schema}}
  COMMENT = 'Freshline security objects (masking policies, network rules) and applied DDL versions; administrators only';

CREATE TABLE IF NOT EXISTS {{migrations_table}} (
  version VARCHAR NOT NULL,
  description VARCHAR NOT NULL,
  checksum VARCHAR NOT NULL,
  statements NUMBER NOT NULL,
  applied_at TIMESTAMP_TZ NOT NULL,
  applied_by VARCHAR NOT NULL
);

-- Reading and writing the table above needs a running warehouse; on a new account this is the first one.
CREATE WAREHOUSE IF NOT EXISTS {{pipeline_warehouse}}
  WITH WAREHOUSE_SIZE = {{warehouse_size}} AUTO_SUSPEND = {{auto_suspend_seconds}} AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE;

USE WAREHOUSE {{pipeline_warehouse}};
