-- int_order_fulfilment: shipping progress per order. An order is fulfilled once a shipment of it
-- was delivered (and not returned).
-- grain: one row per order_id that has at least one shipment
-- key: order_id
-- recompute_by: order_id
-- depends_on: stg_shipments(order_id)
select
    order_id,
    count(*) as shipment_count,
    min(shipped_at) as first_shipped_at,
    max(delivered_at) as delivered_at,
    max(case when status = 'delivered' then 1 else 0 end) = 1 as is_fulfilled
from {{ ref('stg_shipments') }}
where order_id is not null
group by order_id
