-- fct_payments: one row per payment attempt. Card data only as the provider's brand and last 4
-- digits (the card token is excluded at extraction; no PAN ever reaches Freshline).
-- grain: one row per payment_id
-- materialized: incremental
-- unique_key: payment_id
-- depends_on: stg_payments(payment_id), stg_orders(order_id)
select
    p.payment_id,
    p.order_id,
    o.order_date,
    p.method,
    p.card_brand,
    p.card_last4,
    p.amount,
    p.currency,
    p.status,
    p.status = 'captured' as is_captured,
    p.paid_at,
    p.updated_at
from {{ ref('stg_payments') }} as p
left join {{ ref('stg_orders') }} as o on o.order_id = p.order_id
