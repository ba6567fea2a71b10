-- fct_shipments: one row per shipment with its delivery time.
-- grain: one row per shipment_id
-- materialized: incremental
-- unique_key: shipment_id
-- depends_on: stg_shipments(shipment_id), stg_orders(order_id)
select
    s.shipment_id,
    s.order_id,
    o.order_date,
    o.store_id,
    s.carrier,
    s.status,
    s.shipped_at,
    s.delivered_at,
    {{ hours_between('s.shipped_at', 's.delivered_at') }} as hours_to_deliver,
    s.updated_at
from {{ ref('stg_shipments') }} as s
left join {{ ref('stg_orders') }} as o on o.order_id = s.order_id
