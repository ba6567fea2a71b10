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
from {{ latest('shop', 'customers', 'customer_id') }}
