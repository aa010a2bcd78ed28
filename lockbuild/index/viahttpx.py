"""Requests through an httpx transport: a proxy's (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY),
which httpx's own transports carry, or a test's in-memory one.

Imported only once a request goes through one (httpx's import is the cost the direct
path avoids). Requests and responses are translated between net.py's types and httpx's,
and httpx's errors into net.py's of the same name, raised from httpx's so that the
cause under them (what ``fetcher.network_reason`` reads) is kept.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from lockbuild.index import net

# One pool per proxy: httpcore's HTTP/2 is unsafe across the worker threads (a KeyError
# seen in its stream bookkeeping), so HTTP/1.1 with this many connections.
LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16)


def translated(exc: BaseException) -> BaseException:
    """net.py's error of the same name as httpx's ``exc`` (or its nearest base class);
    ``exc`` itself when it is none of httpx's request errors."""
    for kind in type(exc).__mro__:
        ours = getattr(net, kind.__name__, None)
        if isinstance(ours, type) and issubclass(ours, (net.HTTPError, net.InvalidURL)):
            made: BaseException = ours(str(exc))
            return made
    return exc


class _Body:
    """An httpx response's body, decoded by httpx, its errors translated."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._response.iter_bytes()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise translated(exc) from exc

    def close(self) -> None:
        self._response.close()


class HttpxTransport:
    """net.Transport over ``inner``, an httpx transport."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: net.Request) -> net.Response:
        try:
            sent = httpx.Request(
                request.method,
                str(request.url),
                headers=request.headers.raw,
                extensions=request.extensions,
            )
            answer = self.inner.handle_request(sent)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise translated(exc) from exc
        answer.request = sent
        return net.Response(
            answer.status_code,
            headers=answer.headers.multi_items(),
            stream=_Body(answer),
            decoded=True,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()


def proxy_transport(proxy: str, verify: str | bool) -> HttpxTransport:
    """A transport through ``proxy`` (its URL), trusting ``verify`` for HTTPS."""
    return HttpxTransport(
        httpx.HTTPTransport(proxy=proxy, verify=verify, trust_env=True, limits=LIMITS)
    )
