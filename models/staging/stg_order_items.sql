-- stg_order_items: the latest version of every order line.
-- grain: one row per order_item_id
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
from (
    -- latest version: a later extract always saw a newer state; within one CDC capture the later LSN wins.
    -- Then drop tombstones (deleted at the source).
    select * from {{ source('shop', 'order_items') }}
    qualify row_number() over (partition by order_item_id order by _extracted_at desc, _lsn desc nulls last, updated_at desc nulls last) = 1
)
where not _deleted
