-- stg_payments: the latest version of every payment. Card data arrives tokenized by the provider
-- (brand, last4); the provider token itself is excluded at extraction.
-- grain: one row per payment_id
select
    payment_id,
    order_id,
    method,
    card_brand,
    card_last4,
    amount,
    currency,
    status,
    paid_at,
    updated_at,
    _load_id
from (
    -- latest version: a later extract always saw a newer state; within one CDC capture the later LSN wins.
    -- Then drop tombstones (deleted at the source).
    select * from {{ source('shop', 'payments') }}
    qualify row_number() over (partition by payment_id order by _extracted_at desc, _lsn desc nulls last, updated_at desc nulls last) = 1
)
where not _deleted
