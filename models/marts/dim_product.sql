-- dim_product: products with category and list price.
-- grain: one row per product_id
-- key: product_id
select
    {{ surrogate_key('product_id') }} as product_sk,
    product_id, sku, product_name, category, unit_price, is_active
from {{ ref('stg_products') }}
