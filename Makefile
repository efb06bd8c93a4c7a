# qtickets-airflow — `make help` lists the targets.
PY := .venv/bin/python
.DEFAULT_GOAL := help

.PHONY: help setup demo airflow stack stack-test test lint bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Create .venv with the locked requirements and the provider (idempotent)
	scripts/setup.sh

demo: setup ## Sandbox API -> the DAG -> embedded ClickHouse -> printed summary
	$(PY) scripts/demo.py

airflow: setup ## Same set-up, Airflow UI on http://127.0.0.1:8080 (airflow standalone)
	$(PY) scripts/demo.py standalone

stack: setup ## Production stack without Docker: Postgres, Redis, Airflow components, Celery worker; one run
	$(PY) scripts/stack.py

stack-test: setup ## Only the real-stack test (marker stack; ~10 minutes; needs setup.sh --server once, as root)
	$(PY) -m pytest -m stack tests/stack -s

test: ## Install what the tests need (incl. clickhouse-server when root) and run the whole suite
	scripts/setup.sh --server
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadfile

lint: setup ## ruff
	.venv/bin/ruff check .

bench: setup ## Throughput / memory benchmarks (print tables; ~30 minutes)
	$(PY) bench/bench_dag.py
	$(PY) bench/bench_fetch_orders.py
	$(PY) bench/bench_warehouse.py
	$(PY) bench/bench_insert.py
	$(PY) bench/bench_sql_mapping.py
	$(PY) bench/bench_catchup.py
	$(PY) bench/bench_load_memory.py
