"""QTickets provider: hooks, dataset registry and warehouse code for the ``qtickets_api`` DAG."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

REST_BASE_URL = "https://qtickets.ru/api/rest/v1"
PARTNERS_BASE_URL = "https://qtickets.ru/api/partners/v1"


def _int_field(label: str, description: str, default: int | float | None) -> dict[str, Any]:
    return {
        "label": label,
        "description": description,
        "schema": {"type": ["number", "null"], "default": default},
    }


_HTTP_FIELDS: dict[str, Any] = {
    "timeout": _int_field("Read timeout (s)", "Seconds to wait for a response before retrying.", 60),
    "connect_timeout": _int_field("Connect timeout (s)", "Seconds to wait for the TCP/TLS connection.", 10),
    "retry_budget": _int_field("Retry budget (s)", "How long one request keeps retrying 429, 5xx, timeouts, "
                               "connection errors and unreadable 200 bodies before the task fails.", 600),
    "max_retries": _int_field("Max retries (optional cap)", "Empty: no count cap, the retry budget bounds "
                              "the retries. A number also caps them.", None),
    "backoff_base": _int_field("Backoff base (s)", "First retry wait; doubles each retry, with jitter.", 1.0),
    "backoff_max": _int_field("Backoff max (s)", "Longest wait between retries.", 30),
    "concurrency": _int_field("Concurrent page requests", "Pages fetched in parallel once the total is known (1-16).", 4),
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "qtickets-airflow",
        "name": "QTickets",
        "description": "QTickets REST and Partners API hooks and a ClickHouse warehouse hook.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "qtickets",
                "hook-class-name": "qtickets.hooks.qtickets.QticketsHook",
                "hook-name": "QTickets REST API",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"password": "API token", "host": "Base URL"},
                    "placeholders": {"host": REST_BASE_URL, "password": "organiser API token"},
                },
                "conn-fields": {
                    **_HTTP_FIELDS,
                    "filter_transport": {
                        "label": "Filter transport",
                        "description": "How where/orderBy/page are sent: get_body (vendor docs) or get_query "
                        "(JSON-encoded query parameters).",
                        "schema": {"type": ["string", "null"], "default": "get_body",
                                   "enum": ["get_body", "get_query", None]},
                    },
                    "post_fallback": {
                        "label": "POST fallback after repeated 5xx",
                        "description": "Re-send list filters as a POST JSON body when GET keeps failing with 5xx. "
                        "Off by default: on /clients and /events a POST creates records at QTickets, so turn it "
                        "on only when told the endpoint reads with POST.",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                },
            },
            {
                "connection-type": "qtickets_partners",
                "hook-class-name": "qtickets.hooks.partners.QticketsPartnersHook",
                "hook-name": "QTickets Partners API",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"password": "Partner key", "host": "Base URL"},
                    "placeholders": {"host": PARTNERS_BASE_URL, "password": "key issued by QTickets support"},
                },
                "conn-fields": dict(_HTTP_FIELDS),
            },
            {
                # Not "clickhouse": that type is the official apache-airflow-providers-clickhousedb's (HTTP).
                # Connections still typed "clickhouse" keep working with this hook (ADR 0009).
                "connection-type": "qtickets_clickhouse",
                "hook-class-name": "qtickets.hooks.clickhouse.ClickHouseHook",
                "hook-name": "ClickHouse (native or embedded)",
                "ui-field-behaviour": {
                    "relabeling": {"schema": "Database"},
                    "placeholders": {"host": "clickhouse.internal", "port": "9000",
                                     "schema": "zakaz", "login": "etl_writer"},
                },
                "conn-fields": {
                    "embedded_path": {
                        "label": "Embedded folder (chDB)",
                        "description": "When set, use the in-process engine (chDB) on this folder instead of a "
                        "server; host, port, login and password are then ignored. One process at a time.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "cluster": {
                        "label": "Cluster (ON CLUSTER)",
                        "description": "A cluster name from the servers' remote_servers (or {cluster}): the schema "
                        "is created ON CLUSTER with Replicated* engines, one shard fully replicated (ADR 0008). "
                        "Empty: one server.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "secure": {
                        "label": "TLS",
                        "description": "Connect over TLS (the server's secure native port, usually 9440).",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "verify": {
                        "label": "Verify the server certificate",
                        "description": "With TLS: check the server's certificate (turn off only for a "
                        "self-signed test server).",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "compression": {
                        "label": "Compression",
                        "description": "Compress data on the wire: lz4 or zstd (needs clickhouse-driver[lz4] or "
                        "[zstd], not in the lock file). Empty: off.",
                        "schema": {"type": ["string", "null"], "enum": ["lz4", "zstd", None],
                                   "values_display": {"null": "off", "lz4": "lz4", "zstd": "zstd"}},
                    },
                    "settings": {
                        "label": "ClickHouse settings",
                        "description": "Settings sent with every query, as a JSON object, e.g. "
                        '{"max_memory_usage": 10000000000}. Empty: none.',
                        "schema": {"type": ["object", "null"]},
                    },
                    "connect_timeout": _int_field("Connect timeout (s)", "Seconds to wait for the TCP/TLS "
                                                  "connection to the server.", 10),
                    "send_receive_timeout": _int_field(
                        "Send/receive timeout (s)", "Seconds a query may wait for the server to send or receive "
                        "data: a stuck query never hangs a task for long.", 120),
                    "sync_request_timeout": _int_field(
                        "Ping timeout (s)", "Seconds to wait for the server's answer to a ping before a query.", 5),
                    "lock_timeout": _int_field(
                        "Embedded folder wait (s)", "How long a task waits while another process uses the "
                        "embedded folder.", 600),
                    "pii_mode": {
                        "label": "Personal data",
                        "description": "hash (default): keyed hashes of e-mail/phone/barcode; clear: keep values.",
                        "schema": {"type": ["string", "null"], "default": "hash", "enum": ["hash", "clear", None]},
                    },
                    "pii_hash_key": {
                        "label": "PII hash key",
                        "description": "Required in hash mode. Keep it: a new key breaks joins with older rows.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "pii_key_version": _int_field(
                        "PII key version", "Number of the hash key, stored with the hashes; raise it when the key "
                        "changes.", 1),
                    "pii_allow_unkeyed": {
                        "label": "Allow unkeyed hashes (demo only)",
                        "description": "Hash mode without a key: the hashes can be reversed by brute force.",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                },
            },
        ],
    }
