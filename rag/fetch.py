"""Fetching knowledge-base URLs without becoming a way into the internal network.

Every request (and every redirect hop, followed here by hand) is checked before it is made:
http(s) only; the host must be one the ingestion allows (the source's own host, plus
`KB_ALLOWED_HOSTS`); and every address the host resolves to must be public — loopback,
private ranges, link-local (cloud metadata at 169.254.169.254 included), shared, reserved
and multicast addresses are refused unless `KB_ALLOW_PRIVATE_URLS` is on. Bodies are read as
a stream and cut off at `KB_MAX_DOCUMENT_BYTES`.

What this cannot stop: a DNS answer that changes between the check and httpx's own lookup
(rebinding) — the window is one request long.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

MAX_REDIRECTS = 5


class FetchRefused(ValueError):
    """A URL the ingestion will not fetch, with the reason."""


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    body: bytes
    content_type: str | None


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def _addresses(host: str, port: int) -> list[str]:
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchRefused(f"cannot resolve {host}: {exc}") from None
    return sorted({str(info[4][0]) for info in infos})


class SafeFetcher:
    """GETs URLs for ingestion under the checks above."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        allow_private: bool = False,
        max_bytes: int = 20 * 1024 * 1024,
        extra_hosts: Iterable[str] = (),
    ) -> None:
        self.http = http
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.extra_hosts = {h.strip().lower() for h in extra_hosts if h.strip()}

    async def check(self, url: str, *, hosts: set[str]) -> None:
        """Raise `FetchRefused` unless `url` may be fetched."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchRefused(f"only http(s) URLs can be ingested: {url}")
        host = host_of(url)
        if host not in hosts | self.extra_hosts:
            raise FetchRefused(f"{host} is not the source's host (KB_ALLOWED_HOSTS adds hosts)")
        if self.allow_private:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        for address in await _addresses(host, port):
            if not _public(address):
                raise FetchRefused(
                    f"{host} resolves to the internal address {address} "
                    "(KB_ALLOW_PRIVATE_URLS=true allows it)"
                )

    async def get(self, url: str, *, hosts: set[str]) -> Fetched:
        """The body of `url` (redirects followed within `hosts`), at most `max_bytes`."""
        for _ in range(MAX_REDIRECTS + 1):
            await self.check(url, hosts=hosts)
            async with self.http.stream("GET", url, follow_redirects=False) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                response.raise_for_status()
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchRefused(f"{url} is larger than {self.max_bytes} bytes")
                body = bytearray()
                async for piece in response.aiter_bytes():
                    body += piece
                    if len(body) > self.max_bytes:
                        raise FetchRefused(f"{url} is larger than {self.max_bytes} bytes")
                return Fetched(url, bytes(body), response.headers.get("content-type"))
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects from {url}")
