"""NETCONF server (RFC 6241 over SSH, RFC 6242): sans-IO framing and sessions,
operations on the datastore, and the asyncssh adapter."""
