# PYTHON_ARGCOMPLETE_OK
"""The ``proxymip`` command.

``proxymip demo``               HA + FA on loopback with sample mobile nodes (embedded default)
``proxymip run --startup FILE`` run the roles a startup configuration enables
``proxymip lab``                HA, two FAs, two proxy APs on loopback with simulated clients
``proxymip client associate ...`` inject a client event; ``proxymip state`` read state
``proxymip config validate FILE``  ``proxymip config diff FILE``
``proxymip show | clear | watch | events``  operator commands over NETCONF
(``agent.operator``; see docs/operator-guide.md)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING

from agent import __version__
from agent.config.loader import ConfigError, build_config, load_config
from agent.config.model import Endpoint
from agent.datastore.errors import DatastoreError

if TYPE_CHECKING:
    from agent.aio.service import ServiceNotifier
    from agent.datastore.edits import Edit
    from agent.datastore.store import Datastore

log = logging.getLogger("proxymip")


def _endpoint(text: str) -> Endpoint:
    host, _, port = text.rpartition(":")
    try:
        return Endpoint(IPv4Address(host or "0.0.0.0"), int(port))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected ADDRESS:PORT, got {text!r}") from exc


def _warn_about_mode(path: Path) -> None:
    """``config validate`` checks a file where it is edited, often before it is
    installed: a mode ``run`` would refuse is a warning here, not a failure."""
    from agent.schema.startup_file import mode_problem, read_startup

    try:
        text, mode = read_startup(path)
    except (OSError, UnicodeDecodeError):
        return  # load_config has just read it; a race is not this check's business
    problem = mode_problem(mode, text)
    if problem is not None:
        print(f"proxymip: warning: {path}: {problem}; `proxymip run` refuses it", file=sys.stderr)


async def _run(args: argparse.Namespace) -> int:
    from agent.aio.service import ServiceNotifier
    from agent.datastore.edits import Edit, Operation
    from agent.datastore.paths import parse_path
    from agent.datastore.store import RUNNING, Datastore
    from agent.datastore.tree import to_json
    from agent.live_config import bind
    from agent.runtime import Agent

    # A SIGHUP before the reload handler is in place must not kill a start
    # that takes seconds (100,000 SAs); systemd queues reloads until READY=1.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    path: Path = args.startup
    if path.suffix.lower() not in (".json", ".xml"):
        raise ConfigError(str(path), "unknown file type (expected .json or .xml)")
    # The file is the startup datastore: copy-config running -> startup
    # rewrites it atomically (RFC 6241 §8.7 :startup), in its own encoding
    # (RFC 7951 JSON or RFC 7950 XML).
    datastore = Datastore(startup_file=path)
    # Command-line endpoints are running-only changes (never written to startup).
    overrides: list[Edit] = []
    for flag, role in ((args.ha_listen, "home-agent"), (args.fa_listen, "foreign-agent")):
        if flag is not None and role in to_json(datastore.snapshot(RUNNING).effective):
            overrides.append(Edit(Operation.MERGE, parse_path(f"/mobile-ip/{role}/listen"),
                                  {"address": str(flag.address), "port": flag.port}))
    if args.home_agent_port is not None and "foreign-agent" in to_json(datastore.snapshot(RUNNING).effective):
        overrides.append(Edit(Operation.MERGE, parse_path("/mobile-ip/foreign-agent"),
                              {"home-agent-port": args.home_agent_port}))
    if overrides:
        datastore.edit(RUNNING, overrides)
    config = build_config(to_json(datastore.snapshot(RUNNING).effective))
    agent = Agent(config, control_socket=args.control_socket, datastore=datastore,
                  state_dir=str(path.resolve().parent))
    # Type=notify under systemd (sd_notify(3)); None when started otherwise.
    notifier = ServiceNotifier.from_environment()
    await agent.start()
    bind(agent, config, datastore)
    datastore.register_provider(agent.operational)
    # Full collections over 100,000s of records stall the loop for 100-500 ms
    # (docs/performance.md, proxy section): freeze the long-lived state.
    from agent.aio.gc_policy import LongLivedStateGc

    gc_policy = LongLivedStateGc()
    gc_policy.start()
    # Signal handlers first: whoever reads "ready" may stop us at once.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload_startup, datastore, overrides, notifier)
    # One machine-readable line so that supervisors and tests know we are up;
    # the same moment, READY=1 to the service manager.
    ready = {name: f"{host}:{port}" for name, (host, port) in agent.endpoints().items()}
    print("ready " + json.dumps(ready, sort_keys=True), flush=True)
    if notifier is not None:
        notifier.ready("serving " + " ".join(f"{k}={v}" for k, v in sorted(ready.items())))
        notifier.start_watchdog(loop)
    try:
        while not stop.is_set():
            try:
                async with asyncio.timeout(args.status_interval):
                    await stop.wait()
            except TimeoutError:
                _say("counters " + json.dumps(agent.counters(), sort_keys=True))
    finally:
        if notifier is not None:
            notifier.stopping()
        loop.remove_signal_handler(signal.SIGHUP)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # no reload, no death, while stopping
        _say("counters " + json.dumps(agent.counters(), sort_keys=True))
        await gc_policy.stop()
        await agent.close()
        datastore.close()
        if notifier is not None:
            notifier.close()
        # Stopped: a late SIGTERM/SIGINT (a second one, or the lab's death
        # signal) is ignored. Left to asyncio, it would arrive while
        # asyncio.run closes the loop, whose self-pipe is closed before its
        # signal handlers are removed: "Exception ignored when trying to write
        # to the signal wakeup fd" on stderr (seen in the lab-killed test).
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
    return 0


def _run_two_planes(args: argparse.Namespace) -> int:
    from agent.plane.two_planes import run_two_planes

    unsupported = [flag for flag, value in (("--ha-listen", args.ha_listen), ("--fa-listen", args.fa_listen),
                                            ("--home-agent-port", args.home_agent_port),
                                            ("--status-interval", args.status_interval))
                   if value is not None]
    if unsupported:
        print(f"proxymip: {', '.join(unsupported)} not supported with --planes two "
              "(edit the startup file instead)", file=sys.stderr)
        return 2
    # Refuse what the one-process run refuses (an unknown file type, a file
    # libyang rejects, keys readable by others) before any child starts.
    from agent.datastore.store import Datastore

    if args.startup.suffix.lower() not in (".json", ".xml"):
        raise ConfigError(str(args.startup), "unknown file type (expected .json or .xml)")
    Datastore(startup_file=args.startup).close()
    return asyncio.run(run_two_planes(args.startup, control_socket=args.control_socket))


def _say(line: str) -> None:
    """A line on stdout for whoever started us; a reader that went away (a
    lab parent that died) must not cut the orderly stop short."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        pass


