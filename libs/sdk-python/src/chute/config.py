"""Where the client finds the gateway: settings from arguments or the environment, resolved once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8080"
"""The gateway used when neither an argument nor ``CHUTE_GATEWAY_URL`` names one."""

GATEWAY_URL_ENV = "CHUTE_GATEWAY_URL"
TOKEN_ENV = "CHUTE_TOKEN"


@dataclass(frozen=True)
class ClientConfig:
    """The gateways to talk to (tried in turn) and the bearer token, if any."""

    gateway_urls: tuple[str, ...]
    token: str | None

    @classmethod
    def resolve(cls, gateway_url: str | Sequence[str] | None = None, token: str | None = None) -> ClientConfig:
        """Build the configuration from arguments, falling back to ``CHUTE_GATEWAY_URL`` and ``CHUTE_TOKEN``.

        ``gateway_url`` may be a comma-separated list (as the environment variable may be):
        workers rotate through it when they reconnect, clients when a gateway cannot be reached.
        """
        raw = gateway_url if gateway_url is not None else os.environ.get(GATEWAY_URL_ENV) or DEFAULT_GATEWAY_URL
        parts = raw.split(",") if isinstance(raw, str) else list(raw)
        urls = tuple(u.strip().rstrip("/") for u in parts if u.strip())
        if not urls:
            raise ValueError(f"no gateway URL in {raw!r}")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"gateway URL must start with http:// or https://, got {url!r}")
        resolved_token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        return cls(gateway_urls=urls, token=resolved_token)

    def auth_headers(self) -> dict[str, str]:
        """The ``Authorization`` header when a token is configured."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def websocket_url(base: str, path: str) -> str:
    """``http(s)://host/prefix`` + path, as a ``ws(s)://`` URL."""
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + path
    return "ws://" + base[len("http://") :] + path
