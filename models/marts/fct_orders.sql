-- fct_orders: one row per order with its money: billable total (0 when cancelled), captured
-- payments, refunds and net revenue. Business date is order_date, so late corrections land on the
-- day the order was placed.
-- grain: one row per order_id
select
    o.order_id,
    o.order_number,
    o.customer_id,
    o.store_id,
    s.region,
    o.channel,
    o.status,
    o.order_date,
    o.ordered_at,
    o.currency,
    o.subtotal,
    o.discount,
    o.tax,
    o.shipping,
    o.total as order_total,
    o.is_cancelled,
    o.is_refunded,
    case when o.is_cancelled then 0 else o.total end::decimal(14, 2) as billable_total,
    coalesce(p.amount_paid, 0)::decimal(14, 2) as amount_paid,
    coalesce(r.refunded_amount, 0)::decimal(14, 2) as refunded_amount,
    (case when o.is_cancelled then 0 else o.total end - coalesce(r.refunded_amount, 0))::decimal(14, 2) as net_revenue,
    o.updated_at,
    o._load_id as _source_load_id
from {{ ref('stg_orders') }} as o
left join {{ ref('stg_stores') }} as s on s.store_id = o.store_id
left join {{ ref('int_order_payments') }} as p on p.order_id = o.order_id
left join {{ ref('int_order_refunds') }} as r on r.order_id = o.order_id
