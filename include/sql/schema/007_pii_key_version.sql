-- Which pii_hash_key made the hashes of a row (clickhouse connection extra pii_key_version, default 1).
-- A new key gives every e-mail, phone and barcode a new hash: after a rotation, rows hashed with the old
-- key no longer join with new ones, and this column says which rows those are (README, "Personal data").
-- Rows written before this migration read as 1: they were hashed with the first key.
ALTER TABLE {{ db }}.stg_qtickets_api_orders_raw ADD COLUMN IF NOT EXISTS pii_key_version UInt16 DEFAULT 1;
ALTER TABLE {{ db }}.stg_qtickets_api_tickets_raw ADD COLUMN IF NOT EXISTS pii_key_version UInt16 DEFAULT 1;
ALTER TABLE {{ db }}.stg_qtickets_api_clients_raw ADD COLUMN IF NOT EXISTS pii_key_version UInt16 DEFAULT 1;
ALTER TABLE {{ db }}.stg_qtickets_api_barcodes_raw ADD COLUMN IF NOT EXISTS pii_key_version UInt16 DEFAULT 1;
ALTER TABLE {{ db }}.stg_qtickets_api_partner_tickets_raw ADD COLUMN IF NOT EXISTS pii_key_version UInt16 DEFAULT 1;
-- A view's columns are fixed when it is created: re-create v_barcodes_current (as in 005) so it shows
-- the new column too.
CREATE OR REPLACE VIEW {{ db }}.v_barcodes_current AS
SELECT b.*
FROM {{ db }}.stg_qtickets_api_barcodes_raw AS b FINAL
WHERE (b.show_id, b._loaded_at) IN
(
    SELECT show_id, max(_loaded_at) FROM {{ db }}.stg_qtickets_api_barcodes_raw GROUP BY show_id
);
