-- Latest seat-map snapshot per show, with event name/city and show start, into {{ target }}.
INSERT INTO {{ db }}.{{ target }}
    (event_id, show_id, event_name, city, show_start, snapshot_ts, tickets_total, tickets_left, tickets_sold,
     _built_at)
SELECT
    if(i.event_id = 0, sh.event_id, i.event_id) AS event_id,
    i.show_id,
    e.name,
    e.city,
    sh.start_date,
    i.latest_ts,
    i.tickets_total,
    i.tickets_left,
    i.tickets_sold,
    now('Europe/Moscow')
FROM
(
    SELECT show_id,
           argMax(event_id, snapshot_ts)      AS event_id,
           max(snapshot_ts)                   AS latest_ts,
           argMax(tickets_total, snapshot_ts) AS tickets_total,
           argMax(tickets_left, snapshot_ts)  AS tickets_left,
           argMax(tickets_sold, snapshot_ts)  AS tickets_sold
    FROM (SELECT show_id, event_id, snapshot_ts, tickets_total, tickets_left, tickets_sold
          FROM {{ db }}.stg_qtickets_api_inventory_raw FINAL)
    GROUP BY show_id
) AS i
LEFT JOIN
(
    SELECT show_id, event_id, start_date FROM {{ db }}.stg_qtickets_api_shows_raw FINAL
) AS sh ON sh.show_id = i.show_id
LEFT JOIN
(
    SELECT event_id, name, city FROM {{ db }}.stg_qtickets_api_events_raw FINAL
) AS e ON e.event_id = if(i.event_id = 0, sh.event_id, i.event_id)
