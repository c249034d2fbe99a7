"""Parsing the peer's NETCONF messages so that the names it invents are freed.

libxml2 interns every element and attribute name it parses into a string
dictionary, and lxml gives all the parsers of one thread the same dictionary
(so trees from different parsers can share nodes): a new parser per session,
or per message, changes nothing. Names are never removed from a dictionary;
it is freed when nothing references it any more, which for a thread's
dictionary means after the thread has ended and every document parsed in it
is gone. On the event loop's thread, which lives as long as the agent, an
authenticated peer sending fresh names grew the agent without bound
(docs/security.md, fuzz finding 4: ~16 MiB per 100,000 mutated messages,
~63 bytes per new name).

So messages are parsed on one worker thread, replaced by a new one after it
has parsed ``budget`` bytes: what a peer's names can hold is bounded by the
budget (plus the documents still alive), and freed with the old thread. The
caller waits for the result, as it waited for the parse before: the
session stays synchronous (sans-IO); only the thread that runs libxml2 moves.
lxml supports using a tree on another thread than the one that parsed it
(a worker thread's dictionary is a sub-dictionary of the main thread's, and
nodes moved between documents with different dictionaries have their names
looked up again).

The same holds for copies: lxml gives a deep copy's new document the
*copying* thread's dictionary, so a copy of request content made on the event
loop's thread interns the peer's names there for good (docs/security.md,
"Second run": ~52 B per ``<edit-config>`` naming an unknown leaf). Content
that must be copied goes through ``MessageParser.copy``, which copies on the
same worker.

The cost is one hand-over between threads per message, measured by
``tools/bench/netconf_parse_bench.py`` against parsing on the calling thread.
"""

from __future__ import annotations

import concurrent.futures
import copy
import threading
from collections.abc import Callable
from typing import TypeVar

from lxml import etree

#: Bytes of messages one worker thread parses before it is replaced. The
#: names in 1 MiB of XML hold at most a few MiB of dictionary (a name costs
#: ~63 bytes beside the few bytes of its shortest tag).
DEFAULT_BUDGET = 1024 * 1024


def safe_xml_parser() -> etree.XMLParser:
    """An lxml parser that never loads a DTD, resolves no entity and touches
    no network; libxml2's amplification and depth limits stay on."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True,
                           remove_pis=True)


_worker_state = threading.local()

_Result = TypeVar("_Result")
_Argument = TypeVar("_Argument")


def _parse_on_worker(message: bytes) -> etree._Element | etree.XMLSyntaxError | None:
    # The parser is the worker's own: made on this thread, it dies with it.
    parser: etree.XMLParser | None = getattr(_worker_state, "parser", None)
    if parser is None:
        parser = _worker_state.parser = safe_xml_parser()
    try:
        root: etree._Element | None = etree.fromstring(message, parser)
    except etree.XMLSyntaxError as exc:
        # Returned without its traceback: the traceback's frame holds this
        # thread's parser, which holds its dictionary: a failed message must
        # not keep a retired thread's names alive until the cyclic GC runs.
        exc.__traceback__ = None
        return exc
    return root


def _copy_on_worker(elements: list[etree._Element]) -> list[etree._Element]:
    return [copy.deepcopy(element) for element in elements]


class MessageParser:
    """Parses messages on a worker thread replaced every ``budget`` bytes.
    Thread-safe (every server of the process may share one); raises what
    ``etree.fromstring`` raises (``XMLSyntaxError``)."""

    def __init__(self, *, budget: int = DEFAULT_BUDGET) -> None:
        if budget < 1:
            raise ValueError("budget must be positive")
        self.budget = budget
        self._lock = threading.Lock()
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._spent = 0
        #: Worker threads started so far (for tests and the benchmark).
        self.generations = 0

    def parse(self, message: bytes) -> etree._Element | None:
        outcome = self._on_worker(_parse_on_worker, message, len(message))
        if isinstance(outcome, etree.XMLSyntaxError):
            try:
                raise outcome
            finally:
                del outcome
        return outcome

    def copy(self, elements: list[etree._Element]) -> list[etree._Element]:
        """Deep copies of ``elements``, each in a new document made on the
        worker (one hand-over for all), so the names they hold are interned in
        the worker's dictionary, not the caller's. Not charged to the budget:
        their names are those of a message already charged (a worker holds at
        most its own budget's names and its predecessor's)."""
        return self._on_worker(_copy_on_worker, elements, 0)

    def _on_worker(self, work: Callable[[_Argument], _Result], argument: _Argument,
                   cost: int) -> _Result:
        with self._lock:
            if self._worker is None or self._spent >= self.budget:
                if self._worker is not None:
                    # Its queue holds only work already being waited for.
                    self._worker.shutdown(wait=False)
                self._worker = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="netconf-parse")
                self._spent = 0
                self.generations += 1
            self._spent += cost
            future = self._worker.submit(work, argument)
        outcome = future.result()
        del future  # it holds the outcome: no cycle through this frame
        return outcome

    def close(self) -> None:
        """Let the worker thread end (a later parse starts a new one)."""
        with self._lock:
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None


#: The process's parser of NETCONF messages.
MESSAGES = MessageParser()
