-- Violation: the facts were last built more than %(max_age)s seconds before %(now)s. Every rebuild
-- (sales, dim_events, inventory_latest) records itself in meta_dataset_loads, also when it found no
-- sales, so a quiet day is not reported as stale (the original's healthcheck did that).
SELECT 'fact_qtickets_sales_daily' AS fact, toString(toDateTime(last_built, 'Europe/Moscow')) AS last_built_at
FROM
(
    SELECT greatest(
        (SELECT toUInt32(toUnixTimestamp(max(_built_at))) FROM {{ db }}.fact_qtickets_sales_daily),
        (SELECT toUInt32(ifNull(toUnixTimestamp(maxOrNull(finished_at)), 0))
         FROM (SELECT dataset, status, finished_at FROM {{ db }}.meta_dataset_loads FINAL)
         WHERE dataset IN ('fact_qtickets_sales_daily', 'dim_events', 'fact_qtickets_inventory_latest')
           AND status = 'success')
    ) AS last_built
)
WHERE last_built < %(now)s - %(max_age)s
