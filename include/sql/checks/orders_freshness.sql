-- Violation: the latest successful `orders` load covers data only up to more than %(max_age)s seconds
-- before %(now)s (epoch seconds), or there has never been one.
SELECT 'orders' AS dataset, ifNull(toString(last_window_end), 'never') AS last_end
FROM
(
    SELECT maxOrNull(window_end) AS last_window_end
    FROM (SELECT dataset, status, window_end FROM {{ db }}.meta_dataset_loads FINAL)
    WHERE dataset = 'orders' AND status = 'success'
)
WHERE last_window_end IS NULL OR toUnixTimestamp(last_window_end) < %(now)s - %(max_age)s
