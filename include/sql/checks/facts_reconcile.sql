-- Violations: months where the sales facts (daily and UTM) disagree with deduplicated staging on
-- tickets sold or revenue (a missed rebuild, or a rebuild from partial data).
SELECT
    month,
    s.tickets AS staging_tickets, d.tickets AS daily_tickets, u.tickets AS utm_tickets,
    toString(s.revenue) AS staging_revenue, toString(d.revenue) AS daily_revenue, toString(u.revenue) AS utm_revenue
FROM
(
    SELECT toYYYYMM(toDate(payed_at)) AS month, sumIf(quantity, is_sold = 1) AS tickets,
           sumIf(ticket_amount, is_sold = 1) AS revenue
    FROM (SELECT ticket_id, order_payed, payed_at, is_sold, quantity, ticket_amount
          FROM {{ db }}.stg_qtickets_api_tickets_raw FINAL)
    WHERE order_payed = 1 AND payed_at IS NOT NULL
    GROUP BY month
) AS s
FULL OUTER JOIN
(
    SELECT toYYYYMM(sales_date) AS month, sum(tickets_sold) AS tickets, sum(revenue) AS revenue
    FROM {{ db }}.fact_qtickets_sales_daily GROUP BY month
) AS d USING (month)
FULL OUTER JOIN
(
    SELECT toYYYYMM(sales_date) AS month, sum(tickets_sold) AS tickets, sum(revenue) AS revenue
    FROM {{ db }}.fact_qtickets_sales_utm_daily GROUP BY month
) AS u USING (month)
WHERE s.tickets != d.tickets OR s.revenue != d.revenue OR d.tickets != u.tickets OR d.revenue != u.revenue
ORDER BY month
LIMIT 100
SETTINGS join_use_nulls = 0
