"""The YANG schema core: the ``proxy-mobile-ip`` module's libyang context and
location (``context``), the validator (``validator``), what a libyang failure
is in RFC 7950 terms (``violations``) and the error-tags and errors it maps to
(``errors``). ``agent.datastore`` and ``agent.config`` both build on it; it
imports neither (``tests/unit/test_import_layers.py``)."""
