-- int_city_regions: sales region of each city we deliver to (the same four regions as the stores).
-- A mapping owned by the business, kept here as data in one place (dbt would call it a seed).
-- grain: one row per city
-- key: city
select city, region
from (values
    ('Minneapolis', 'North'), ('Milwaukee', 'North'), ('Chicago', 'North'),
    ('Atlanta', 'South'), ('Houston', 'South'), ('Nashville', 'South'), ('Austin', 'South'),
    ('Boston', 'East'), ('Philadelphia', 'East'), ('New York', 'East'),
    ('Denver', 'West'), ('Portland', 'West'), ('Seattle', 'West'), ('San Francisco', 'West')
) as t (city, region)
