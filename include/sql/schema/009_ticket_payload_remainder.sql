-- Ticket rows keep the vendor's basket once (ADR 0011). The typed columns hold the values they name;
-- payload_json now holds only the scrubbed basket keys that no typed column holds (series, created_at,
-- updated_at, services, related_baskets, refunds ...; in hash mode without client_email, client_phone
-- and barcode, whose hashes are columns; in clear mode with them). Nothing loaded is rewritten or
-- dropped: rows loaded before this migration keep the whole scrubbed basket in payload_json and read
-- payload_version 1; rows the loader writes from now on carry payload_version 2.
ALTER TABLE {{ db }}.stg_qtickets_api_tickets_raw ADD COLUMN IF NOT EXISTS payload_version UInt8 DEFAULT 1
    COMMENT '1: payload_json is the whole scrubbed basket, 2: only the basket keys no typed column holds (ADR 0011)';
ALTER TABLE {{ db }}.stg_qtickets_api_tickets_raw COMMENT COLUMN payload_json
    'Scrubbed vendor basket: all of it when payload_version = 1, the keys no typed column holds when 2 (ADR 0011)';
