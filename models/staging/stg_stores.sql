-- stg_stores: the latest version of every store.
-- grain: one row per store_id
select
    store_id,
    store_code,
    name as store_name,
    region,
    channel,
    opened_on,
    updated_at
from (
    -- latest version: a later extract always saw a newer state; within one CDC capture the later LSN wins.
    -- Then drop tombstones (deleted at the source).
    select * from {{ source('shop', 'stores') }}
    qualify row_number() over (partition by store_id order by _extracted_at desc, _lsn desc nulls last, updated_at desc nulls last) = 1
)
where not _deleted
