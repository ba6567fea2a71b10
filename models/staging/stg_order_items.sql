-- stg_order_items: the latest version of every order line.
-- grain: one row per order_item_id
-- key: order_item_id
select
    order_item_id,
    order_id,
    line_number,
    product_id,
    quantity,
    unit_price,
    discount,
    line_total,
    updated_at,
    _load_id
from {{ latest('shop', 'order_items', 'order_item_id') }}
