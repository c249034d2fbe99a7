"""``proxymip clear ...``, ``proxymip watch`` and ``proxymip events``: what
they ask the agent and what they tell the operator. The agent's RPCs
(``clear-binding``, ``clear-visitor``, ``clear-counters``, ``clear-subnet-map``) do the work; their
``cleared`` output is what the confirmation reports.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import TextIO

from lxml import etree

from agent.netconf.errors import MODULE_NS
from agent.netconf.notifications import INTERLEAVE_1_0
from agent.operator import render
from agent.operator.data import Decoder, drop_secrets, notification_fields, subtree
from agent.operator.errors import NotFound, NotOffered, UsageError
from agent.operator.transport import NetconfClient
from agent.operator.views import ROLES, STATE_MIRROR, roles, stale_notice

_MAC = re.compile(r"^[0-9a-f]{2}([:-])(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}$")
_CISCO_MAC = re.compile(r"^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$")
_ROLE_TEXT = {"home-agent": "home agent", "foreign-agent": "foreign agent", "proxy": "proxy"}


def parse_visitor(text: str) -> tuple[str, str]:
    """("mac", aa:bb:..) or ("home-address", a.b.c.d); MACs may be written
    with colons, dashes or Cisco's dotted triplets."""
    lowered = text.strip().lower()
    if _MAC.match(lowered):
        return "mac", lowered.replace("-", ":")
    if _CISCO_MAC.match(lowered):
        digits = lowered.replace(".", "")
        return "mac", ":".join(digits[i:i + 2] for i in range(0, 12, 2))
    try:
        return "home-address", str(IPv4Address(lowered))
    except ValueError:
        raise UsageError(f"{text!r} is neither an IPv4 home address nor a MAC address") from None


def parse_address(text: str) -> str:
    try:
        return str(IPv4Address(text.strip()))
    except ValueError:
        raise UsageError(f"{text!r} is not an IPv4 address") from None


# -- clear -----------------------------------------------------------------------------


async def clear_binding(client: NetconfClient, address: str | None) -> str:
    parameters = {"home-address": parse_address(address)} if address else {}
    cleared = _count(await client.rpc("clear-binding", parameters))
    if address:
        if cleared == 0:
            raise NotFound(f"no binding for {parameters['home-address']} on {client.settings.where}")
        return f"Cleared {_plural(cleared, 'binding')} of {parameters['home-address']}"
    return f"Cleared {_plural(cleared, 'binding')}"


async def clear_visitor(client: NetconfClient, decoder: Decoder, target: str) -> str:
    kind, value = parse_visitor(target)
    if kind == "mac":
        cleared = _count(await client.rpc("clear-visitor", {"mac": value}))
        if cleared == 0:
            raise NotFound(f"no visitor {value} on {client.settings.where}")
        return f"Cleared proxy visitor {value}"
    # A home address names a foreign agent visitor directly; a proxy client is
    # named by its MAC (the RPC's choice), so look the address up first.
    selection = {**ROLES,
                 "foreign-agent-state": {"visitor": {"home-address": value}},
                 "proxy-state": {"visitor": {"home-address": value, "mac": None}}}
    top = await client.get(subtree(selection))
    content = decoder.content(drop_secrets(top) if top is not None else None)
    running = roles(content)
    if "foreign-agent" not in running and "proxy" not in running:
        raise NotOffered(f"{client.settings.where} runs {', '.join(running) or 'no role'}: "
                         "visitors are kept by foreign agents and proxy access points")
    done: list[str] = []
    if content.get("foreign-agent-state", {}).get("visitor") and _count(
            await client.rpc("clear-visitor", {"home-address": value})):
        done.append(f"foreign agent visitor {value}")
    for visitor in content.get("proxy-state", {}).get("visitor", []):
        if visitor.get("home-address") == value and _count(
                await client.rpc("clear-visitor", {"mac": visitor["mac"]})):
            done.append(f"proxy visitor {visitor['mac']} ({value})")
    if not done:
        raise NotFound(f"no visitor with home address {value} on {client.settings.where}")
    return "Cleared " + ", ".join(done)


