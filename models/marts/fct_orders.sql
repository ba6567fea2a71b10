-- fct_orders: one row per order with its money. gross = subtotal (lines before the order discount);
-- billable_total = what the customer owes (0 once cancelled); net_revenue = billable_total minus
-- refunds, and 0 once cancelled: a cancellation already reverses the whole order, so money refunded
-- for it (before or after the cancellation) is not reversed a second time. refunded_amount stays the
-- money that went back, whatever the status. Business date is order_date, so late corrections, cancellations and refunds land on the
-- day the order was placed. customer_sk is the customer's version at the time of the order.
-- grain: one row per order_id
-- materialized: incremental
-- unique_key: order_id
-- depends_on: stg_orders(order_id), int_order_payments(order_id), int_order_refunds(order_id), int_order_fulfilment(order_id), dim_customer(customer_id), dim_store(store_id)
select
    o.order_id,
    o.order_number,
    o.customer_id,
    c.customer_sk,
    o.store_id,
    s.store_sk,
    s.region,
    o.channel,
    o.status,
    o.order_date,
    cast({{ date_key('o.order_date') }} as integer) as order_date_key,
    o.ordered_at,
    o.currency,
    o.subtotal as gross_amount,
    o.discount as discount_amount,
    o.tax as tax_amount,
    o.shipping as shipping_amount,
    o.total as order_total,
    o.is_cancelled,
    o.is_refunded or coalesce(r.refunded_amount, 0) > 0 as is_refunded,
    coalesce(f.is_fulfilled, false) and not o.is_cancelled as is_fulfilled,
    case when o.is_cancelled then 0 else o.total end::decimal(14, 2) as billable_total,
    coalesce(p.amount_paid, 0)::decimal(14, 2) as amount_paid,
    coalesce(r.refunded_amount, 0)::decimal(14, 2) as refunded_amount,
    (case when o.is_cancelled then 0 else o.total - coalesce(r.refunded_amount, 0) end)::decimal(14, 2) as net_revenue,
    o.is_duplicate_in_source,
    o.updated_at,
    o._load_id as _source_load_id
from {{ ref('stg_orders') }} as o
left join {{ ref('dim_store') }} as s on s.store_id = o.store_id
left join {{ ref('dim_customer') }} as c
    on c.customer_id = o.customer_id and o.ordered_at >= c.valid_from and (c.valid_to is null or o.ordered_at < c.valid_to)
left join {{ ref('int_order_payments') }} as p on p.order_id = o.order_id
left join {{ ref('int_order_refunds') }} as r on r.order_id = o.order_id
left join {{ ref('int_order_fulfilment') }} as f on f.order_id = o.order_id
