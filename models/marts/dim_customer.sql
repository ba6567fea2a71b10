-- dim_customer: customers for BI, PII only as tokens (current version; SCD2 history comes with the
-- warehouse model).
-- grain: one row per customer_id
select
    customer_id,
    email_token,
    phone_token,
    name_token,
    city,
    country,
    created_at,
    updated_at
from {{ ref('stg_customers') }}
