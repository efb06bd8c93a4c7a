"""Small helpers shared by the sandbox tests (HTTP calls with the sandbox token, shape extraction)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import requests

from sandbox import SandboxServer

# Sub-objects whose inner layout is free-form (seat maps, descriptions): compared only at the top.
OPAQUE = {"scheme_properties"}


def rest(server: SandboxServer, method: str, path: str, *, token: str | None = None, **kw: Any) -> requests.Response:
    """Call the sandbox REST API over its real socket."""
    headers = {"Authorization": f"Bearer {token if token is not None else server.token}", **kw.pop("headers", {})}
    return requests.request(method, server.rest_url + path, headers=headers, timeout=10, **kw)


def shape(items: list[dict[str, Any]], prefix: str = "", out: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """Map each key path (``.baskets[].price``) to the set of JSON value type names seen there."""
    out = defaultdict(set) if out is None else out
    for obj in items:
        for key, value in obj.items():
            path = f"{prefix}.{key}"
            out[path].add(type(value).__name__)
            if isinstance(value, dict) and key not in OPAQUE:
                shape([value], path, out)
            elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
                shape(value, path + "[]", out)
    return out


def compare_shapes(real: dict[str, set[str]], fake: dict[str, set[str]], *,
                   optional: set[str] = frozenset(), extra_types: dict[str, set[str]] | None = None) -> list[str]:
    """Differences between a capture's shape and the sandbox's (empty list = same contract)."""
    extra_types = extra_types or {}
    problems = []
    for path in sorted(set(real) - set(fake) - optional):
        problems.append(f"missing in sandbox: {path} {sorted(real[path])}")
    for path in sorted(set(fake) - set(real) - optional):
        problems.append(f"not in the capture: {path} {sorted(fake[path])}")
    for path in sorted(set(real) & set(fake)):
        allowed = real[path] | extra_types.get(path, set())
        if not fake[path] <= allowed:
            problems.append(f"type mismatch at {path}: sandbox {sorted(fake[path])} vs capture {sorted(real[path])}")
    return problems
