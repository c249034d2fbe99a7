"""The operator commands' command line, and the one place where their errors
become a line on stderr and an exit status.

``proxymip show visitors | bindings | subnet-map | security-associations |
foreign-agents | tunnels | traffic | radius``, ``proxymip clear visitor |
binding | counters``, ``proxymip watch``, ``proxymip events`` and ``proxymip
config diff``. Exit statuses: 0 done, 1 the agent could not be reached or
refused (or the entry named does not exist), 2 bad usage or an invalid
configuration file, 3 the agent does not offer what the command needs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

from agent.operator.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, OperatorError
from agent.operator.views import VIEWS, VISITOR_STATES, RowFilter, View
from agent.schema.errors import ConfigError

COMMANDS = ("show", "clear", "watch", "events")
CLEAR_ROLES = ("all", "home-agent", "foreign-agent", "proxy")


# -- the command line ----------------------------------------------------------------


def _connection_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("agent connection (NETCONF over SSH)")
    group.add_argument("--agent", metavar="NAME",
                       help="an [agent.NAME] table of the configuration file")
    group.add_argument("--host", help="agent address (PROXYMIP_HOST; default 127.0.0.1)")
    group.add_argument("--port", type=int, help="NETCONF port (PROXYMIP_PORT; default 830)")
    group.add_argument("--user", help="user name (PROXYMIP_USER; default: your login name)")
    group.add_argument("--password",
                       help="password (PROXYMIP_PASSWORD; visible to 'ps': prefer the "
                            "environment or the file; none: SSH keys)")
    group.add_argument("--timeout", type=float, help="seconds per step (PROXYMIP_TIMEOUT; default 10)")
    group.add_argument("--no-host-key-check", dest="host_key_check", action="store_const",
                       const=False, default=None,
                       help="do not check the agent's SSH host key (labs only)")
    group.add_argument("--cli-config", type=Path, metavar="FILE",
                       help="settings file (PROXYMIP_CLI_CONFIG; default "
                            "~/.config/proxymip/cli.toml)")
    return parent


def add_parsers(sub: Any, config_sub: Any) -> None:
    """Add the operator commands to ``proxymip``'s subparsers (and ``diff`` to
    ``proxymip config``)."""
    connection = _connection_options()

    show = sub.add_parser("show", help="show agent state over NETCONF (as IOS 'show ip mobile')")
    views = show.add_subparsers(dest="view", required=True, metavar="WHAT")
    for view in VIEWS.values():
        parser = views.add_parser(view.name, help=view.help, parents=[connection])
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
        if view.name in ("bindings", "visitors"):
            parser.add_argument("--detail", action="store_true", help="one block per entry, as IOS")
        if "home-address" in view.filters:
            parser.add_argument("--home-address", metavar="ADDRESS[/LEN]",
                                help="only this home address or prefix")
        if "home-agent" in view.filters:
            parser.add_argument("--home-agent", metavar="ADDRESS", help="only this home agent")
        if "state" in view.filters:
            parser.add_argument("--state", choices=VISITOR_STATES, help="only visitors in this state")

    clear = sub.add_parser("clear", help="clear bindings, visitors, counters or subnet-map entries "
                                          "(as IOS 'clear ip mobile')")
    what = clear.add_subparsers(dest="clear_what", required=True, metavar="WHAT")
    visitor = what.add_parser("visitor", parents=[connection],
                              help="remove a visitor: FA entry by home address, proxy client by "
                                   "MAC or home address")
    visitor.add_argument("target", metavar="ADDRESS|MAC")
    binding = what.add_parser("binding", parents=[connection],
                              help="remove the home agent's bindings of one home address, or all")
    binding.add_argument("address", nargs="?", metavar="ADDRESS")
    counters = what.add_parser("counters", parents=[connection], help="reset a role's counters")
    counters.add_argument("role", nargs="?", default="all", choices=CLEAR_ROLES)
    subnet_map = what.add_parser("subnet-map", parents=[connection],
                                 help="remove subnet-map entries from running (one prefix, or all)")
    subnet_map.add_argument("prefix", nargs="?", metavar="PREFIX")

    watch = sub.add_parser("watch", parents=[connection],
                           help="live bindings, visitors and counters, refreshed in place")
    watch.add_argument("--interval", type=float, default=2.0, help="seconds between reads (default 2)")
    watch.add_argument("--count", type=int, help="stop after this many screens")

    events = sub.add_parser("events", parents=[connection],
                            help="stream notifications, one line each (as IOS 'debug ip mobile')")
    events.add_argument("--kind", action="append", default=[],
                        choices=("binding", "visitor", "client", "denial", "auth-failure"),
                        help="only these (repeatable; default: every notification)")
    events.add_argument("--count", type=int, help="stop after this many notifications")
    events.add_argument("--duration", type=float, help="stop after this many seconds")
    events.add_argument("--json", action="store_true", help="one JSON object per line")

    diff = config_sub.add_parser("diff", parents=[connection],
                                 help="what loading FILE into running would change (offline, YANG)")
    diff.add_argument("file", type=Path)
    diff.add_argument("--running", type=Path, metavar="FILE2",
                      help="compare with this file instead of the agent's running configuration")
    diff.add_argument("--json", action="store_true", help="the changes as JSON")
    diff.add_argument("--exit-code", action="store_true",
                      help="exit with 1 when there are changes (as 'git diff --exit-code')")


def handles(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS or (
        args.command == "config" and getattr(args, "config_command", None) == "diff")


# -- running ----------------------------------------------------------------------------


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one operator command; errors are one line on ``err``."""
    out = out or sys.stdout
    err = err or sys.stderr
    streaming = args.command in ("watch", "events")
    try:
        return asyncio.run(_dispatch(args, out, err))
    except OperatorError as exc:
        print(f"proxymip: {exc.message}", file=err)
        return exc.exit_status
    except ConfigError as exc:
        print(f"proxymip: invalid configuration: {exc}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK if streaming else 130
    except BrokenPipeError:
        # The reader went away (| head): nothing more to say, and nothing to
        # flush at exit either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


async def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "config":
        return await _config_diff(args, out)
    if args.command == "show":
        return await _with_agent(args, lambda client, decoder: _show(args, VIEWS[args.view], client,
                                                                     decoder, out))
    if args.command == "clear":
        return await _with_agent(args, lambda client, decoder: _clear(args, client, decoder, out))
    if args.command == "watch":
        return await _with_agent(args, lambda client, decoder: _watch(args, client, decoder, out))
    return await _with_agent(args, lambda client, decoder: _events(args, client, out, err))


def settings_for(args: argparse.Namespace) -> Any:
    from agent.operator.settings import resolve

    flags = {"host": args.host, "port": args.port, "user": args.user, "password": args.password,
             "timeout": args.timeout, "host-key-check": args.host_key_check}
    return resolve(flags=flags, environ=os.environ, agent=args.agent, config_file=args.cli_config)


async def _with_agent(args: argparse.Namespace,
                      body: Callable[[Any, Any], Coroutine[Any, Any, int]]) -> int:
    from agent.operator.data import Decoder
    from agent.operator.transport import connect

    settings = settings_for(args)
    with Decoder() as decoder:
        async with connect(settings) as client:
            return await body(client, decoder)


async def _show(args: argparse.Namespace, view: View, client: Any, decoder: Any, out: TextIO) -> int:
    from agent.operator.data import drop_secrets, subtree

    where = RowFilter.parse(home_address=getattr(args, "home_address", None),
                            home_agent=getattr(args, "home_agent", None),
                            state=getattr(args, "state", None))
    from agent.operator.views import STATE_MIRROR, stale_notice

    if view.operation == "get-config":
        top = await client.get_config(subtree(view.selection), with_defaults="report-all")
    else:
        top = await client.get(subtree({**view.selection, **STATE_MIRROR}))
    content = decoder.content(drop_secrets(top) if top is not None else None)
    report = view.build(content, where)
    notice = stale_notice(content)
    if args.json:
        if notice is not None:
            report = {**report, "stale": content["state-mirror"]}
        print(json.dumps(report, indent=2), file=out)
    else:
        if notice is not None:
            print(notice, file=out)
        print(view.render(report, getattr(args, "detail", False)), file=out)
    return EXIT_OK


async def _clear(args: argparse.Namespace, client: Any, decoder: Any, out: TextIO) -> int:
    from agent.operator import actions

    if args.clear_what == "binding":
        message = await actions.clear_binding(client, args.address)
    elif args.clear_what == "visitor":
        message = await actions.clear_visitor(client, decoder, args.target)
    elif args.clear_what == "subnet-map":
        message = await actions.clear_subnet_map(client, args.prefix)
    else:
        message = await actions.clear_counters(client, decoder, args.role)
    print(message, file=out)
    return EXIT_OK


async def _watch(args: argparse.Namespace, client: Any, decoder: Any, out: TextIO) -> int:
    from agent.operator import actions

    if args.interval <= 0:
        raise _usage("--interval must be positive")
    screen = actions.Screen(out=out, in_place=out.isatty(), size=_terminal_size)
    await actions.watch(client, decoder, screen, interval=args.interval, count=args.count)
    return EXIT_OK


async def _events(args: argparse.Namespace, client: Any, out: TextIO, err: TextIO) -> int:
    from agent.operator import actions

    await actions.events(client, kinds=args.kind, count=args.count, duration=args.duration,
                         as_json=args.json, out=out, err=err)
    return EXIT_OK


async def _config_diff(args: argparse.Namespace, out: TextIO) -> int:
    from agent.operator.config_diff import ConfigDiff, changes_json, render_changes

    with ConfigDiff() as differ:
        candidate = differ.from_file(args.file)
        if args.running is not None:
            running = differ.from_file(args.running)
            against = str(args.running)
        else:
            from agent.operator.transport import connect

            async with connect(settings_for(args)) as client:
                running = differ.from_running(await client.get_config())
                against = f"running on {client.settings.where}"
        changes = differ.changes(running, candidate)
    if args.json:
        print(json.dumps({"file": str(args.file), "against": against,
                          "changes": changes_json(changes)}, indent=2), file=out)
    else:
        print(render_changes(changes, file=str(args.file), against=against), file=out)
    return EXIT_FAILURE if args.exit_code and changes else EXIT_OK


def _terminal_size() -> tuple[int, int]:
    size = shutil.get_terminal_size((120, 40))
    return size.columns, size.lines


def _usage(message: str) -> OperatorError:
    from agent.operator.errors import UsageError

    return UsageError(message)
