"""rtnetlink for code running on an asyncio event loop.

pyroute2 (0.9) implements its synchronous ``IPRoute`` on an asyncio loop of its
own, which it cannot run in a thread whose loop is already running (the
agent's): "This event loop is already running". ``ThreadedNetlink`` keeps one
``IPRoute`` on a dedicated worker thread and calls it synchronously from any
thread. The caller blocks for the call (tens to hundreds of microseconds per
request), which is what the engines' synchronous event callbacks want: when
``DataPlane.handle`` returns, the kernel has the route."""

from __future__ import annotations

import types
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyroute2 import IPRoute


def _materialise(result: Any) -> Any:
    return list(result) if isinstance(result, types.GeneratorType) else result


class ThreadedNetlink:
    def __init__(self, *, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="netlink")
        self._netlink: Any = self._executor.submit(IPRoute).result(timeout)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            return _materialise(getattr(self._netlink, name)(*args, **kwargs))

        return self._executor.submit(run).result(self._timeout)

    def link(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("link", *args, **kwargs)

    def link_lookup(self, **kwargs: Any) -> list[int]:
        return list(self._call("link_lookup", **kwargs))

    def get_links(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("get_links", *args, **kwargs)

    def route(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("route", *args, **kwargs)

    def get_routes(self, **kwargs: Any) -> Any:
        return self._call("get_routes", **kwargs)

    def rule(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("rule", *args, **kwargs)

    def get_rules(self, **kwargs: Any) -> Any:
        return self._call("get_rules", **kwargs)

    def neigh(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("neigh", *args, **kwargs)

    def close(self) -> None:
        try:
            self._executor.submit(self._netlink.close).result(self._timeout)
        finally:
            self._executor.shutdown(wait=True)
