"""asyncio adapters: they move bytes between sockets and the sans-IO engines,
arm the one timer an engine asks for, and hand events on. No protocol decisions."""
