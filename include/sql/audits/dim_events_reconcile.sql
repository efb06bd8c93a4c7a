-- Audit of a dim_events rebuild before publishing: the scratch {{ dim_events_scratch }} holds exactly
-- the events of deduplicated staging (one row each; none lost by a join, none invented).
SELECT
    'dim_events'               AS source,
    toUInt64(1)                AS violations,
    CAST([] AS Array(UInt64))  AS ticket_ids,
    CAST([] AS Array(UInt64))  AS order_ids,
    [concat('scratch has ', toString(built), ' rows / ', toString(built_events), ' events; deduplicated staging has ',
            toString(staged), ' events')] AS examples
FROM
(
    SELECT
        (SELECT count() FROM {{ db }}.{{ dim_events_scratch }})                                   AS built,
        (SELECT uniqExact(event_id) FROM {{ db }}.{{ dim_events_scratch }})                       AS built_events,
        (SELECT uniqExact(event_id) FROM {{ db }}.stg_qtickets_api_events_raw)                    AS staged
)
WHERE built != staged OR built_events != staged
