"""RFC 7950 §15 errors as a real client sees them: ncclient over SSH against the
agent, edits that break a unique, a must and a mandatory choice. Each reply is
an <rpc-error> with the RFC's error-tag, error-app-tag and error-info (RFC 6241
Appendix A), and nothing is changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.interop.netconf_agent import nc_connect, running_agent

NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"
YANG_NS = "urn:ietf:params:xml:ns:yang:1"
BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"


def config(body: str) -> str:
    return f'<config xmlns="{BASE_NS}"><mobile-ip xmlns="{NS}">{body}</mobile-ip></config>'


def interfaces(*names: str) -> str:
    return "<proxy>" + "".join(
        f"<interface><name>{name}</name><hostapd-control-path>/run/hostapd/shared"
        "</hostapd-control-path></interface>" for name in names) + "</proxy>"


def test_yang_violations_reach_the_client_with_rfc_7950_tags(tmp_path: Path) -> None:
    from ncclient.operations.rpc import RPCError

    with running_agent(tmp_path, clients=2) as agent:
        session = nc_connect(agent)
        try:
            before = session.get_config(source="running").data_xml
            # §15.1: unique -> operation-failed, data-not-unique, <non-unique> per leaf.
            with pytest.raises(RPCError) as caught:
                session.edit_config(target="running", config=config(interfaces("wlan0", "wlan1")))
            error = caught.value
            assert (error.tag, error.app_tag) == ("operation-failed", "data-not-unique")
            xml = etree.fromstring(error.xml if isinstance(error.xml, bytes) else
                                   etree.tostring(error.xml))
            non_unique = xml.findall(f"{{{BASE_NS}}}error-info/{{{YANG_NS}}}non-unique")
            assert sorted(e.text for e in non_unique) == [
                f"/proxy-mobile-ip:mobile-ip/proxy-mobile-ip:proxy/proxy-mobile-ip:interface"
                f"[proxy-mobile-ip:name='{name}']/proxy-mobile-ip:hostapd-control-path"
                for name in ("wlan0", "wlan1")]
            assert all(e.nsmap.get("proxy-mobile-ip") == NS for e in non_unique)
            # §15.4: a must with its own error-app-tag.
            with pytest.raises(RPCError) as caught:
                session.edit_config(target="running", config=config(
                    "<proxy><retransmit><initial>5</initial><maximum>1</maximum></retransmit></proxy>"))
            assert (caught.value.tag, caught.value.app_tag) == (
                "operation-failed", "retransmit-interval-inconsistent")
            # §15.6: a host SA with no key: data-missing, missing-choice, <missing-choice>.
            with pytest.raises(RPCError) as caught:
                session.edit_config(target="running", config=config(
                    "<security><host><address>192.0.2.200</address><spi>4000</spi></host></security>"))
            error = caught.value
            assert (error.tag, error.app_tag) == ("data-missing", "missing-choice")
            xml = etree.fromstring(etree.tostring(error.xml) if not isinstance(error.xml, bytes)
                                   else error.xml)
            assert xml.findtext(f"{{{BASE_NS}}}error-info/{{{YANG_NS}}}missing-choice") == "key-format"
            assert session.get_config(source="running").data_xml == before
        finally:
            session.close_session()