def _reload_startup(datastore: Datastore, overrides: list[Edit],
                    notifier: ServiceNotifier | None) -> None:
    """SIGHUP (``systemctl reload``): the startup file into running as one
    transaction, as ``copy-config`` startup -> running (RFC 6241 §7.3); an
    unreadable or invalid file, or a veto, leaves running as it was."""
    if notifier is not None:
        notifier.reloading()
    try:
        changes = datastore.reload_startup(running_overrides=overrides)
    except DatastoreError as exc:
        where = f"{exc.path}: " if exc.path else ""
        log.error("reload of the startup file refused, running unchanged: %s%s", where, exc.message)
    else:
        log.info("startup file reloaded into running: %d changes", len(changes))
    if notifier is not None:
        notifier.ready()


def _control_command(args: argparse.Namespace) -> int:
    from agent.aio.control import request

    if args.command == "state":
        payload: dict[str, object] = {"op": "state"}
    else:
        payload = {"op": args.action, "mac": args.mac}
        if args.address:
            payload["address"] = args.address
        if args.interface:
            payload["interface"] = args.interface
    try:
        answer = asyncio.run(request(args.socket, payload))
    except OSError as exc:  # the connect's error does not name the socket
        print(f"proxymip: cannot reach the control socket {args.socket}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    if "error" in answer:
        print(f"proxymip: {answer['error']}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="proxymip", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="HA + FA on loopback with sample mobile nodes")
    demo.add_argument("--clients", type=int, default=3)
    demo.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    demo.add_argument("--lifetime", type=int, default=30)

    run = sub.add_parser("run", help="run the roles a startup configuration enables")
    run.add_argument("--startup", type=Path, required=True, help="RFC 7951 JSON or XML instance")
    run.add_argument("--ha-listen", type=_endpoint, help="override home agent ADDRESS:PORT")
    run.add_argument("--fa-listen", type=_endpoint, help="override foreign agent ADDRESS:PORT")
    run.add_argument("--home-agent-port", type=int, help="UDP port the FA relays to (default 434)")
    run.add_argument("--status-interval", type=float, default=None, help="print counters every S seconds")
    run.add_argument("--control-socket", help="serve the local control channel (JSON lines) here")
    run.add_argument("--planes", choices=("one", "two"), default="one",
                     help="two: the management plane (datastore, NETCONF, SNMP, control channel) "
                          "and the control plane (engines) as two supervised processes")

    lab = sub.add_parser("lab", help="HA, two FAs and two proxy APs on loopback with simulated clients")
    lab.add_argument("--clients", type=int, default=10)
    lab.add_argument("--once", action="store_true", help="run the scenario once and exit")
    lab.add_argument("--keep", action="store_true", help="keep the generated configs and logs")

    client = sub.add_parser("client", help="inject a client event into a running proxy")
    client.add_argument("action", choices=["associate", "disassociate", "address"])
    client.add_argument("--socket", required=True, help="the agent's control socket")
    client.add_argument("--mac", required=True)
    client.add_argument("--address", help="the client's IP address")
    client.add_argument("--interface", help="interface / SSID it associated on")

    state = sub.add_parser("state", help="print a running agent's operational state (JSON)")
    state.add_argument("--socket", required=True, help="the agent's control socket")

    config_cmd = sub.add_parser("config", help="configuration files")
    config_sub = config_cmd.add_subparsers(dest="config_command", required=True)
    validate = config_sub.add_parser("validate", help="validate a startup file against the YANG")
    validate.add_argument("file", type=Path)

    from agent.operator import commands as operator_commands

    operator_commands.add_parsers(sub, config_sub)

    if "_ARGCOMPLETE" in os.environ:
        # Shell completion (argcomplete): the shell runs us with _ARGCOMPLETE
        # set; this answers the candidates and exits. Imported only then.
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    from agent.journal import configure_logging

    configure_logging(logging.WARNING - 10 * min(args.verbose, 2), sys.stderr)
    if operator_commands.handles(args):
        return operator_commands.run(args)
    try:
        if args.command == "demo":
            from agent.aio.service import run_interruptible
            from agent.demo import run_demo

            # Ctrl-C or SIGTERM: the sample nodes deregister, the roles stop.
            run_interruptible(run_demo(clients=args.clients, duration=args.duration,
                                       lifetime=args.lifetime))
            return 0
        if args.command == "lab":
            from agent.lab import main_lab

            return main_lab(args.clients, args.once, args.keep)
        if args.command in ("client", "state"):
            return _control_command(args)
        if args.command == "config":
            load_config(args.file)
            print(f"{args.file}: valid")
            _warn_about_mode(args.file)
            return 0
        if args.planes == "two":
            return _run_two_planes(args)
        return asyncio.run(_run(args))
    except ConfigError as exc:
        print(f"proxymip: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except DatastoreError as exc:
        where = f"{exc.path}: " if exc.path else ""
        print(f"proxymip: invalid configuration: {where}{exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"proxymip: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
