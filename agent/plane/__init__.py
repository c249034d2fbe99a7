"""The boundary between the management plane and the control plane (issue 14).

Protocol v1, not yet wired into ``proxymip run``: ``docs/architecture.md``,
section "The plane boundary", is the specification.

- ``tables``: the operational tables carried by the state stream (one
  declaration of each table's columns and key).
- ``messages``: the message types and their frozen dataclasses.
- ``codec``: length-prefixed msgpack frames, strict decoding.
- ``session``: sans-IO sessions of both ends (hello, configuration
  transactions, RPCs, the state stream), on virtual time.
- ``stream``: the control plane's producer (sequence numbers, delta batches,
  the resynchronisation in chunks under a time budget).
- ``mirror``: the management plane's operational mirror.
- ``rows`` (control plane): engine records -> rows, the engines' tables as
  row sources, engine events -> deltas (home agent so far).
- ``render`` (management plane): mirror rows -> the YANG state lists, as
  ``agent/operational.py`` renders them today (home agent bindings so far).
- ``aio``: the thin asyncio adapter (Unix stream socket).
- ``supervisor``: two child processes, one READY, restarts with backoff.
"""
