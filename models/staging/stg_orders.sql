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
from (
    -- latest version: a later extract always saw a newer state; within one CDC capture the later LSN wins.
    -- Then drop tombstones (deleted at the source).
    select * from {{ source('shop', 'orders') }}
    qualify row_number() over (partition by order_id order by _extracted_at desc, _lsn desc nulls last, updated_at desc nulls last) = 1
)
where not _deleted
