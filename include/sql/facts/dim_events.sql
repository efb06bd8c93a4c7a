-- Events with their show span (non-deleted shows), from the latest staging versions, into {{ target }}.
INSERT INTO {{ db }}.{{ target }}
    (event_id, event_name, city, city_timezone, is_active, is_deleted, first_show_start, last_show_finish,
     start_date, end_date, shows_count, _built_at)
SELECT
    e.event_id,
    e.name,
    e.city,
    e.city_timezone,
    e.is_active,
    e.deleted_at IS NOT NULL,
    s.first_show_start,
    s.last_show_finish,
    toDate(s.first_show_start),
    toDate(s.last_show_finish),
    s.shows_count,
    now('Europe/Moscow')
FROM
(
    SELECT event_id, name, city, city_timezone, is_active, deleted_at
    FROM {{ db }}.stg_qtickets_api_events_raw FINAL
) AS e
LEFT JOIN
(
    SELECT event_id, min(start_date) AS first_show_start, max(finish_date) AS last_show_finish,
           toUInt32(count()) AS shows_count
    FROM (SELECT event_id, start_date, finish_date, deleted_at FROM {{ db }}.stg_qtickets_api_shows_raw FINAL)
    WHERE deleted_at IS NULL
    GROUP BY event_id
) AS s ON s.event_id = e.event_id
