-- fct_refunds: one row per refund, dated twice: refunded_at (when money went back) and the original
-- order's business date (where net revenue is reduced).
-- grain: one row per refund_id
-- materialized: incremental
-- unique_key: refund_id
-- depends_on: stg_refunds(refund_id), stg_orders(order_id)
select
    r.refund_id,
    r.order_id,
    r.payment_id,
    o.order_date,
    o.store_id,
    o.channel,
    r.amount,
    r.reason,
    r.refunded_at,
    r.updated_at
from {{ ref('stg_refunds') }} as r
left join {{ ref('stg_orders') }} as o on o.order_id = r.order_id
