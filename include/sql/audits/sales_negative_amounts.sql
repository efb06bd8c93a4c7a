-- Audit of a sales rebuild before publishing: money amounts below zero in the months %(months)s
-- (YYYYMM) -- in the deduplicated staging rows the build reads (tickets and orders whose Moscow payment
-- month is rebuilt) and in the scratch facts {{ utm_scratch }} / {{ daily_scratch }}.
-- Same conditions as checks/negative_amounts.sql, limited to what this rebuild publishes.
SELECT
    source,
    count()                                                  AS violations,
    arraySort(groupArrayIf(10)(tid, tid != 0))               AS ticket_ids,
    arraySort(groupUniqArrayIf(10)(oid, oid != 0))           AS order_ids,
    groupArray(5)(detail)                                    AS examples
FROM
(
    SELECT 'stg_qtickets_api_tickets_raw' AS source, ticket_id AS tid, order_id AS oid,
           concat('ticket ', toString(ticket_id), ' (order ', toString(order_id), ', paid ',
                  toString(payed_at), '): price=', toString(price), ' ticket_amount=', toString(ticket_amount),
                  ' refunded_amount=', toString(refunded_amount),
                  ' service_fee_amount=', toString(service_fee_amount)) AS detail
    FROM
    (
        SELECT ticket_id, order_id, payed_at, price, ticket_amount, refunded_amount, service_fee_amount
        FROM {{ db }}.stg_qtickets_api_tickets_raw FINAL
        WHERE toYYYYMM(order_created_at) <= %(max_month)s
    )
    WHERE payed_at IS NOT NULL
      AND has(%(months)s, toYYYYMM(toDate(payed_at)))
      AND (price < 0 OR ticket_amount < 0 OR refunded_amount < 0 OR service_fee_amount < 0)

    UNION ALL

    SELECT 'stg_qtickets_api_orders_raw', toUInt64(0), order_id,
           concat('order ', toString(order_id), ' (paid ', toString(payed_at), '): price=', toString(price),
                  ' original_price=', toString(original_price))
    FROM
    (
        SELECT order_id, payed_at, price, original_price
        FROM {{ db }}.stg_qtickets_api_orders_raw FINAL
        WHERE toYYYYMM(created_at) <= %(max_month)s
    )
    WHERE payed_at IS NOT NULL
      AND has(%(months)s, toYYYYMM(toDate(payed_at)))
      AND (price < 0 OR original_price < 0)

    UNION ALL

    SELECT 'fact_qtickets_sales_utm_daily', toUInt64(0), toUInt64(0),
           concat(toString(sales_date), '/', toString(event_id), '/', city, '/', utm_source, '/', utm_medium,
                  '/', utm_campaign, ': revenue=', toString(revenue), ' refunds_amount=', toString(refunds_amount))
    FROM {{ db }}.{{ utm_scratch }}
    WHERE revenue < 0 OR refunds_amount < 0

    UNION ALL

    SELECT 'fact_qtickets_sales_daily', toUInt64(0), toUInt64(0),
           concat(toString(sales_date), '/', toString(event_id), '/', city,
                  ': revenue=', toString(revenue), ' refunds_amount=', toString(refunds_amount))
    FROM {{ db }}.{{ daily_scratch }}
    WHERE revenue < 0 OR refunds_amount < 0
)
GROUP BY source
ORDER BY startsWith(source, 'stg_') DESC, source  -- the cause (staging) before its effect
