-- stg_stores: the latest version of every store.
-- grain: one row per store_id
-- key: store_id
select
    store_id,
    store_code,
    name as store_name,
    region,
    channel,
    opened_on,
    updated_at
from {{ latest('shop', 'stores', 'store_id') }}
