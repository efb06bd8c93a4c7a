-- Coverage ledger of incremental datasets (ADR 0006): one row per [range_start, range_end) span of the
-- vendor's updated_at timeline whose records were all read and inserted into staging. A run writes a
-- row only after its rows are in staging, so a failed or never-run interval leaves a hole, which the
-- next run reads (qtickets.coverage.plan_windows) and the coverage check reports. Rows are never
-- updated; writing the same range twice (a retried task) is harmless: ranges are merged when read.
CREATE TABLE IF NOT EXISTS {{ db }}.meta_coverage
(
    dataset     LowCardinality(String),
    range_start DateTime('UTC'),
    range_end   DateTime('UTC'),
    run_id      String,
    recorded_at DateTime('UTC'),
    _ver        UInt64
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (dataset, range_start, range_end, run_id);
