"""The data path of Mobile IPv4: IP-in-IP tunnels (RFC 2003), the routes and
proxy ARP entries that steer a mobile node's traffic into them (RFC 5944
§4.2-§4.6), and reverse tunnels (RFC 3024). Only this package imports pyroute2
(DESIGN.md rule 5); the engines never see it."""
