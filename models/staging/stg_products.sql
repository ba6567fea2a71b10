-- stg_products: the latest version of every product.
-- grain: one row per product_id
-- key: product_id
select
    product_id,
    sku,
    name as product_name,
    category,
    unit_price,
    active as is_active,
    updated_at
from {{ latest('shop', 'products', 'product_id') }}
