"""URL ingestion cannot be turned against the network it runs in: internal addresses are
refused unless allowed, redirects stay on the source's host, sizes and sitemap loops are
bounded. A real HTTP server on loopback plays the web site (the tests allow private
addresses to reach it, except where they prove that the default refuses them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from rag.fetch import FetchRefused
from rag.ingest import _discover, fetcher_for
from rag.settings import KBSettings
from tests.fakes.background import BackgroundServer

pytestmark = pytest.mark.timeout(60)

ALLOW_LOOPBACK = KBSettings(allow_private_urls=True, max_document_bytes=64 * 1024)


def _site() -> Starlette:
    def sitemap(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        body = (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{base}/sitemap.xml</loc></url>"  # lists itself
            f"<url><loc>{base}/sub.xml</loc></url>"
            f"<url><loc>{base}/a.html</loc></url>"
            "</urlset>"
        )
        return Response(body, media_type="application/xml")

    def sub(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        body = (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{base}/sitemap.xml</loc></url>"  # and back
            f"<url><loc>{base}/b.html</loc></url><url><loc>{base}/a.html</loc></url>"
            "</urlset>"
        )
        return Response(body, media_type="application/xml")

    def page(request: Request) -> Response:
        return Response(f"<h1>{request.url.path}</h1><p>text</p>", media_type="text/html")

    def moved(request: Request) -> Response:
        return RedirectResponse("/a.html", status_code=301)

    def elsewhere(request: Request) -> Response:
        port = request.url.port
        return RedirectResponse(f"http://localhost:{port}/a.html", status_code=302)

    def metadata(request: Request) -> Response:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)

    def big(request: Request) -> Response:
        return Response(b"x" * (200 * 1024), media_type="text/plain")

    def endless(request: Request) -> StreamingResponse:
        async def forever() -> AsyncIterator[bytes]:
            while True:
                yield b"y" * 8192
                await asyncio.sleep(0)

        return StreamingResponse(forever(), media_type="text/plain")

    return Starlette(
        routes=[
            Route("/sitemap.xml", sitemap),
            Route("/sub.xml", sub),
            Route("/a.html", page),
            Route("/b.html", page),
            Route("/moved", moved),
            Route("/elsewhere", elsewhere),
            Route("/metadata", metadata),
            Route("/big.txt", big),
            Route("/endless.txt", endless),
        ]
    )


@pytest.fixture(scope="module")
def site() -> Iterator[BackgroundServer]:
    with BackgroundServer(_site(), name="fake web site") as server:
        yield server


async def fetch_all(url: str, settings: KBSettings) -> list[tuple[str, bytes]]:
    """Discover `url` as ingestion does and fetch every document it names."""
    async with httpx.AsyncClient(timeout=10) as http:
        _, items, _ = await _discover(url, fetcher_for(http, settings), settings)
        return [(item.identity, (await item.fetch())[0]) for item in items]


async def test_loopback_private_and_metadata_addresses_are_refused_by_default(
    site: BackgroundServer,
) -> None:
    for url in (
        f"{site.base_url}/a.html",
        f"http://localhost:{site.port}/a.html",  # a name that resolves to loopback
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://[::1]:9/",
    ):
        with pytest.raises(FetchRefused, match="internal address"):
            await fetch_all(url, KBSettings())


async def test_a_sitemap_that_lists_itself_ends_with_each_page_once(
    site: BackgroundServer,
) -> None:
    fetched = await asyncio.wait_for(fetch_all(f"{site.base_url}/sitemap.xml", ALLOW_LOOPBACK), 30)
    assert sorted(url for url, _ in fetched) == [
        f"{site.base_url}/a.html",
        f"{site.base_url}/b.html",
    ]


async def test_redirects_stay_on_the_sources_host(site: BackgroundServer) -> None:
    [(_, body)] = await fetch_all(f"{site.base_url}/moved", ALLOW_LOOPBACK)
    assert b"/a.html" in body
    with pytest.raises(FetchRefused, match="not the source's host"):
        await fetch_all(f"{site.base_url}/elsewhere", ALLOW_LOOPBACK)
    # Another host may be allowed by name; a redirect to metadata is still not followed.
    allowing = ALLOW_LOOPBACK.model_copy(update={"allowed_hosts": "localhost"})
    [(_, body)] = await fetch_all(f"{site.base_url}/elsewhere", allowing)
    assert b"/a.html" in body
    with pytest.raises(FetchRefused):
        await fetch_all(f"{site.base_url}/metadata", ALLOW_LOOPBACK)


async def test_responses_over_the_size_cap_are_refused(site: BackgroundServer) -> None:
    with pytest.raises(FetchRefused, match="larger than"):
        await fetch_all(f"{site.base_url}/big.txt", ALLOW_LOOPBACK)
    # Without a Content-Length, reading stops at the cap rather than at the end.
    with pytest.raises(FetchRefused, match="larger than"):
        await asyncio.wait_for(fetch_all(f"{site.base_url}/endless.txt", ALLOW_LOOPBACK), 30)
