# Airflow image for the qtickets_api DAG: official Airflow 3.3.2 + the project's pinned requirements
# + the qtickets provider (its entry point registers the `qtickets` and `clickhouse` connection types,
# which a plugins folder can no longer do in Airflow 3).
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

USER root
RUN mkdir -p /opt/airflow/project /opt/airflow/auth \
 && chown -R airflow:0 /opt/airflow/project /opt/airflow/auth \
 && chmod 0770 /opt/airflow/auth
USER airflow
WORKDIR /opt/airflow/project

# Requirements first so code edits do not re-run the dependency layer. The image talks to a ClickHouse
# server, so the embedded engine (chdb-core, ~0.5 GB) is left out. Executor/metadata providers are
# pinned here because only this image needs them (CeleryExecutor >= 3.26.0 runs deadline SyncCallbacks).
# requirements.lock is the constraints file: every transitive package it pins gets the version the tests
# ran with (packages only this image needs, such as celery, resolve freely).
COPY --chown=airflow:0 requirements.txt requirements.lock ./
RUN grep -v -E '^[[:space:]]*chdb-core' requirements.txt > /tmp/requirements-server.txt \
 && pip install --no-cache-dir -r /tmp/requirements-server.txt -c requirements.lock \
      "apache-airflow-providers-celery==3.26.0" \
      "apache-airflow-providers-postgres==7.1.1" \
      "apache-airflow-providers-redis==4.7.1" \
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
