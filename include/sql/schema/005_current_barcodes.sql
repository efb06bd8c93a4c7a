-- Barcodes as of the latest read of their show. The barcodes dataset re-reads the barcode list of every
-- upcoming show (hourly) and staging keeps every barcode it ever saw: the barcode of a refunded or
-- cancelled ticket vanishes from the vendor's list but not from staging. This view keeps, per show, the
-- barcodes of its latest read only (all rows of one read share its _loaded_at). A show whose list
-- became empty keeps its last non-empty read: nothing newer was stored for it.
CREATE OR REPLACE VIEW {{ db }}.v_barcodes_current AS
SELECT b.*
FROM {{ db }}.stg_qtickets_api_barcodes_raw AS b FINAL
WHERE (b.show_id, b._loaded_at) IN
(
    SELECT show_id, max(_loaded_at) FROM {{ db }}.stg_qtickets_api_barcodes_raw GROUP BY show_id
);
