# Airflow image for the qtickets_api DAG: official Airflow 3.3.2 + the project's pinned requirements
# + the qtickets provider (its entry point registers the `qtickets` and `clickhouse` connection types,
# which a plugins folder can no longer do in Airflow 3).
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

USER root
RUN mkdir -p /opt/airflow/project && chown -R airflow:0 /opt/airflow/project
USER airflow
WORKDIR /opt/airflow/project

# Requirements first so code edits do not re-run the dependency layer. The image talks to a ClickHouse
# server, so the embedded engine (chdb-core, ~0.5 GB) is left out. requirements-stack.txt adds the
# executor, metadata DB, broker and auth manager (FAB, ADR 0007) providers; the real-stack test
# (tests/stack) installs the same file. requirements.lock is the constraints file: every package gets
# the version the tests ran with.
COPY --chown=airflow:0 requirements.txt requirements-stack.txt requirements.lock ./
RUN grep -v -E '^[[:space:]]*chdb-core' requirements.txt > /tmp/requirements-server.txt \
 && pip install --no-cache-dir -r /tmp/requirements-server.txt -r requirements-stack.txt -c requirements.lock \
 && rm /tmp/requirements-server.txt

# The project itself, installed editable so include/sql resolves next to the package and the
# compose bind mounts (dags, include, plugins/qtickets) take effect without a rebuild.
COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 plugins/qtickets ./plugins/qtickets
# Keeps Airflow's plugin scan out of the package (it would import hooks/qtickets.py as `qtickets`).
COPY --chown=airflow:0 plugins/.airflowignore ./plugins/.airflowignore
COPY --chown=airflow:0 include ./include
COPY --chown=airflow:0 dags ./dags
RUN pip install --no-cache-dir --no-deps -e /opt/airflow/project \
 && python -c "import qtickets.notifications, qtickets.hooks.qtickets, qtickets.hooks.clickhouse"

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/project/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/project/plugins
