-- int_order_refunds: money refunded per order.
-- grain: one row per order_id that has at least one refund
-- key: order_id
select
    order_id,
    count(*) as refund_count,
    sum(amount)::decimal(14, 2) as refunded_amount
from {{ ref('stg_refunds') }}
group by order_id
