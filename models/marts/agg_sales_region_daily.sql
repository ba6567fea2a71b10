-- agg_sales_region_daily: the sales-by-region dashboard table. Revenue is net of cancellations
-- (billable_total is 0) and refunds, attributed to the order's business date.
-- grain: one row per region per order_date
select
    coalesce(region, 'Unknown') as region,
    order_date,
    count(*) filter (where not is_cancelled) as orders,
    count(*) filter (where is_cancelled) as cancelled_orders,
    sum(billable_total)::decimal(18, 2) as gross_revenue,
    sum(refunded_amount)::decimal(18, 2) as refunds,
    sum(net_revenue)::decimal(18, 2) as net_revenue
from {{ ref('fct_orders') }}
group by all
