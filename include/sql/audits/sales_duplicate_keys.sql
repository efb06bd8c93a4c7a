-- Audit of a sales rebuild before publishing: keys that would be counted twice.
-- * staging: a ticket of the rebuilt months %(months)s whose versions sit in two partitions (its
--   order's created_at month changed): FINAL collapses versions only inside a partition, so the build
--   counts such a ticket once per partition;
-- * scratch facts {{ utm_scratch }} / {{ daily_scratch }}: more than one row per fact key.
SELECT
    source,
    count()                                                  AS violations,
    arraySort(groupArrayIf(10)(tid, tid != 0))               AS ticket_ids,
    arraySort(groupUniqArrayIf(10)(oid, oid != 0))           AS order_ids,
    groupArray(5)(detail)                                    AS examples
FROM
(
    SELECT 'stg_qtickets_api_tickets_raw' AS source, ticket_id AS tid, any(order_id) AS oid,
           concat('ticket ', toString(ticket_id), ' in partitions ',
                  arrayStringConcat(arraySort(groupUniqArray(_partition_id)), ', ')) AS detail
    FROM {{ db }}.stg_qtickets_api_tickets_raw
    WHERE ticket_id IN
    (
        SELECT ticket_id FROM {{ db }}.stg_qtickets_api_tickets_raw
        WHERE payed_at IS NOT NULL AND has(%(months)s, toYYYYMM(toDate(payed_at)))
    )
    GROUP BY ticket_id
    HAVING uniqExact(_partition_id) > 1

    UNION ALL

    SELECT 'fact_qtickets_sales_utm_daily', toUInt64(0), toUInt64(0),
           concat(toString(sales_date), '/', toString(event_id), '/', city, '/', utm_source, '/', utm_medium, '/',
                  utm_campaign, '/', utm_content, '/', utm_term, ': ', toString(count()), ' rows')
    FROM {{ db }}.{{ utm_scratch }}
    GROUP BY sales_date, event_id, city, utm_source, utm_medium, utm_campaign, utm_content, utm_term
    HAVING count() > 1

    UNION ALL

    SELECT 'fact_qtickets_sales_daily', toUInt64(0), toUInt64(0),
           concat(toString(sales_date), '/', toString(event_id), '/', city, ': ', toString(count()), ' rows')
    FROM {{ db }}.{{ daily_scratch }}
    GROUP BY sales_date, event_id, city
    HAVING count() > 1
)
GROUP BY source
ORDER BY startsWith(source, 'stg_') DESC, source  -- the cause (staging) before its effect
