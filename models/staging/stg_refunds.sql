-- stg_refunds: the latest version of every refund.
-- grain: one row per refund_id
select
    refund_id,
    order_id,
    payment_id,
    amount,
    reason,
    refunded_at,
    updated_at,
    _load_id
from (
    -- latest version: a later extract always saw a newer state; within one CDC capture the later LSN wins.
    -- Then drop tombstones (deleted at the source).
    select * from {{ source('shop', 'refunds') }}
    qualify row_number() over (partition by refund_id order by _extracted_at desc, _lsn desc nulls last, updated_at desc nulls last) = 1
)
where not _deleted
