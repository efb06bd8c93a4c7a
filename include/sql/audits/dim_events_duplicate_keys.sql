-- Audit of a dim_events rebuild before publishing: more than one row per event_id in the scratch
-- {{ dim_events_scratch }} (a join that fanned out).
SELECT
    'dim_events'               AS source,
    count()                    AS violations,
    CAST([] AS Array(UInt64))  AS ticket_ids,
    CAST([] AS Array(UInt64))  AS order_ids,
    groupArray(5)(detail)      AS examples
FROM
(
    SELECT concat('event ', toString(event_id), ': ', toString(count()), ' rows') AS detail
    FROM {{ db }}.{{ dim_events_scratch }}
    GROUP BY event_id
    HAVING count() > 1
)
HAVING violations > 0
