-- stg_zendesk_tickets: the latest version of every Zendesk Support ticket, typed and renamed from
-- the documented Ticket object (api-reference/ticketing/tickets/tickets). The connector lands later:
-- until then raw.zendesk__tickets is created empty from models/sources.yaml and this model has 0 rows.
-- subject and description are free text written by customers (may hold personal data): not staged.
-- grain: one row per ticket_id
-- key: ticket_id
select
    id as ticket_id,
    external_id as order_number,
    type as ticket_type,
    priority,
    status,
    via_channel as channel,
    requester_id,
    assignee_id,
    group_id,
    organization_id,
    satisfaction_score,
    created_at,
    updated_at,
    due_at,
    _load_id
from {{ latest('zendesk', 'tickets', 'id') }}
