-- Violations: money amounts below zero in deduplicated staging or in the facts.
SELECT 'stg_qtickets_api_tickets_raw' AS source, toString(ticket_id) AS key,
       concat('price=', toString(price), ' ticket_amount=', toString(ticket_amount),
              ' refunded_amount=', toString(refunded_amount), ' service_fee_amount=', toString(service_fee_amount)) AS detail
FROM (SELECT ticket_id, price, ticket_amount, refunded_amount, service_fee_amount
      FROM {{ db }}.stg_qtickets_api_tickets_raw FINAL)
WHERE price < 0 OR ticket_amount < 0 OR refunded_amount < 0 OR service_fee_amount < 0
UNION ALL
SELECT 'stg_qtickets_api_orders_raw', toString(order_id),
       concat('price=', toString(price), ' original_price=', toString(original_price))
FROM (SELECT order_id, price, original_price FROM {{ db }}.stg_qtickets_api_orders_raw FINAL)
WHERE price < 0 OR original_price < 0
UNION ALL
SELECT 'fact_qtickets_sales_daily', concat(toString(sales_date), '/', toString(event_id), '/', city),
       concat('revenue=', toString(revenue), ' refunds_amount=', toString(refunds_amount))
FROM {{ db }}.fact_qtickets_sales_daily
WHERE revenue < 0 OR refunds_amount < 0
UNION ALL
SELECT 'fact_qtickets_sales_utm_daily', concat(toString(sales_date), '/', toString(event_id), '/', city),
       concat('revenue=', toString(revenue), ' refunds_amount=', toString(refunds_amount))
FROM {{ db }}.fact_qtickets_sales_utm_daily
WHERE revenue < 0 OR refunds_amount < 0
LIMIT 100
