-- Roles for the QTickets warehouse. NOT applied by the DAG (it needs an administrator, and access
-- control must be enabled for the admin user: access_management = 1 in users.xml).
--
-- Apply once per database, as an administrator, with the database name substituted for {{ db }}:
--   sed 's/{{ db }}/zakaz/g' include/sql/grants/roles.sql | clickhouse-client --multiquery
-- or from Python: ClickHouseHook(clickhouse_conn_id="clickhouse_admin").run_sql_file(path)
-- Then grant the roles to users, e.g.
--   CREATE USER IF NOT EXISTS etl_writer IDENTIFIED WITH sha256_password BY '...';
--   GRANT qtickets_etl_writer TO etl_writer;  SET DEFAULT ROLE qtickets_etl_writer TO etl_writer;
--   GRANT qtickets_bi_reader TO datalens_reader; ...
-- On a cluster add ON CLUSTER <name> to every statement.

CREATE ROLE IF NOT EXISTS qtickets_etl_writer;
CREATE ROLE IF NOT EXISTS qtickets_bi_reader;

-- The loader: creates the database objects (migrations), writes staging, rebuilds facts by partition
-- replacement (ALTER ... REPLACE/DROP PARTITION) using scratch tables it creates and drops.
GRANT CREATE DATABASE ON {{ db }}.* TO qtickets_etl_writer;
GRANT CREATE TABLE, CREATE VIEW, DROP TABLE, DROP VIEW ON {{ db }}.* TO qtickets_etl_writer;
GRANT SELECT, INSERT, ALTER ON {{ db }}.* TO qtickets_etl_writer;
GRANT SELECT ON system.columns TO qtickets_etl_writer;

-- Dashboards: facts, dimension and views only (no staging: payloads and promo codes stay private).
GRANT SELECT ON {{ db }}.dim_events TO qtickets_bi_reader;
GRANT SELECT ON {{ db }}.fact_qtickets_sales_daily TO qtickets_bi_reader;
GRANT SELECT ON {{ db }}.fact_qtickets_sales_utm_daily TO qtickets_bi_reader;
GRANT SELECT ON {{ db }}.fact_qtickets_inventory_latest TO qtickets_bi_reader;
GRANT SELECT ON {{ db }}.v_sales_latest TO qtickets_bi_reader;
GRANT SELECT ON {{ db }}.v_sales_14d TO qtickets_bi_reader;
GRANT SELECT ON {{ db }}.meta_job_runs TO qtickets_bi_reader;
