"""Mobility security associations from RADIUS (Cisco ``aaa authorization
ipmobile``): the Cisco-AVPair parser, the sans-IO resolver and the pyrad
adapter."""