async def clear_counters(client: NetconfClient, decoder: Decoder, role: str) -> str:
    top = await client.get(subtree(ROLES))
    running = roles(decoder.content(top))
    if role != "all" and role not in running:
        raise NotOffered(f"{client.settings.where} runs {', '.join(running) or 'no role'}, "
                         f"not the {_ROLE_TEXT[role]} role")
    await client.rpc("clear-counters", {"role": role})
    affected = running if role == "all" else [role]
    if not affected:
        return "No role is running: no counters to clear"
    return "Cleared the counters of the " + ", ".join(_ROLE_TEXT[r] for r in affected)


async def clear_subnet_map(client: NetconfClient, prefix: str | None) -> str:
    parameters: dict[str, str] = {}
    if prefix:
        try:
            parameters["prefix"] = str(IPv4Network(prefix.strip(), strict=False))
        except ValueError:
            raise UsageError(f"{prefix!r} is not an IPv4 prefix") from None
    cleared = _count(await client.rpc("clear-subnet-map", parameters))
    if prefix:
        if cleared == 0:
            raise NotFound(f"no subnet-map entry {parameters['prefix']} on {client.settings.where}")
        return f"Cleared subnet-map entry {parameters['prefix']} (running; startup unchanged)"
    entries = "entry" if cleared == 1 else "entries"
    return f"Cleared {cleared} subnet-map {entries} (running; startup unchanged)"


def _count(output: dict[str, str]) -> int:
    try:
        return int(output.get("cleared", "0"))
    except ValueError:
        return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


# -- watch -------------------------------------------------------------------------------

WATCH_SELECTION = {
    **ROLES,
    "home-agent-state": {"binding": None, "counters": None},
    "foreign-agent-state": {"visitor": None, "pending": None, "counters": None},
    "proxy-state": {"visitor": None, "counters": None},
    **STATE_MIRROR,
}
#: After a notification, how long further ones are gathered before redrawing.
_SETTLE = 0.1


@dataclass
class Screen:
    out: TextIO
    #: Redraw in place (a terminal) or print frames one after another (a pipe).
    in_place: bool
    size: Callable[[], tuple[int, int]]


async def watch(client: NetconfClient, decoder: Decoder, screen: Screen, *, interval: float,
                count: int | None) -> None:
    # Notifications need :interleave: (RFC 5277 §6) to keep reading on the same
    # session; without it the screen is refreshed by periodic reads only.
    live_notifications = client.offers_notifications and INTERLEAVE_1_0 in client.capabilities
    if live_notifications:
        await client.subscribe()
    events: deque[str] = deque(maxlen=6)
    if live_notifications:
        mode = "notifications + reads"
    elif client.offers_notifications:
        mode = "periodic reads (notifications offered without :interleave:)"
    else:
        mode = "periodic reads (no notifications offered)"
    live = _LiveScreen(screen) if screen.in_place else None
    try:
        await _watch_frames(client, decoder, screen, live, interval=interval, count=count,
                            notifications=live_notifications, mode=mode, events=events)
    finally:
        if live is not None:
            live.close()


class _LiveScreen:
    """In-place redraws on a terminal, by rich's Live display (it moves the
    cursor back over the previous frame and erases only what it drew)."""

    def __init__(self, screen: Screen) -> None:
        from rich.console import Console
        from rich.live import Live

        width, height = screen.size()
        self.console = Console(file=screen.out, force_terminal=True, width=width, height=height,
                               highlight=False, soft_wrap=False)
        self.live = Live(console=self.console, auto_refresh=False, transient=False,
                         redirect_stdout=False, redirect_stderr=False,
                         vertical_overflow="crop")
        self.live.start()

    def show(self, text: str) -> None:
        from rich.text import Text

        self.live.update(Text(text), refresh=True)

    def close(self) -> None:
        self.live.stop()


