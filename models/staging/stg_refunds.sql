-- stg_refunds: the latest version of every refund.
-- grain: one row per refund_id
-- key: refund_id
select
    refund_id,
    order_id,
    payment_id,
    amount,
    reason,
    refunded_at,
    updated_at,
    _load_id
from {{ latest('shop', 'refunds', 'refund_id') }}
