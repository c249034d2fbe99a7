"""ProxyMIP: a Mobile IPv4 (RFC 5944) agent playing proxy/AP, foreign agent and home agent."""

__version__ = "0.1.0"
