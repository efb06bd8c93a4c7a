-- Sales per Moscow payment day, event and city for the months in %(months)s (YYYYMM numbers), into the
-- scratch table {{ target }} (same structure as fact_qtickets_sales_daily; the caller audits the scratch
-- builds and only then swaps their partitions in). Summed from {{ utm_scratch }}, the UTM scratch build of
-- the same call (not from the published UTM fact): the revenue rule lives once, in sales_utm_daily.sql,
-- and both scratch tables are audited together before either is published. The sums are exact,
-- orders_count included, because UTM values belong to the order: every order falls in exactly one UTM group.
INSERT INTO {{ db }}.{{ target }}
    (sales_date, event_id, city, tickets_sold, revenue, refunds_amount, tickets_refunded, orders_count, _built_at)
SELECT
    sales_date,
    event_id,
    city,
    sum(tickets_sold),
    sum(revenue),
    sum(refunds_amount),
    sum(tickets_refunded),
    sum(orders_count),
    now('Europe/Moscow')
FROM {{ db }}.{{ utm_scratch }}
WHERE has(%(months)s, toYYYYMM(sales_date))
GROUP BY sales_date, event_id, city
