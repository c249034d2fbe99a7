"""Configuration: the YANG module ``proxy-mobile-ip`` validated by libyang, turned
into the engines' settings records."""
