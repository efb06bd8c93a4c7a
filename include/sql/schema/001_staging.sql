-- Staging tables: one per dataset, the latest version of each key wins (ReplacingMergeTree(_ver)).
--
-- Rules every table here follows:
-- * _ver = vendor updated_at << 32 | fetch time (qtickets.timeutil.make_ver): a re-run, a retry or an
--   overlapping backfill never duplicates a key and never lets older data replace newer.
-- * PARTITION BY only an IMMUTABLE attribute of the key (an order's created_at never changes), so all
--   versions of one key land in one partition -- ReplacingMergeTree dedups only inside a partition.
--   Small reference tables are not partitioned.
-- * Readers use FINAL (or argMax by _ver): merges are eventual.
-- * No cluster is hard-coded. For a replicated cluster create the same tables with
--   ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', _ver)
--   (or set the database engine to Replicated, which rewrites engines itself) -- the columns, keys and
--   partitions stay as written.
-- * payload_json holds the vendor record with personal data hashed/removed (qtickets.pii).
-- Target: ClickHouse >= 23.8.

CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_orders_raw
(
    order_id          UInt64,
    uniqid            String,
    event_id          UInt64,
    client_id         UInt64,
    payed             UInt8,
    payed_at          Nullable(DateTime('Europe/Moscow')),
    created_at        DateTime('Europe/Moscow'),
    updated_at        DateTime('Europe/Moscow'),
    deleted_at        Nullable(DateTime('Europe/Moscow')),
    price             Decimal(12, 2),
    original_price    Decimal(12, 2),
    currency          LowCardinality(String),
    discount_id       Nullable(UInt64),
    promo_code_id     Nullable(UInt64),
    site_host         LowCardinality(String),
    payment_type      LowCardinality(String),
    utm_source        LowCardinality(String),
    utm_medium        LowCardinality(String),
    utm_campaign      String,
    utm_content       String,
    utm_term          String,
    tickets_count     UInt32,
    client_email_hash String,
    client_phone_hash String,
    payload_json      String CODEC(ZSTD(3)),
    _ver              UInt64,
    _loaded_at        DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(created_at)
ORDER BY order_id;

-- One row per basket (ticket). Partitioned by the ORDER's created_at (immutable), not by payment
-- time (an unpaid order gets paid later: a payed_at partition would split the key in two).
CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_tickets_raw
(
    ticket_id          UInt64,
    order_id           UInt64,
    event_id           UInt64,
    show_id            UInt64,
    seat_id            String,
    seat_name          String,
    order_payed        UInt8,
    payed_at           Nullable(DateTime('Europe/Moscow')),
    order_created_at   DateTime('Europe/Moscow'),
    order_updated_at   DateTime('Europe/Moscow'),
    order_deleted_at   Nullable(DateTime('Europe/Moscow')),
    deleted_at         Nullable(DateTime('Europe/Moscow')),
    refunded_at        Nullable(DateTime('Europe/Moscow')),
    checked_at         Nullable(DateTime('Europe/Moscow')),
    price              Decimal(12, 2),
    original_price     Decimal(12, 2),
    discount_value     Decimal(12, 2),
    ticket_amount      Decimal(12, 2),
    service_fee_amount Decimal(12, 2),
    refunded_amount    Decimal(12, 2),
    quantity           UInt32,
    currency           LowCardinality(String),
    utm_source         LowCardinality(String),
    utm_medium         LowCardinality(String),
    utm_campaign       String,
    utm_content        String,
    utm_term           String,
    is_sold            UInt8,
    client_email_hash  String,
    client_phone_hash  String,
    barcode_hash       String,
    payload_json       String CODEC(ZSTD(3)),
    _ver               UInt64,
    _loaded_at         DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(order_created_at)
ORDER BY ticket_id;

CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_events_raw
(
    event_id      UInt64,
    name          String,
    city_id       UInt64,
    city          LowCardinality(String),
    city_timezone LowCardinality(String),
    is_active     UInt8,
    place_name    String,
    place_address String,
    event_type_id UInt64,
    created_at    Nullable(DateTime('Europe/Moscow')),
    updated_at    Nullable(DateTime('Europe/Moscow')),
    deleted_at    Nullable(DateTime('Europe/Moscow')),
    shows_count   UInt32,
    payload_json  String CODEC(ZSTD(3)),
    _ver          UInt64,
    _loaded_at    DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY event_id;

CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_shows_raw
(
    show_id          UInt64,
    event_id         UInt64,
    name             String,
    is_active        UInt8,
    start_date       Nullable(DateTime('Europe/Moscow')),
    finish_date      Nullable(DateTime('Europe/Moscow')),
    open_date        Nullable(DateTime('Europe/Moscow')),
    sale_start_date  Nullable(DateTime('Europe/Moscow')),
    sale_finish_date Nullable(DateTime('Europe/Moscow')),
    min_price        Nullable(Decimal(12, 2)),
    max_price        Nullable(Decimal(12, 2)),
    prices_count     UInt32,
    created_at       Nullable(DateTime('Europe/Moscow')),
    updated_at       Nullable(DateTime('Europe/Moscow')),
    deleted_at       Nullable(DateTime('Europe/Moscow')),
    payload_json     String CODEC(ZSTD(3)),
    _ver             UInt64,
    _loaded_at       DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY show_id;

-- Seat-map snapshots, one row per show per snapshot. TTL 400 days: snapshots are a time series that
-- only feeds "latest" facts and year-over-year comparisons; older ones are noise. No other table has
-- a TTL -- orders, tickets and reference data are the record of sales and are never expired.
CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_inventory_raw
(
    show_id           UInt64,
    event_id          UInt64,
    snapshot_ts       DateTime('Europe/Moscow'),
    seats_count       UInt32,
    admission_seats   UInt32,
    tickets_total     UInt64,
    tickets_left      UInt64,
    tickets_sold      UInt64,
    tickets_in_basket UInt64,
    payload_json      String CODEC(ZSTD(3)),
    _ver              UInt64,
    _loaded_at        DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
PARTITION BY toYYYYMM(snapshot_ts)
ORDER BY (show_id, snapshot_ts)
TTL snapshot_ts + INTERVAL 400 DAY;

-- e-mail/phone/names in clear only when the connection extra pii_mode = clear; else '' and hashes.
CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_clients_raw
(
    client_id    UInt64,
    email_hash   String,
    phone_hash   String,
    email        String,
    phone        String,
    first_name   String,
    last_name    String,
    middle_name  String,
    payload_json String CODEC(ZSTD(3)),
    _ver         UInt64,
    _loaded_at   DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY client_id;

CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_price_shades_raw
(
    shade_id     UInt64,
    color        String,
    name         String,
    payload_json String CODEC(ZSTD(3)),
    _ver         UInt64,
    _loaded_at   DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY shade_id;

-- The API returns no discount value (only a name like "Скидка 15%"); none is stored.
CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_discounts_raw
(
    discount_id  UInt64,
    name         String,
    type         LowCardinality(String),
    is_active    UInt8,
    active_from  Nullable(DateTime('Europe/Moscow')),
    active_to    Nullable(DateTime('Europe/Moscow')),
    event_ids    Array(UInt64),
    show_ids     Array(UInt64),
    created_at   Nullable(DateTime('Europe/Moscow')),
    updated_at   Nullable(DateTime('Europe/Moscow')),
    deleted_at   Nullable(DateTime('Europe/Moscow')),
    payload_json String CODEC(ZSTD(3)),
    _ver         UInt64,
    _loaded_at   DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY discount_id;

-- code is kept in clear (organiser marketing data) but can be redeemed: not granted to BI readers.
CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_promo_codes_raw
(
    promo_code_id  UInt64,
    discount_id    Nullable(UInt64),
    code           String,
    type           Int32,
    is_active      UInt8,
    max_uses_count UInt32,
    active_from    Nullable(DateTime('Europe/Moscow')),
    active_to      Nullable(DateTime('Europe/Moscow')),
    created_at     Nullable(DateTime('Europe/Moscow')),
    updated_at     Nullable(DateTime('Europe/Moscow')),
    deleted_at     Nullable(DateTime('Europe/Moscow')),
    payload_json   String CODEC(ZSTD(3)),
    _ver           UInt64,
    _loaded_at     DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY promo_code_id;

-- barcode (an entry credential) only in clear mode; barcode_hash always.
CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_barcodes_raw
(
    barcode_hash String,
    barcode      String,
    show_id      UInt64,
    event_id     UInt64,
    seat_name    String,
    zone_name    String,
    row          String,
    place        String,
    admission    UInt8,
    price        Decimal(12, 2),
    checked_at   Nullable(DateTime('Europe/Moscow')),
    payload_json String CODEC(ZSTD(3)),
    _ver         UInt64,
    _loaded_at   DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (show_id, barcode_hash);

CREATE TABLE IF NOT EXISTS {{ db }}.stg_qtickets_api_partner_tickets_raw
(
    ticket_id         UInt64,
    event_id          UInt64,
    show_id           UInt64,
    seat_id           String,
    offer_id          String,
    external_id       String,
    external_order_id String,
    paid              UInt8,
    paid_at           Nullable(DateTime('Europe/Moscow')),
    reserved_to       Nullable(DateTime('Europe/Moscow')),
    deleted           UInt8,
    price             Decimal(12, 2),
    client_email_hash String,
    client_phone_hash String,
    barcode_hash      String,
    payload_json      String CODEC(ZSTD(3)),
    _ver              UInt64,
    _loaded_at        DateTime('Europe/Moscow')
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY ticket_id;
