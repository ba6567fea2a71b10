-- agg_shipments_daily: operations' fulfilment view — shipments per ship day and carrier, how many were
-- delivered and how fast.
-- grain: one row per ship_date per carrier
-- key: ship_date, carrier
select
    cast(shipped_at as date) as ship_date,
    carrier,
    count(*) as shipments,
    sum(case when status = 'delivered' then 1 else 0 end) as delivered,
    sum(case when status = 'returned' then 1 else 0 end) as returned,
    avg(hours_to_deliver)::decimal(10, 1) as avg_hours_to_deliver
from {{ ref('fct_shipments') }}
where shipped_at is not null
group by cast(shipped_at as date), carrier
