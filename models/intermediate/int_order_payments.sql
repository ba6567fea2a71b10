-- int_order_payments: money actually captured per order (voided and failed payments excluded).
-- grain: one row per order_id that has at least one payment
-- key: order_id
-- recompute_by: order_id
-- depends_on: stg_payments(order_id)
select
    order_id,
    count(*) as payment_count,
    coalesce(sum(case when status = 'captured' then amount end), 0)::decimal(14, 2) as amount_paid
from {{ ref('stg_payments') }}
where order_id is not null
group by order_id
