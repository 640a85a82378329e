"""A small JSON client for the gateway's HTTP API (on aiohttp), with typed errors and pooled connections."""

from __future__ import annotations

import json
import urllib.request
import weakref
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from chute._sessions import LoopSessions
from chute._sync import SyncLoop
from chute.config import ClientConfig
from chute.errors import ChuteApiError

T = TypeVar("T")


def http_timeout(read: float | None) -> aiohttp.ClientTimeout:
    """Connecting is bounded (10 s), and so is each wait for the gateway's next bytes (``read``; ``None``: forever).

    There is no overall timeout: a stream lasts as long as its run does. Nor is there one on
    waiting for a free connection: past the pool's limit a request waits for one (as the
    limit intends) rather than failing while its gateway is healthy.
    """
    return aiohttp.ClientTimeout(total=None, connect=None, sock_connect=10.0, sock_read=read)


DEFAULT_TIMEOUT = http_timeout(30.0)

POOL_SIZE = 1000
"""Connections of one event loop's pool.

Each waiting ``aio_run`` holds a connection for as long as its run takes (a long poll), so
the pool is sized for a thousand concurrent calls, not aiohttp's default of 100.
"""
KEEPALIVE_SECONDS = 15.0
"""An idle connection is closed after this, well before the gateway's own keep-alive timeout
(72 s), so a request is not sent on a connection the gateway is closing."""


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

    Connections are pooled and reused, one ``aiohttp.ClientSession`` per event loop
    (:class:`~chute._sessions.LoopSessions`): making a client per request, as this SDK once
    did with httpx, costs tens of milliseconds of CPU. Blocking calls (:meth:`run_sync`)
    all run on one loop thread, so they share one pool as well.

    aiohttp rather than httpx: against a local stub, one request costs about 0.25 ms of
    CPU with aiohttp's pool, 1-1.5 ms with httpx's, and 3-5 ms with httpx's once 100
    requests are in flight (its pool scans every connection, twice per request).
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._current = 0
        self._headers = {"Accept": "application/json", **config.auth_headers()}
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self._proxies = {url: env_proxy(url) for url in config.gateway_urls}
        self._sessions = LoopSessions(_new_session)
        # Sessions still open when this client is dropped are closed in their loops. Not at
        # exit: the loops are gone or stopped by then.
        weakref.finalize(self, self._sessions.close_soon).atexit = False
        self._sync = SyncLoop()

    @property
    def base_url(self) -> str:
        """The gateway requests go to now."""
        return self.config.gateway_urls[self._current]

    def proxy_for(self, base_url: str) -> str | None:
        """The proxy requests to ``base_url`` (one of the configured gateways) go through, if any."""
        return self._proxies[base_url]

    def rotate(self) -> None:
        """Move on to the next gateway of the list."""
        self._current = (self._current + 1) % len(self.config.gateway_urls)

    def run_sync(self, coro: Coroutine[Any, Any, T], async_name: str) -> T:
        """Run ``coro`` to its end from synchronous code and return its result.

        Refuses (rather than blocking the loop, or deadlocking on it) when called from a
        coroutine: there the caller must ``await`` the ``aio_`` variant, named in the error.
        """
        return self._sync.run(coro, async_name)

    async def client(self) -> aiohttp.ClientSession:
        """The running loop's session, made at the loop's first request."""
        return await self._sessions.get()

    async def aclose(self) -> None:
        """Close the running loop's pool; a later request opens a new one."""
        await self._sessions.aclose()

    def close(self) -> None:
        """Close the pool of the blocking calls and stop their loop thread; a later call starts them again."""
        self._sync.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        accept: tuple[int, ...] = (200, 201, 202),
        http_timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> tuple[int, Any]:
        """Send one request and return its status and decoded JSON body."""
        headers = self._headers
        content: bytes | None = None
        if body is not None:
            headers = self._json_headers
            content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
        client = await self.client()
        last: Exception | None = None
        for _ in self.config.gateway_urls:
            try:
                base = self.base_url
                async with client.request(
                    method,
                    base + path,
                    data=content,
                    params=params,
                    headers=headers,
                    timeout=http_timeout,
                    proxy=self.proxy_for(base),
                ) as response:
                    status, raw = response.status, await response.read()
            except aiohttp.ClientConnectorError as error:
                last = error
                self.rotate()
                continue
            except (aiohttp.ClientError, TimeoutError) as error:
                raise ChuteApiError(0, "UNREACHABLE", f"{method} {path} failed: {error!r}") from error
            if status not in accept:
                raise api_error(status, raw)
            try:
                return status, json.loads(raw) if raw else None
            except ValueError as error:
                raise ChuteApiError(
                    status, "INVALID_RESPONSE", f"gateway answered {method} {path} with non-JSON"
                ) from error
        gateways = ", ".join(self.config.gateway_urls)
        raise ChuteApiError(0, "UNREACHABLE", f"no gateway reachable ({gateways}): {last!r}") from last


def env_proxy(url: str) -> str | None:
    """The HTTP proxy the environment names for ``url``, if any, as httpx read it.

    ``HTTP_PROXY``/``HTTPS_PROXY`` (else ``ALL_PROXY``), unless ``NO_PROXY`` excludes the
    host. aiohttp only speaks to HTTP proxies: any other kind is not used.
    """
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or not proxy.startswith(("http://", "https://")) or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def _new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=POOL_SIZE, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS),
        timeout=DEFAULT_TIMEOUT,
        # The gateway sets no cookies: no jar to consult on every request.
        cookie_jar=aiohttp.DummyCookieJar(),
        # Not trust_env: it looks the proxy and ~/.netrc up in a thread on every request (two
        # thread hops per request); the proxy is looked up once instead (env_proxy).
    )
