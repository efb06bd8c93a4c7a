-- Audit of a sales rebuild before publishing: per rebuilt month %(months)s, tickets sold, revenue and
-- refunds of the daily scratch {{ daily_scratch }}, of the UTM scratch {{ utm_scratch }} and of
-- deduplicated staging (computed here independently of the build, as in checks/facts_reconcile.sql)
-- must agree. A month with no sales at all agrees at zero.
SELECT
    'fact_qtickets_sales_daily, fact_qtickets_sales_utm_daily' AS source,
    count()                                                    AS violations,
    CAST([] AS Array(UInt64))                                  AS ticket_ids,
    CAST([] AS Array(UInt64))                                  AS order_ids,
    groupArray(12)(detail)                                     AS examples
FROM
(
    SELECT concat(toString(m.month),
                  ': staging tickets=', toString(s.tickets), ' revenue=', toString(s.revenue),
                  ' refunds=', toString(s.refunds),
                  '; utm tickets=', toString(u.tickets), ' revenue=', toString(u.revenue),
                  ' refunds=', toString(u.refunds),
                  '; daily tickets=', toString(d.tickets), ' revenue=', toString(d.revenue),
                  ' refunds=', toString(d.refunds)) AS detail
    FROM (SELECT arrayJoin(%(months)s) AS month) AS m
    LEFT JOIN
    (
        SELECT toYYYYMM(toDate(payed_at)) AS month,
               toUInt64(sumIf(quantity, is_sold = 1))                AS tickets,
               toDecimal128(sumIf(ticket_amount, is_sold = 1), 2)   AS revenue,
               toDecimal128(sum(refunded_amount), 2)                AS refunds
        FROM (SELECT ticket_id, order_payed, payed_at, is_sold, quantity, ticket_amount, refunded_amount
              FROM {{ db }}.stg_qtickets_api_tickets_raw FINAL)
        WHERE order_payed = 1 AND payed_at IS NOT NULL AND has(%(months)s, toYYYYMM(toDate(payed_at)))
        GROUP BY month
    ) AS s ON s.month = m.month
    LEFT JOIN
    (
        SELECT toYYYYMM(sales_date) AS month, toUInt64(sum(tickets_sold)) AS tickets,
               toDecimal128(sum(revenue), 2) AS revenue, toDecimal128(sum(refunds_amount), 2) AS refunds
        FROM {{ db }}.{{ utm_scratch }}
        GROUP BY month
    ) AS u ON u.month = m.month
    LEFT JOIN
    (
        SELECT toYYYYMM(sales_date) AS month, toUInt64(sum(tickets_sold)) AS tickets,
               toDecimal128(sum(revenue), 2) AS revenue, toDecimal128(sum(refunds_amount), 2) AS refunds
        FROM {{ db }}.{{ daily_scratch }}
        GROUP BY month
    ) AS d ON d.month = m.month
    WHERE s.tickets != u.tickets OR s.revenue != u.revenue OR s.refunds != u.refunds
       OR d.tickets != u.tickets OR d.revenue != u.revenue OR d.refunds != u.refunds
)
HAVING violations > 0
SETTINGS join_use_nulls = 0
