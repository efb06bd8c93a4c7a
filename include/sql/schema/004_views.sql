-- Dashboard views over the rebuilt facts (one row per key, so plain sums never double count).
-- CREATE OR REPLACE: views hold no data, a changed definition ships as a new migration file.
-- "Today" is the Moscow date.

CREATE OR REPLACE VIEW {{ db }}.v_sales_latest AS
SELECT
    s.event_id                                   AS event_id,
    coalesce(e.event_name, '')                   AS event_name,
    s.city                                       AS city,
    s.sales_date                                 AS sales_date,
    s.tickets_sold                               AS tickets_sold,
    s.revenue                                    AS revenue,
    s.refunds_amount                             AS refunds_amount,
    i.tickets_total                              AS tickets_total,
    i.tickets_left                               AS tickets_left,
    i.snapshot_ts                                AS snapshot_ts
FROM
(
    SELECT event_id, city, sales_date,
           sum(tickets_sold) AS tickets_sold, sum(revenue) AS revenue, sum(refunds_amount) AS refunds_amount
    FROM {{ db }}.fact_qtickets_sales_daily
    WHERE sales_date >= toDate(now('Europe/Moscow')) - 13
    GROUP BY event_id, city, sales_date
) AS s
LEFT JOIN
(
    SELECT event_id, any(event_name) AS event_name FROM {{ db }}.dim_events GROUP BY event_id
) AS e ON e.event_id = s.event_id
LEFT JOIN
(
    SELECT event_id, sum(tickets_total) AS tickets_total, sum(tickets_left) AS tickets_left,
           max(snapshot_ts) AS snapshot_ts
    FROM {{ db }}.fact_qtickets_inventory_latest
    GROUP BY event_id
) AS i ON i.event_id = s.event_id
SETTINGS join_use_nulls = 1;

CREATE OR REPLACE VIEW {{ db }}.v_sales_14d AS
SELECT
    s.event_id                 AS event_id,
    coalesce(e.event_name, '') AS event_name,
    s.city                     AS city,
    sum(s.tickets_sold)        AS tickets_sold,
    sum(s.revenue)             AS revenue,
    sum(s.refunds_amount)      AS refunds_amount,
    sum(s.tickets_refunded)    AS tickets_refunded
FROM {{ db }}.fact_qtickets_sales_daily AS s
LEFT JOIN
(
    SELECT event_id, any(event_name) AS event_name FROM {{ db }}.dim_events GROUP BY event_id
) AS e ON e.event_id = s.event_id
WHERE s.sales_date >= toDate(now('Europe/Moscow')) - 13
GROUP BY s.event_id, event_name, s.city
SETTINGS join_use_nulls = 1;
