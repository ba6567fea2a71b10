-- agg_payments_daily: finance's cash view — money captured, voided and failed per payment day and
-- method (card data never reaches this mart; fct_payments keeps brand and last 4 only).
-- grain: one row per payment_date per method
-- key: payment_date, method
select
    cast(paid_at as date) as payment_date,
    method,
    count(*) as payments,
    sum(case when is_captured then 1 else 0 end) as captured_payments,
    sum(case when is_captured then amount else 0 end)::decimal(18, 2) as captured_amount,
    sum(case when status = 'voided' then amount else 0 end)::decimal(18, 2) as voided_amount,
    sum(case when status = 'failed' then amount else 0 end)::decimal(18, 2) as failed_amount
from {{ ref('fct_payments') }}
where paid_at is not null
group by cast(paid_at as date), method
