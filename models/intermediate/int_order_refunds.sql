-- int_order_refunds: money refunded per order.
-- grain: one row per order_id that has at least one refund
-- key: order_id
-- recompute_by: order_id
-- depends_on: stg_refunds(order_id)
select
    order_id,
    count(*) as refund_count,
    sum(amount)::decimal(14, 2) as refunded_amount
from {{ ref('stg_refunds') }}
where order_id is not null
group by order_id
