"""Client detection on the access point: which stations associate and leave, and
their IP addresses. Parsers here are pure; the sockets live in ``agent.aio``."""
