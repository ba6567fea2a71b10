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
from {{ source('shop', 'refunds') }}
qualify row_number() over (partition by refund_id order by updated_at desc, _extracted_at desc) = 1
