-- agg_sales_daily: THE certified sales metrics, each defined once, by business date, store and
-- channel (region comes with the store). Dashboards and every other rollup read these numbers.
--   gmv              = sum of order totals of orders placed that day, cancelled orders excluded
--   refunds          = refunds of those orders (refunds land on the order's business date); a cancelled
--                      order's refunds are not among them: its cancellation already took it out of gmv
--   net_revenue      = gmv minus refunds
--   fulfilled_orders = orders placed that day that have a delivered shipment and are not cancelled
-- grain: one row per order_date per store_id per channel
-- key: order_date, store_id, channel
-- materialized: incremental
-- partition_by: order_date
select
    order_date,
    store_id,
    coalesce(region, 'Unknown') as region,
    channel,
    sum(case when is_cancelled then 0 else 1 end) as orders,
    sum(case when is_cancelled then 1 else 0 end) as cancelled_orders,
    sum(case when is_fulfilled then 1 else 0 end) as fulfilled_orders,
    sum(billable_total)::decimal(18, 2) as gmv,
    sum(case when is_cancelled then 0 else refunded_amount end)::decimal(18, 2) as refunds,
    sum(net_revenue)::decimal(18, 2) as net_revenue
from {{ ref('fct_orders') }}
group by order_date, store_id, coalesce(region, 'Unknown'), channel
