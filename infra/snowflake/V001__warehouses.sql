-- Virtual warehouses: the pipeline's and Tableau's apart, so dashboards never queue behind a load and
-- each has its own credit budget. AUTO_SUSPEND stops billing after that many idle seconds; AUTO_RESUME
-- starts the warehouse again on the next query. CREATE … IF NOT EXISTS then ALTER … SET: a new
-- warehouse gets these settings, an existing one is brought back to them.
CREATE WAREHOUSE IF NOT EXISTS {{pipeline_warehouse}}
  WITH WAREHOUSE_SIZE = {{warehouse_size}} AUTO_SUSPEND = {{auto_suspend_seconds}} AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE
  COMMENT = 'Freshline pipeline: load, transform, gate, publish';

ALTER WAREHOUSE {{pipeline_warehouse}} SET WAREHOUSE_SIZE = {{warehouse_size}} AUTO_SUSPEND = {{auto_suspend_seconds}} AUTO_RESUME = TRUE;

CREATE WAREHOUSE IF NOT EXISTS {{bi_warehouse}}
  WITH WAREHOUSE_SIZE = {{warehouse_size}} AUTO_SUSPEND = {{auto_suspend_seconds}} AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE
  STATEMENT_TIMEOUT_IN_SECONDS = {{bi_statement_timeout_seconds}}
  COMMENT = 'Tableau: reads bi views only';

ALTER WAREHOUSE {{bi_warehouse}} SET WAREHOUSE_SIZE = {{warehouse_size}} AUTO_SUSPEND = {{auto_suspend_seconds}} AUTO_RESUME = TRUE
  STATEMENT_TIMEOUT_IN_SECONDS = {{bi_statement_timeout_seconds}};

-- One resource monitor per warehouse (a runaway dashboard suspends Tableau's warehouse, never the
-- pipeline's): notify at 80% of the monthly quota, suspend at 100% (running queries finish), suspend
-- immediately at 110%. Only ACCOUNTADMIN can create resource monitors.
CREATE RESOURCE MONITOR IF NOT EXISTS {{pipeline_monitor}}
  WITH CREDIT_QUOTA = {{pipeline_credits}} FREQUENCY = MONTHLY START_TIMESTAMP = IMMEDIATELY
  TRIGGERS ON 80 PERCENT DO NOTIFY ON 100 PERCENT DO SUSPEND ON 110 PERCENT DO SUSPEND_IMMEDIATE;

ALTER RESOURCE MONITOR {{pipeline_monitor}} SET CREDIT_QUOTA = {{pipeline_credits}}
  TRIGGERS ON 80 PERCENT DO NOTIFY ON 100 PERCENT DO SUSPEND ON 110 PERCENT DO SUSPEND_IMMEDIATE;

ALTER WAREHOUSE {{pipeline_warehouse}} SET RESOURCE_MONITOR = {{pipeline_monitor}};

CREATE RESOURCE MONITOR IF NOT EXISTS {{bi_monitor}}
  WITH CREDIT_QUOTA = {{bi_credits}} FREQUENCY = MONTHLY START_TIMESTAMP = IMMEDIATELY
  TRIGGERS ON 80 PERCENT DO NOTIFY ON 100 PERCENT DO SUSPEND ON 110 PERCENT DO SUSPEND_IMMEDIATE;

ALTER RESOURCE MONITOR {{bi_monitor}} SET CREDIT_QUOTA = {{bi_credits}}
  TRIGGERS ON 80 PERCENT DO NOTIFY ON 100 PERCENT DO SUSPEND ON 110 PERCENT DO SUSPEND_IMMEDIATE;

ALTER WAREHOUSE {{bi_warehouse}} SET RESOURCE_MONITOR = {{bi_monitor}};
