-- stg_products: the latest version of every product.
-- grain: one row per product_id
select
    product_id,
    sku,
    name as product_name,
    category,
    unit_price,
    active as is_active,
    updated_at
from (
    -- latest version: a later extract always saw a newer state; within one CDC capture the later LSN wins.
    -- Then drop tombstones (deleted at the source).
    select * from {{ source('shop', 'products') }}
    qualify row_number() over (partition by product_id order by _extracted_at desc, _lsn desc nulls last, updated_at desc nulls last) = 1
)
where not _deleted
