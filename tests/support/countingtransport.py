"""An httpx transport over the real network that counts the body bytes the client pulled off the wire, so a
test can tell a body that was refused early from one that was read whole."""

from __future__ import annotations

import httpx

__all__ = ["CountingTransport"]


class CountingTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that counts the body bytes the client actually pulled off the wire."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.received = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        owner = self

        class Counted(httpx.AsyncByteStream):
            async def __aiter__(self):
                async for chunk in response.stream:
                    owner.received += len(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await response.stream.aclose()

        return httpx.Response(
            response.status_code, headers=response.headers, stream=Counted(), extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self.inner.aclose()
