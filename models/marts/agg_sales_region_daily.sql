-- agg_sales_region_daily: the sales-by-region dashboard table, rolled up from agg_sales_daily so
-- its numbers are the certified metric definitions (gross_revenue is GMV).
-- grain: one row per region per order_date
-- key: region, order_date
-- materialized: incremental
-- partition_by: order_date
select
    region,
    order_date,
    sum(orders) as orders,
    sum(cancelled_orders) as cancelled_orders,
    sum(fulfilled_orders) as fulfilled_orders,
    sum(gmv)::decimal(18, 2) as gross_revenue,
    sum(refunds)::decimal(18, 2) as refunds,
    sum(net_revenue)::decimal(18, 2) as net_revenue
from {{ ref('agg_sales_daily') }}
group by region, order_date
