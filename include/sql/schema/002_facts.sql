-- Dimension and fact tables. They are REBUILT from deduplicated staging (qtickets.warehouse) and
-- swapped in with ALTER TABLE ... REPLACE PARTITION, so they hold exactly one row per key and plain
-- MergeTree is enough: readers never need FINAL and never see a half-built month.
-- Replicated cluster: use ReplicatedMergeTree with the same keys (REPLACE PARTITION is replicated).

CREATE TABLE IF NOT EXISTS {{ db }}.dim_events
(
    event_id         UInt64,
    event_name       String,
    city             LowCardinality(String),
    city_timezone    LowCardinality(String),
    is_active        UInt8,
    is_deleted       UInt8,
    first_show_start Nullable(DateTime('Europe/Moscow')),
    last_show_finish Nullable(DateTime('Europe/Moscow')),
    start_date       Nullable(Date),  -- Moscow date of first_show_start
    end_date         Nullable(Date),  -- Moscow date of last_show_finish
    shows_count      UInt32,
    _built_at        DateTime('Europe/Moscow')
)
ENGINE = MergeTree
ORDER BY event_id;

-- Sales per payment day (Moscow), event and city (from the event). A ticket is sold when its order
-- is paid and neither the order nor the ticket is deleted and the ticket is not refunded; revenue is
-- ticket_amount of sold tickets; refunds of tickets paid that day are reported separately.
CREATE TABLE IF NOT EXISTS {{ db }}.fact_qtickets_sales_daily
(
    sales_date       Date,
    event_id         UInt64,
    city             LowCardinality(String),
    tickets_sold     UInt64,
    revenue          Decimal(18, 2),
    refunds_amount   Decimal(18, 2),
    tickets_refunded UInt64,
    orders_count     UInt64,
    _built_at        DateTime('Europe/Moscow')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(sales_date)
ORDER BY (sales_date, event_id, city);

CREATE TABLE IF NOT EXISTS {{ db }}.fact_qtickets_sales_utm_daily
(
    sales_date       Date,
    event_id         UInt64,
    city             LowCardinality(String),
    utm_source       LowCardinality(String),
    utm_medium       LowCardinality(String),
    utm_campaign     String,
    utm_content      String,
    utm_term         String,
    tickets_sold     UInt64,
    revenue          Decimal(18, 2),
    refunds_amount   Decimal(18, 2),
    tickets_refunded UInt64,
    orders_count     UInt64,
    _built_at        DateTime('Europe/Moscow')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(sales_date)
ORDER BY (sales_date, event_id, city, utm_source, utm_medium, utm_campaign, utm_content, utm_term);

-- Latest seat-map snapshot per show.
CREATE TABLE IF NOT EXISTS {{ db }}.fact_qtickets_inventory_latest
(
    event_id      UInt64,
    show_id       UInt64,
    event_name    String,
    city          LowCardinality(String),
    show_start    Nullable(DateTime('Europe/Moscow')),
    snapshot_ts   DateTime('Europe/Moscow'),
    tickets_total UInt64,
    tickets_left  UInt64,
    tickets_sold  UInt64,
    _built_at     DateTime('Europe/Moscow')
)
ENGINE = MergeTree
ORDER BY (event_id, show_id);
