-- The staging mark the latest published sales-fact rebuild was built from (0: none recorded).
SELECT argMax(staging_mark, _ver)
FROM {{ db }}.meta_dataset_loads FINAL
WHERE dataset = 'fact_qtickets_sales_daily' AND status = 'success'
