"""Hook for the QTickets Partners API (partner key): ticket search.

Errors arrive as HTTP 200 bodies ``{"status": "error", "code": ...}`` and are raised as typed errors.
Transport, settings and retries are :class:`~qtickets.hooks._api.QticketsApiHook`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qtickets.exceptions import QticketsAuthError, QticketsError, QticketsPartnersError
from qtickets.hooks._api import QticketsApiHook, _api_value, _json_text
from qtickets.hooks._http import preview, sanitize_url
from qtickets.redaction import redact

if TYPE_CHECKING:
    from qtickets.replay import Replay


class QticketsPartnersHook(QticketsApiHook):
    """Call the QTickets Partners API v1 with the partner key of an Airflow connection.

    :param qtickets_partners_conn_id: Airflow connection id (Host = ``https://qtickets.ru/api/partners/v1``,
        Password = partner key issued by QTickets support).
    :param sleep: function used to wait between retries.
    :param clock: monotonic clock that measures a request's retry budget.
    :param replay: answer from saved responses (:class:`~qtickets.replay.Replay`) instead of the network.
    """

    conn_name_attr = "qtickets_partners_conn_id"
    default_conn_name = "qtickets_partners_default"
    conn_type = "qtickets_partners"
    hook_name = "QTickets Partners API"
    api = "partners"

    def __init__(
        self,
        *,
        qtickets_partners_conn_id: str = default_conn_name,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        replay: Replay | None = None,
    ) -> None:
        super().__init__(qtickets_partners_conn_id, sleep=sleep, clock=clock, replay=replay)
        self.qtickets_partners_conn_id = qtickets_partners_conn_id

    def _partners_call(self, endpoint: str, body: dict[str, Any]) -> Any:
        payload = self._request("POST", endpoint, body=body)
        url = sanitize_url(self._url(endpoint))
        if not isinstance(payload, dict) or "status" not in payload:
            raise self._envelope_error(
                endpoint,
                f"Partners /{endpoint}: expected {{'status': ..., 'result': ...}}, got {type(payload).__name__}",
                payload,
            )
        if payload["status"] == "success":
            return payload.get("result")
        # Redacted before they are cut: a cut secret would no longer match.
        code = redact(str(payload.get("code") or "UNKNOWN_ERROR"))[:100]
        message = redact(str(payload.get("message") or ""))[:300]
        body_text = preview(_json_text(payload))
        # Match the message too: the vendor's code is the documented signal, but the text is as stable
        # (and the anonymised capture in ../shared has its code rewritten).
        if code == "WRONG_AUTHORIZATION" or message.strip().lower() == "wrong authorization":
            raise QticketsAuthError(
                f"Partners API refused the key ({message}); put the partner key issued by QTickets "
                f"support (not the organiser REST token) in connection {self.qtickets_partners_conn_id!r}",
                status=200, code=code, url=url, body_preview=body_text,
            )
        raise QticketsPartnersError(
            f"Partners /{endpoint} failed: {code} {message}", status=200, code=code, url=url,
            body_preview=body_text,
        )

    def find_tickets(
        self, filter: dict, *, event_id: int | None = None, show_id: int | None = None  # noqa: A002
    ) -> list[dict]:
        """Tickets this partner added, matching ``filter`` (``id``, ``barcode``, ``external_id`` ...).

        :raises QticketsAuthError: ``WRONG_AUTHORIZATION`` (no retry).
        :raises QticketsPartnersError: any other ``status: error``.
        """
        if show_id is not None and event_id is None:
            raise ValueError("find_tickets: show_id needs event_id (path tickets/find/{event_id}/{show_id})")
        endpoint = "tickets/find"
        if event_id is not None:
            endpoint += f"/{int(event_id)}"
            if show_id is not None:
                endpoint += f"/{int(show_id)}"
        result = self._partners_call(endpoint, {"filter": _api_value(filter)})
        if result is None:
            return []
        if not isinstance(result, list):
            raise self._envelope_error(
                endpoint, f"Partners /{endpoint}: expected a list in `result`, got {type(result).__name__}", result
            )
        return result

    def test_connection(self) -> tuple[bool, str]:
        """Check host and key with a read-only ``tickets/find`` for a ticket id that cannot exist."""
        try:
            self.find_tickets({"id": ["0"]})
        except QticketsError as exc:
            return False, str(exc)
        return True, f"Connected to {sanitize_url(self.settings.base_url)}: partner key accepted"
