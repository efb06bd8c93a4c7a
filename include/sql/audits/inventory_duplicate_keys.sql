-- Audit of a fact_qtickets_inventory_latest rebuild before publishing: more than one row per show in
-- the scratch {{ inventory_scratch }} (a join that fanned out).
SELECT
    'fact_qtickets_inventory_latest' AS source,
    count()                          AS violations,
    CAST([] AS Array(UInt64))        AS ticket_ids,
    CAST([] AS Array(UInt64))        AS order_ids,
    groupArray(5)(detail)            AS examples
FROM
(
    SELECT concat('show ', toString(show_id), ': ', toString(count()), ' rows') AS detail
    FROM {{ db }}.{{ inventory_scratch }}
    GROUP BY show_id
    HAVING count() > 1
)
HAVING violations > 0
