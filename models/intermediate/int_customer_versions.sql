-- int_customer_versions: every distinct state a customer has been seen in (SCD type 2 input).
-- Reads all raw versions, not just the latest: one row per (customer, version stamp), and a new
-- version only when a tracked attribute (tokens, city, region, country) changed. A deletion at the
-- source closes the customer's history. Incremental extracts see the states that existed at
-- extraction time; CDC sees every committed state.
-- grain: one row per customer_id per version (valid_from)
-- key: customer_id, valid_from
-- recompute_by: customer_id
-- depends_on: shop.customers(customer_id), int_city_regions(city)
with stamped as (
    select
        customer_id,
        email as email_token,
        phone as phone_token,
        full_name as name_token,
        city,
        country,
        created_at,
        coalesce(updated_at, _extracted_at) as changed_at,
        _deleted
    from {{ source('shop', 'customers') }}
    qualify row_number() over (
        partition by customer_id, coalesce(updated_at, _extracted_at)
        order by _extracted_at desc, _lsn desc nulls last) = 1
),
tracked as (
    select
        s.*,
        coalesce(r.region, 'Unknown') as region,
        md5(concat_ws('|', coalesce(s.email_token, ''), coalesce(s.phone_token, ''), coalesce(s.name_token, ''),
                      coalesce(s.city, ''), coalesce(r.region, ''), coalesce(s.country, ''),
                      case when s._deleted then 'deleted' else 'live' end)) as state_hash
    from stamped as s
    left join {{ ref('int_city_regions') }} as r on r.city = s.city
),
changes as (
    select *
    from tracked
    qualify lag(state_hash) over (partition by customer_id order by changed_at) is distinct from state_hash
),
dated as (
    select
        *,
        case when row_number() over (partition by customer_id order by changed_at) = 1
             then least(coalesce(created_at, changed_at), changed_at) else changed_at end as valid_from,
        lead(changed_at) over (partition by customer_id order by changed_at) as valid_to
    from changes
)
select
    customer_id,
    row_number() over (partition by customer_id order by valid_from) as version_no,
    email_token,
    phone_token,
    name_token,
    city,
    region,
    country,
    valid_from,
    valid_to
from dated
where not _deleted
