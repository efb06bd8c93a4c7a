-- Sales per Moscow payment day, event, city and the order's five UTM values for the months in
-- %(months)s (YYYYMM numbers), from the latest version of every ticket (FINAL), into the scratch table
-- {{ target }} (same structure as fact_qtickets_sales_utm_daily; the caller audits it, then swaps its partitions in).
-- City comes from the event. sold = order paid, order and ticket not deleted, ticket not refunded
-- (is_sold, set by the mapper). Days whose tickets were all cancelled (nothing sold, nothing refunded)
-- get no row. The daily scratch is summed from this scratch table (sales_daily.sql).
INSERT INTO {{ db }}.{{ target }}
    (sales_date, event_id, city, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
     tickets_sold, revenue, refunds_amount, tickets_refunded, orders_count, _built_at)
SELECT
    toDate(t.payed_at)                                            AS sales_date,
    t.event_id                                                    AS event_id,
    e.city                                                        AS city,
    t.utm_source                                                  AS utm_source,
    t.utm_medium                                                  AS utm_medium,
    t.utm_campaign                                                AS utm_campaign,
    t.utm_content                                                 AS utm_content,
    t.utm_term                                                    AS utm_term,
    sumIf(t.quantity, t.is_sold = 1)                              AS tickets_sold,
    sumIf(t.ticket_amount, t.is_sold = 1)                         AS revenue,
    sum(t.refunded_amount)                                        AS refunds_amount,
    sumIf(t.quantity, t.refunded_at IS NOT NULL)                  AS tickets_refunded,
    uniqExactIf(t.order_id, t.is_sold = 1)                        AS orders_count,
    now('Europe/Moscow')                                          AS _built_at
FROM
(
    SELECT ticket_id, order_id, event_id, order_payed, payed_at, is_sold, quantity, ticket_amount,
           refunded_amount, refunded_at, utm_source, utm_medium, utm_campaign, utm_content, utm_term
    FROM {{ db }}.stg_qtickets_api_tickets_raw FINAL
    WHERE toYYYYMM(order_created_at) <= %(max_month)s
) AS t
LEFT JOIN
(
    SELECT event_id, city FROM {{ db }}.stg_qtickets_api_events_raw FINAL
) AS e ON e.event_id = t.event_id
WHERE t.order_payed = 1
  AND t.payed_at IS NOT NULL
  AND has(%(months)s, toYYYYMM(toDate(t.payed_at)))
GROUP BY sales_date, event_id, city, utm_source, utm_medium, utm_campaign, utm_content, utm_term
HAVING tickets_sold > 0 OR refunds_amount > 0 OR tickets_refunded > 0
