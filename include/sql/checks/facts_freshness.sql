-- Violation: the sales facts were last built more than %(max_age)s seconds before %(now)s. A rebuild
-- that found no sales writes no fact row but records itself in meta_dataset_loads, so a quiet day is
-- not reported as stale.
SELECT 'fact_qtickets_sales_daily' AS fact, toString(toDateTime(last_built, 'Europe/Moscow')) AS last_built_at
FROM
(
    SELECT greatest(
        (SELECT toUInt32(toUnixTimestamp(max(_built_at))) FROM {{ db }}.fact_qtickets_sales_daily),
        (SELECT toUInt32(ifNull(toUnixTimestamp(maxOrNull(finished_at)), 0))
         FROM (SELECT dataset, status, finished_at FROM {{ db }}.meta_dataset_loads FINAL)
         WHERE dataset = 'fact_qtickets_sales_daily' AND status = 'success')
    ) AS last_built
)
WHERE last_built < %(now)s - %(max_age)s
