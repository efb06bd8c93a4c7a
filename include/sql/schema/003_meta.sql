-- Run records. ReplacingMergeTree keyed by the run so a retried record_run / record_dataset_load
-- replaces its earlier row instead of adding a second one. Read with FINAL.

CREATE TABLE IF NOT EXISTS {{ db }}.meta_job_runs
(
    job            LowCardinality(String),
    run_id         String,
    dag_id         LowCardinality(String),
    run_type       LowCardinality(String),
    started_at     DateTime('Europe/Moscow'),
    finished_at    DateTime('Europe/Moscow'),
    status         LowCardinality(String),
    rows_processed UInt64,
    message        String,  -- JSON: per-dataset counts
    window_start   Nullable(DateTime('Europe/Moscow')),
    window_end     Nullable(DateTime('Europe/Moscow')),
    http_status    Nullable(UInt16),
    error_code     String,
    request_id     String,
    error_message  String,
    failed_tasks   Array(String),
    _ver           UInt64
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (job, run_id);

-- One row per dataset per run: cadence (skip a dataset loaded recently) and freshness checks.
CREATE TABLE IF NOT EXISTS {{ db }}.meta_dataset_loads
(
    dataset      LowCardinality(String),
    run_id       String,
    started_at   DateTime('Europe/Moscow'),
    finished_at  DateTime('Europe/Moscow'),
    window_start Nullable(DateTime('Europe/Moscow')),
    window_end   Nullable(DateTime('Europe/Moscow')),
    status       LowCardinality(String),
    rows         UInt64,
    pages        UInt64,
    requests     UInt64,
    retries      UInt64,
    _ver         UInt64
)
ENGINE = ReplacingMergeTree(_ver)
ORDER BY (dataset, run_id);
