-- stg_customers: the latest version of every customer. email, phone, full_name and address were
-- replaced at extraction by keyed HMAC-SHA256 tokens: joinable, never readable.
-- grain: one row per customer_id
select
    customer_id,
    email as email_token,
    phone as phone_token,
    full_name as name_token,
    address as address_token,
    city,
    country,
    created_at,
    updated_at
from (
    -- latest version: a later extract always saw a newer state; within one CDC capture the later LSN wins.
    -- Then drop tombstones (deleted at the source).
    select * from {{ source('shop', 'customers') }}
    qualify row_number() over (partition by customer_id order by _extracted_at desc, _lsn desc nulls last, updated_at desc nulls last) = 1
)
where not _deleted
