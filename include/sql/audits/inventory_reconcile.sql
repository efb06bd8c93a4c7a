-- Audit of a fact_qtickets_inventory_latest rebuild before publishing: the scratch
-- {{ inventory_scratch }} holds one row per show that has a snapshot in staging, each with that
-- show's latest snapshot time.
SELECT
    'fact_qtickets_inventory_latest' AS source,
    toUInt64(1)                      AS violations,
    CAST([] AS Array(UInt64))        AS ticket_ids,
    CAST([] AS Array(UInt64))        AS order_ids,
    [concat('scratch has ', toString(built), ' rows / ', toString(built_shows), ' shows, latest snapshot ',
            toString(built_latest), '; staging has ', toString(staged), ' shows, latest snapshot ',
            toString(staged_latest))] AS examples
FROM
(
    SELECT
        (SELECT count() FROM {{ db }}.{{ inventory_scratch }})                          AS built,
        (SELECT uniqExact(show_id) FROM {{ db }}.{{ inventory_scratch }})               AS built_shows,
        (SELECT max(snapshot_ts) FROM {{ db }}.{{ inventory_scratch }})                 AS built_latest,
        (SELECT uniqExact(show_id) FROM {{ db }}.stg_qtickets_api_inventory_raw)        AS staged,
        (SELECT max(snapshot_ts) FROM {{ db }}.stg_qtickets_api_inventory_raw)          AS staged_latest
)
WHERE built != staged OR built_shows != staged OR built_latest != staged_latest
