-- Violations: a key that still has more than one row after deduplication. In staging this means the
-- key landed in two partitions (FINAL dedups only inside one); in the facts it means a rebuild added
-- rows instead of replacing a partition.
SELECT 'stg_qtickets_api_tickets_raw' AS source, toString(ticket_id) AS key, count() AS copies
FROM {{ db }}.stg_qtickets_api_tickets_raw FINAL GROUP BY ticket_id HAVING copies > 1
UNION ALL
SELECT 'stg_qtickets_api_orders_raw', toString(order_id), count() AS copies
FROM {{ db }}.stg_qtickets_api_orders_raw FINAL GROUP BY order_id HAVING copies > 1
UNION ALL
SELECT 'stg_qtickets_api_inventory_raw', concat(toString(show_id), '/', toString(snapshot_ts)), count() AS copies
FROM {{ db }}.stg_qtickets_api_inventory_raw FINAL GROUP BY show_id, snapshot_ts HAVING copies > 1
UNION ALL
SELECT 'fact_qtickets_sales_daily', concat(toString(sales_date), '/', toString(event_id), '/', city), count() AS copies
FROM {{ db }}.fact_qtickets_sales_daily GROUP BY sales_date, event_id, city HAVING copies > 1
UNION ALL
SELECT 'fact_qtickets_sales_utm_daily',
       concat(toString(sales_date), '/', toString(event_id), '/', city, '/', utm_source, '/', utm_medium, '/',
              utm_campaign, '/', utm_content, '/', utm_term), count() AS copies
FROM {{ db }}.fact_qtickets_sales_utm_daily
GROUP BY sales_date, event_id, city, utm_source, utm_medium, utm_campaign, utm_content, utm_term HAVING copies > 1
UNION ALL
SELECT 'dim_events', toString(event_id), count() AS copies
FROM {{ db }}.dim_events GROUP BY event_id HAVING copies > 1
UNION ALL
SELECT 'fact_qtickets_inventory_latest', toString(show_id), count() AS copies
FROM {{ db }}.fact_qtickets_inventory_latest GROUP BY show_id HAVING copies > 1
LIMIT 100
