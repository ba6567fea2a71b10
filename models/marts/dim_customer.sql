-- dim_customer: customers as a slowly changing dimension (type 2): a new row each time a tracked
-- attribute changes, valid over [valid_from, valid_to); is_current marks today's version. PII only
-- as HMAC tokens (joinable, never readable). customer_sk is a hash of (customer_id, version_no),
-- the same on every rerun and dialect.
-- grain: one row per customer_id per version
-- materialized: incremental
-- unique_key: customer_sk
-- recompute_by: customer_id
-- depends_on: int_customer_versions(customer_id)
select
    {{ surrogate_key('customer_id', 'version_no') }} as customer_sk,
    customer_id,
    version_no,
    email_token,
    phone_token,
    name_token,
    city,
    region,
    country,
    valid_from,
    valid_to,
    valid_to is null as is_current
from {{ ref('int_customer_versions') }}
