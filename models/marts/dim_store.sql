-- dim_store: stores with their region and channel.
-- grain: one row per store_id
select store_id, store_code, store_name, region, channel, opened_on
from {{ ref('stg_stores') }}
