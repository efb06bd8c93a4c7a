-- Shows whose seat counters and barcodes are still worth reading: not deleted, not finished more than
-- a day ago (late scans and refunds still move the numbers right after a show). Read by the inventory
-- and barcodes datasets after the events dataset refreshed the shows staging.
SELECT s.show_id, s.event_id
FROM {{ db }}.stg_qtickets_api_shows_raw AS s FINAL
WHERE s.deleted_at IS NULL
  AND (s.finish_date IS NULL OR s.finish_date >= now() - INTERVAL 1 DAY)
ORDER BY s.show_id
