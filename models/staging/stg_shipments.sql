-- stg_shipments: the latest version of every shipment (tracking numbers are carrier references,
-- not personal data).
-- grain: one row per shipment_id
-- key: shipment_id
select
    shipment_id,
    order_id,
    carrier,
    tracking_number,
    status,
    shipped_at,
    delivered_at,
    updated_at,
    _load_id
from {{ latest('shop', 'shipments', 'shipment_id') }}
