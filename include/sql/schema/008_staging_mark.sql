-- The staging change mark a sales-fact rebuild was built from (qtickets.warehouse.sales_months.staging_mark).
-- The facts_reconcile check compares it with the current mark: facts that disagree with staging which has
-- changed since they were published are waiting for the next rebuild (another run's load landed after
-- this run's rebuild), not wrong. Rows written before this migration read 0: "changed since" for every
-- mark, until the next rebuild records a real one.
ALTER TABLE {{ db }}.meta_dataset_loads ADD COLUMN IF NOT EXISTS staging_mark UInt64 DEFAULT 0;
