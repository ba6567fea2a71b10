-- stg_orders: the latest version of every order extracted so far.
-- grain: one row per order_id
select
    order_id,
    order_number,
    customer_id,
    store_id,
    channel,
    status,
    ordered_at,
    order_date,
    currency,
    subtotal,
    discount,
    tax,
    shipping,
    total,
    status = 'cancelled' as is_cancelled,
    status = 'refunded' as is_refunded,
    updated_at,
    _load_id
from {{ latest('shop', 'orders', 'order_id') }}
