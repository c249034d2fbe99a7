"""The YANG datastore between the management front ends and the engines (NMDA,
RFC 8342): running, candidate, startup (persisted) and operational, with
validated transactions, locks and change subscriptions."""