async def _watch_frames(client: NetconfClient, decoder: Decoder, screen: Screen,
                        live_screen: _LiveScreen | None, *, interval: float, count: int | None,
                        notifications: bool, mode: str, events: deque[str]) -> None:
    live = notifications
    frames = 0
    loop = asyncio.get_running_loop()
    while count is None or frames < count:
        top = await client.get(subtree(WATCH_SELECTION))
        content = decoder.content(drop_secrets(top) if top is not None else None)
        width, height = screen.size()
        header = (f"proxymip watch {client.settings.where}  every {interval:g} s  {mode}  "
                  f"{time.strftime('%H:%M:%S')}")
        notice = stale_notice(content)
        if notice is not None:
            header += "\n" + notice
        text = render.render_watch(content, header=header, events=list(events),
                                   width=width, height=height)
        if live_screen is not None:
            live_screen.show(text)
        else:
            screen.out.write(text + "\n\n")
            screen.out.flush()
        frames += 1
        if count is not None and frames >= count:
            return
        if not live:
            await asyncio.sleep(interval)
            continue
        deadline = loop.time() + interval
        message = await client.next_notification(max(0.0, deadline - loop.time()))
        while message is not None:
            events.append(render.event_line(*notification_fields(message)))
            message = await client.next_notification(_SETTLE)


# -- events ------------------------------------------------------------------------------

#: --kind -> the module's notifications.
EVENT_KINDS: dict[str, tuple[str, ...]] = {
    "binding": ("binding-created", "binding-deleted"),
    "visitor": ("visitor-added", "visitor-removed"),
    "client": ("client-registered", "client-registration-failed", "client-deregistered"),
    "denial": ("registration-denied", "client-registration-failed"),
    "auth-failure": ("authentication-failure",),
}


#: Seconds without a notification after which a small read keeps the session
#: alive (the agent's idle-timeout counts channel data only; its default is 3600 s).
KEEPALIVE = 300.0
_KEEPALIVE_SELECTION = {"security-violations": {"total": None}}


def event_selection(kinds: Sequence[str]) -> list[etree._Element]:
    """RFC 5277 subtree filter: one select node per wanted notification."""
    names: list[str] = []
    for kind in kinds:
        names += [n for n in EVENT_KINDS[kind] if n not in names]
    return [etree.Element(f"{{{MODULE_NS}}}{name}", nsmap={None: MODULE_NS}) for name in names]


async def events(client: NetconfClient, *, kinds: Sequence[str], count: int | None,
                 duration: float | None, as_json: bool, out: TextIO, err: TextIO) -> int:
    """Stream notifications, one line each; the number printed."""
    if not client.offers_notifications:
        raise NotOffered(f"{client.settings.where} does not offer NETCONF notifications "
                         "(RFC 5277 :notification capability); 'proxymip watch' falls back "
                         "to periodic reads")
    await client.subscribe(event_selection(kinds) if kinds else None)
    wanted = ", ".join(kinds) if kinds else "all"
    print(f"proxymip: listening for {wanted} notifications from {client.settings.where} "
          "(Ctrl-C stops)", file=err, flush=True)
    loop = asyncio.get_running_loop()
    deadline = None if duration is None else loop.time() + duration
    printed = 0
    while count is None or printed < count:
        remaining = None if deadline is None else deadline - loop.time()
        if remaining is not None and remaining <= 0:
            break
        wait = KEEPALIVE if remaining is None else min(KEEPALIVE, remaining)
        message = await client.next_notification(wait)
        if message is None:
            if remaining is None or remaining > KEEPALIVE:
                # The agent closes a session without traffic for its
                # idle-timeout: a quiet network must not end the stream.
                await client.get(subtree(_KEEPALIVE_SELECTION))
            continue
        when, name, leaves = notification_fields(message)
        if as_json:
            print(json.dumps({"event-time": when, "notification": name, **leaves}), file=out,
                  flush=True)
        else:
            print(render.event_line(when, name, leaves), file=out, flush=True)
        printed += 1
    return printed
