"""agent.netconf.message_parser: the names a NETCONF peer invents are freed
(docs/security.md, fuzz finding 4: libxml2 interns every element and
attribute name into the parsing thread's dictionary, shared by all of that
thread's lxml parsers, and never removes one)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from lxml import etree

from agent.netconf.message_parser import MessageParser

ROOT = Path(__file__).parents[2]


def test_messages_are_parsed_off_the_calling_thread_by_a_worker_replaced_per_budget() -> None:
    parser = MessageParser(budget=1000)
    message = b'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1"><get/></rpc>'
    try:
        roots = [parser.parse(message) for _ in range(30)]  # 30 x 81 bytes
        assert all(root is not None and root[0].tag.endswith("}get") for root in roots)
        # 12 messages fit in 1,000 bytes: a new worker for the 13th and the 25th.
        assert parser.generations == 3
        with pytest.raises(etree.XMLSyntaxError):
            parser.parse(b"<rpc><unclosed></rpc>")
        # Parsed on the worker thread, not this one.
        assert any(t.name.startswith("netconf-parse") for t in threading.enumerate())
    finally:
        parser.close()


def test_a_tree_parsed_on_a_worker_serves_the_reply_built_on_this_thread() -> None:
    """lxml moves nodes between documents of different dictionaries: the
    <rpc>'s attributes copied onto a reply made in its document, content
    made on this thread appended, serialised intact after the worker ended."""
    parser = MessageParser(budget=1)
    rpc = parser.parse(b'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="7" '
                       b'xmlns:x="urn:x" x:fresh-name-1="v"><get/></rpc>')
    parser.parse(b"<next/>")  # a new worker: the first one ends
    parser.close()
    assert rpc is not None
    reply = rpc.makeelement("{urn:ietf:params:xml:ns:netconf:base:1.0}rpc-reply",
                            nsmap={None: "urn:ietf:params:xml:ns:netconf:base:1.0",
                                   "x": "urn:x"})
    for name, value in rpc.attrib.items():
        reply.set(name, value)
    reply.append(etree.Element("{urn:ietf:params:xml:ns:netconf:base:1.0}ok"))
    del rpc
    text = etree.tostring(reply)
    assert b'message-id="7"' in text and b'x:fresh-name-1="v"' in text and b"<ok/>" in text


_GROWTH = textwrap.dedent("""
    import gc
    import sys
    from lxml import etree
    from agent.netconf.message_parser import MessageParser, safe_xml_parser

    def rss_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

    def message(i):
        return (f'<rpc xmlns="urn:x" message-id="{i}"><n{i:08d}x a{i:08d}="1"/></rpc>').encode()

    def malformed(i):
        return (f'<rpc xmlns="urn:x" message-id="{i}"><n{i:08d}x a{i:08d}="1"></rpc>').encode()

    gc.disable()  # what the names hold must be freed without the cyclic GC
    count = int(sys.argv[2])
    make = malformed if sys.argv[3] == "malformed" else message
    if sys.argv[1] == "worker":
        parser = MessageParser()
        parse = parser.parse
    else:
        one = safe_xml_parser()
        parse = lambda data: etree.fromstring(data, one)

    def feed(data):
        try:
            parse(data)
        except etree.XMLSyntaxError:
            pass
    feed(make(-1))
    before = rss_kib()
    for i in range(count):
        feed(make(i))
    print(rss_kib() - before)
""")


def _growth(mode: str, count: int, messages: str = "well-formed") -> int:
    result = subprocess.run([sys.executable, "-c", _GROWTH, mode, str(count), messages],
                            cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    return int(result.stdout.split()[-1])


def test_fresh_names_do_not_grow_the_process() -> None:
    """100,000 messages with two new names each: on one thread the process
    grows by the dictionary (~6 MiB here); through MessageParser the
    dictionaries die with their workers (the same run: a fraction)."""
    on_one_thread = _growth("one-thread", 100_000)
    through_workers = _growth("worker", 100_000)
    print(f"RSS growth: one thread {on_one_thread} KiB, workers {through_workers} KiB")
    assert on_one_thread > 4096
    assert through_workers < on_one_thread / 3


_SESSION_GROWTH = textwrap.dedent("""
    import sys
    from lxml import etree
    from agent.netconf.errors import BASE_NS, RpcError
    from agent.netconf.framing import END_OF_MESSAGE, Framer, FramingMode
    from agent.netconf.session import BASE_1_1, NetconfSession

    def rss_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

    def handler(operation, info):
        raise RpcError("operation-not-supported", "no", error_type="protocol")

    def message(i):
        # A fresh attribute name on <rpc> (copied onto the <rpc-reply>,
        # RFC 6241 §4.2) and a fresh operation name.
        return (f'<rpc xmlns="{BASE_NS}" xmlns:x="urn:x" message-id="{i}" x:a{i:08d}="1">'
                f'<n{i:08d}x xmlns="urn:y"/></rpc>').encode()

    count = int(sys.argv[2])
    if sys.argv[1] == "session":
        session = NetconfSession(7, [BASE_1_1], handler, max_message_size=1 << 20)
        framer = Framer(max_message_size=1 << 20)
        session.start()
        session.receive_data(f'<hello xmlns="{BASE_NS}"><capabilities><capability>{BASE_1_1}'
                             '</capability></capabilities></hello>'.encode() + END_OF_MESSAGE)
        framer.mode = FramingMode.CHUNKED
        def send(i):
            frames = session.receive_data(framer.encode(message(i)))
            assert b"operation-not-supported" in b"".join(frames), frames
    else:
        def send(i):
            root = etree.fromstring(message(i))
            reply = etree.Element("{%s}rpc-reply" % BASE_NS)
            for name, value in root.attrib.items():
                reply.set(name, value)
    send(-1)
    before = rss_kib()
    for i in range(count):
        send(i)
    print(rss_kib() - before)
