-- Snowflake credits per dataset and pipeline step, last 30 days, from the QUERY_TAG Freshline sets on every
-- statement ({"app":"freshline","dataset":…,"workflowId":…,"runId":…,"step":…}). Run as a role that can read
-- SNOWFLAKE.ACCOUNT_USAGE. The view lags by up to a few hours and does not attribute warehouse idle time.
SELECT TRY_PARSE_JSON(query_tag):dataset::VARCHAR AS dataset,
       TRY_PARSE_JSON(query_tag):step::VARCHAR AS step,
       COUNT(*) AS queries,
       SUM(credits_attributed_compute) AS credits
  FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY
 WHERE TRY_PARSE_JSON(query_tag):app::VARCHAR = 'freshline'
   AND start_time >= DATEADD(day, -30, CURRENT_TIMESTAMP())
 GROUP BY 1, 2
 ORDER BY credits DESC
