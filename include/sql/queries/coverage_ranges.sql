-- Covered ranges of one dataset (epoch seconds) that end after %(since)s, plus the start of the oldest
-- range ever covered (the same value on every row), oldest first. qtickets.coverage merges them.
SELECT toUnixTimestamp(range_start), toUnixTimestamp(range_end),
       (SELECT toUnixTimestamp(min(range_start)) FROM {{ db }}.meta_coverage WHERE dataset = %(dataset)s)
FROM {{ db }}.meta_coverage
WHERE dataset = %(dataset)s AND range_end >= toDateTime(%(since)s, 'UTC')
ORDER BY range_start