""")


def test_a_session_fed_fresh_names_does_not_grow_the_process() -> None:
    """The session parses through MessageParser and builds each <rpc-reply>
    in the <rpc>'s own document: 100,000 messages each with a new operation
    name and a new attribute on <rpc> grow the process by a fraction of
    what the same messages parsed and answered on one thread do (same run)."""
    def growth(mode: str) -> int:
        result = subprocess.run([sys.executable, "-c", _SESSION_GROWTH, mode, "100000"],
                                cwd=ROOT, capture_output=True, text=True, timeout=300,
                                check=True)
        return int(result.stdout.split()[-1])

    on_one_thread = growth("one-thread")
    session = growth("session")
    print(f"RSS growth: one thread {on_one_thread} KiB, session {session} KiB")
    assert on_one_thread > 4096
    assert session < on_one_thread / 3


def test_malformed_messages_with_fresh_names_do_not_grow_the_process() -> None:
    """Most fuzzed messages are not well-formed: the XMLSyntaxError must not
    carry the worker's parser (and so its dictionary) in a traceback, where
    only the cyclic GC (off here) would free it."""
    on_one_thread = _growth("one-thread", 100_000, "malformed")
    through_workers = _growth("worker", 100_000, "malformed")
    print(f"RSS growth: one thread {on_one_thread} KiB, workers {through_workers} KiB")
    assert on_one_thread > 4096
    assert through_workers < on_one_thread / 3



_REQUEST_GROWTH = textwrap.dedent("""
    import copy
    import gc
    import sys
    from dataclasses import dataclass
    from agent.datastore.store import Datastore
    from agent.netconf.errors import BASE_NS, RpcError
    from agent.netconf.message_parser import MESSAGES
    from agent.netconf.nmda import DATASTORES_NS, NMDA_NS
    from agent.netconf.operations import Operations
    from agent.schema.context import yang_dir

    NS = "urn:proxymip:params:xml:ns:yang:proxy-mobile-ip"

    @dataclass(frozen=True)
    class Session:
        session_id: int = 1
        username: str | None = None

    def rss_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

    def rpc(i, body):
        return (f'<rpc xmlns="{BASE_NS}" message-id="{i}">{body}</rpc>').encode()

    def edit_config(i):
        # <config> content naming a leaf the schema does not know.
        return rpc(i, f'<edit-config><target><running/></target><config>'
                      f'<mobile-ip xmlns="{NS}"><u{i:08d}x>1</u{i:08d}x></mobile-ip>'
                      '</config></edit-config>')

    def get_data(i):
        # A subtree filter (RFC 8526 §3.1.1) naming an element the schema does not know.
        return rpc(i, f'<get-data xmlns="{NMDA_NS}" xmlns:ds="{DATASTORES_NS}">'
                      '<datastore>ds:running</datastore><subtree-filter>'
                      f'<mobile-ip xmlns="{NS}"><u{i:08d}x/></mobile-ip>'
                      '</subtree-filter></get-data>')

    gc.disable()  # what the names hold must be freed without the cyclic GC
    datastore = Datastore()
    operations = Operations(datastore, yang_dir=yang_dir())
    mode, request = sys.argv[1], {"edit-config": edit_config, "get-data": get_data}[sys.argv[2]]
    if mode == "operations":
        def handle(i):
            try:
                reply = operations(MESSAGES.parse(request(i))[0], Session())
            except RpcError as error:
                assert error.tag == "unknown-element", error
            else:
                assert reply is not None and len(reply) == 0, reply
    else:
        def handle(i):
            # What the operation did before: the request's content copied on this thread.
            copy.deepcopy(MESSAGES.parse(request(i))[0])
    handle(-1)
    before = rss_kib()
    for i in range(int(sys.argv[3])):
        handle(i)
    print(rss_kib() - before)
    operations.close()
    datastore.close()
""")


@pytest.mark.parametrize("request_kind", ["edit-config", "get-data"])
def test_requests_naming_fresh_elements_do_not_grow_the_process(request_kind: str) -> None:
    """lxml gives a document the dictionary of the thread that makes it, and
    a node copied or moved into it has its names interned there. The loop's
    thread must not do that with request content: an <edit-config>'s
    <config> (RFC 6241 §7.2) is walked as a deep copy, a <get-data>'s
    subtree filter (RFC 8526 §3.1.1) moves into the <get-config> it is read
    as. 100,000 of them, each naming a new element, through the real
    Operations grow the process by a fraction of what the same content
    copied on this thread does (same run; docs/security.md, "Second run")."""
    def growth(mode: str) -> int:
        result = subprocess.run([sys.executable, "-c", _REQUEST_GROWTH, mode, request_kind,
                                 "100000"], cwd=ROOT, capture_output=True, text=True,
                                timeout=600, check=True)
        return int(result.stdout.split()[-1])

    copied_here = growth("copy-on-this-thread")
    through_operations = growth("operations")
    print(f"RSS growth: copied on this thread {copied_here} KiB, "
          f"Operations {through_operations} KiB")
    assert copied_here > 3072
    assert through_operations < copied_here / 3
