-- fct_support_tickets: one row per Zendesk ticket, linked to the order it is about when its
-- external_id is one of our order numbers. No free text (subject, description) reaches the mart.
-- grain: one row per ticket_id
-- materialized: incremental
-- unique_key: ticket_id
-- depends_on: stg_zendesk_tickets(ticket_id), stg_orders(order_number)
select
    t.ticket_id,
    t.order_number,
    o.order_id,
    t.ticket_type,
    t.priority,
    t.status,
    t.channel,
    t.requester_id,
    t.assignee_id,
    t.group_id,
    t.satisfaction_score,
    t.created_at,
    case when t.status in ('solved', 'closed') then t.updated_at end as solved_at,
    t.due_at,
    t.updated_at
from {{ ref('stg_zendesk_tickets') }} as t
left join {{ ref('stg_orders') }} as o on o.order_number = t.order_number
