-- dim_store: stores with their region and channel.
-- grain: one row per store_id
-- key: store_id
select
    {{ surrogate_key('store_id') }} as store_sk,
    store_id, store_code, store_name, region, channel, opened_on
from {{ ref('stg_stores') }}
