-- stg_payments: the latest version of every payment. Card data arrives tokenized by the provider
-- (brand, last4); the provider token itself is excluded at extraction.
-- grain: one row per payment_id
-- key: payment_id
select
    payment_id,
    order_id,
    method,
    card_brand,
    card_last4,
    amount,
    currency,
    status,
    paid_at,
    updated_at,
    _load_id
from {{ latest('shop', 'payments', 'payment_id') }}
