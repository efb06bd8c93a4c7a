-- Violations: keys that deduplication cannot collapse. In partitioned staging: a key whose versions
-- sit in two partitions (background merges never dedup across partitions, so readers without FINAL
-- double count; it means the "immutable" partition attribute changed). In the rebuilt tables: more
-- than one row per key (a rebuild appended instead of replacing a partition).
SELECT 'stg_qtickets_api_tickets_raw' AS source, toString(ticket_id) AS key, uniqExact(_partition_id) AS copies
FROM {{ db }}.stg_qtickets_api_tickets_raw GROUP BY ticket_id HAVING copies > 1
UNION ALL
SELECT 'stg_qtickets_api_orders_raw', toString(order_id), uniqExact(_partition_id) AS copies
FROM {{ db }}.stg_qtickets_api_orders_raw GROUP BY order_id HAVING copies > 1
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
