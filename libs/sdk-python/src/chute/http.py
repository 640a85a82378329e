"""A small JSON client for the gateway's HTTP API, with typed errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from chute.config import ClientConfig
from chute.errors import ChuteApiError

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def api_error(status: int, body: bytes) -> ChuteApiError:
    """The typed error for a gateway answer that is not a success (``{code, message}`` when it is one of ours)."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("code"), str) and isinstance(parsed.get("message"), str):
        return ChuteApiError(status, parsed["code"], parsed["message"])
    snippet = body[:200].decode("utf-8", "replace")
    return ChuteApiError(status, "HTTP_ERROR", f"gateway answered {status}: {snippet}")


class GatewayHttp:
    """Sends JSON requests to the first reachable gateway of the configuration.

    A gateway that refuses the connection is skipped for the next one: the request never
    reached it, so sending it elsewhere cannot run anything twice. Any other failure is
    raised as :class:`~chute.errors.ChuteApiError`.

    A client is made per request: the SDK's sync wrappers run each call in a fresh event
    loop, and an ``httpx.AsyncClient``'s pool must not outlive its loop.
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._current = 0

    @property
    def base_url(self) -> str:
        """The gateway requests go to now."""
        return self.config.gateway_urls[self._current]

    def rotate(self) -> None:
        """Move on to the next gateway of the list."""
        self._current = (self._current + 1) % len(self.config.gateway_urls)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        accept: tuple[int, ...] = (200, 201, 202),
        http_timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> tuple[int, Any]:
        """Send one request and return its status and decoded JSON body."""
        headers = {"Accept": "application/json", **self.config.auth_headers()}
        content: bytes | None = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
        last: Exception | None = None
        for _ in self.config.gateway_urls:
            try:
                async with httpx.AsyncClient(timeout=http_timeout) as client:
                    response = await client.request(
                        method, self.base_url + path, content=content, params=params, headers=headers
                    )
            except httpx.ConnectError as error:
                last = error
                self.rotate()
                continue
            except httpx.HTTPError as error:
                raise ChuteApiError(0, "UNREACHABLE", f"{method} {path} failed: {error!r}") from error
            if response.status_code not in accept:
                raise api_error(response.status_code, response.content)
            try:
                return response.status_code, response.json() if response.content else None
            except ValueError as error:
                raise ChuteApiError(
                    response.status_code, "INVALID_RESPONSE", f"gateway answered {method} {path} with non-JSON"
                ) from error
        gateways = ", ".join(self.config.gateway_urls)
        raise ChuteApiError(0, "UNREACHABLE", f"no gateway reachable ({gateways}): {last!r}") from last
