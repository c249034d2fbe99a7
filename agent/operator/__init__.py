"""Operator tooling: ``proxymip show | clear | watch | events | config diff``.

The Cisco IOS ``show ip mobile ...`` / ``clear ip mobile ...`` / ``debug ip
mobile`` of this product, spoken as NETCONF (RFC 6241 over SSH, RFC 6242) to a
local or remote agent, so every command works over the network and goes
through the agent's authentication (and, once it exists, its access control).

* ``settings``: where the agent is and who we are (flags, environment,
  ``cli.toml``).
* ``protocol``: the NETCONF client session, sans-IO (hello, framing, replies,
  notifications).
* ``transport``: the asyncssh adapter and the operations the commands use.
* ``data``: subtree filters and the agent's XML as RFC 7951 JSON (libyang).
* ``views``: what each ``show`` asks for, and its rows and filters.
* ``render``: tables and the Cisco-style text, pure functions.
* ``actions``: ``clear``, ``watch``, ``events``; ``config_diff``: offline diff.
* ``commands``: the argparse wiring and the one place errors become exit codes.
"""
