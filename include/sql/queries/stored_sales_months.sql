-- Moscow payment months the warehouse holds for these orders (any stored version), read BEFORE a new
-- version of them is inserted: when an order's payed_at moves or disappears, the month it was counted
-- in must be rebuilt too, not only the month of its new payment date.
SELECT DISTINCT toStartOfMonth(payed_at)
FROM {{ db }}.stg_qtickets_api_orders_raw
WHERE order_id IN %(order_ids)s
  AND payed_at IS NOT NULL
