-- fct_order_items: one row per order line, with the order's business date, store and channel so
-- product sales roll up without a join.
-- grain: one row per order_item_id
-- materialized: incremental
-- unique_key: order_item_id
-- recompute_by: order_id
-- depends_on: stg_order_items(order_id), stg_orders(order_id), dim_product(product_id)
select
    i.order_item_id,
    i.order_id,
    i.line_number,
    i.product_id,
    p.product_sk,
    o.order_date,
    o.store_id,
    o.channel,
    i.quantity,
    i.unit_price,
    i.discount as discount_amount,
    i.line_total,
    o.is_cancelled,
    i.updated_at
from {{ ref('stg_order_items') }} as i
join {{ ref('stg_orders') }} as o on o.order_id = i.order_id
left join {{ ref('dim_product') }} as p on p.product_id = i.product_id
