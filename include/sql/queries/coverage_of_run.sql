-- Ranges of one dataset that one run has already covered (a task retry continues from them).
SELECT toUnixTimestamp(range_start), toUnixTimestamp(range_end)
FROM {{ db }}.meta_coverage
WHERE dataset = %(dataset)s AND run_id = %(run_id)s
ORDER BY range_start
