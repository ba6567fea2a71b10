-- dim_date: the calendar, 2015 through 2035, ISO weeks (Monday = 1).
-- grain: one row per calendar date
-- key: date_day
select
    cast({{ date_key('date_day') }} as integer) as date_key,
    date_day,
    extract(year from date_day) as year,
    extract(quarter from date_day) as quarter,
    extract(month from date_day) as month,
    extract(day from date_day) as day_of_month,
    {{ iso_day_of_week('date_day') }} as iso_day_of_week,
    {{ iso_week('date_day') }} as iso_week,
    {{ iso_day_of_week('date_day') }} >= 6 as is_weekend
from {{ date_spine('2015-01-01', '2035-12-31') }}
