"""The SNMP agent: a sans-IO MIB instrumentation (``tree``, ``mip_mib``,
``proxy_mib``, ``system_mib``, ``writes``) and the one module that imports
pysnmp (``server``)."""
