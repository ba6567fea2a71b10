-- stg_orders: the latest version of every order extracted so far, one row per order_id even when the
-- source delivered the same id twice in one version (a source without an enforced key, a replayed
-- file): is_duplicate_in_source flags those orders and a warn check lists them.
-- grain: one row per order_id
-- key: order_id
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
    _duplicate_count > 1 as is_duplicate_in_source,
    updated_at,
    _load_id
from {{ latest('shop', 'orders', 'order_id') }}
