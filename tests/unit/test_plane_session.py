"""The plane boundary's sans-IO sessions on virtual time (h11's pair helper:
two engines joined by a fake link; no sockets, no sleeps)."""

from __future__ import annotations

import msgpack
import pytest

from agent.plane import codec
from agent.plane import messages as m
from agent.plane import session as s
from agent.plane.tables import TableId
from tests.unit.test_plane_codec import EVERY_MESSAGE

ENTRY = (m.ConfigChangeEntry(m.ChangeKind.MODIFIED, "/mobile-ip/home-agent/max-lifetime", 600, 300),)


class Pair:
    """A management and a control session joined by a lossless link."""

    def __init__(self, *, management_versions: tuple[int, ...] = (1,),
                 control_versions: tuple[int, ...] = (1,), **options: float) -> None:
        self.now = 0.0
        self.management = s.ManagementSession(epoch=1, pid=10, now=0.0,
                                              versions=management_versions,
                                              **{k: v for k, v in options.items() if k != "hold_timeout"})
        self.control = s.ControlSession(epoch=2, pid=20, now=0.0, versions=control_versions,
                                        **{k: v for k, v in options.items() if k == "hold_timeout"})
        self.exchange()

    def exchange(self) -> None:
        while True:
            to_control = self.management.data_to_send()
            to_management = self.control.data_to_send()
            if not to_control and not to_management:
                return
            self.control.receive_data(to_control, self.now)
            self.management.receive_data(to_management, self.now)

    def advance(self, to: float) -> None:
        self.now = to
        for side in (self.management, self.control):
            timer = side.get_timer()
            if timer is not None and timer <= to:
                side.handle_timer(to)
        self.exchange()


def events(session: s._Session) -> list[s.Event]:
    out = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


def established() -> Pair:
    pair = Pair()
    assert events(pair.management) == [s.SessionEstablished(1, 2, 20)]
    assert events(pair.control) == [s.SessionEstablished(1, 1, 10)]
    return pair


# -- hello --------------------------------------------------------------------------------


def test_highest_common_version_chosen() -> None:
    pair = Pair(management_versions=(1, 2, 3), control_versions=(1, 2))
    assert pair.management.version == pair.control.version == 2


def test_no_common_version_closes_both_with_a_reason() -> None:
    pair = Pair(management_versions=(2,), control_versions=(1,))
    for side in (pair.management, pair.control):
        assert side.state is s.SessionState.CLOSED
    closed = [e for e in events(pair.management) + events(pair.control) if isinstance(e, s.SessionClosed)]
    assert closed and all(e.tag is m.ErrorTag.OPERATION_NOT_SUPPORTED for e in closed)
    assert pair.management.counters.version_mismatch + pair.control.counters.version_mismatch >= 1


def test_first_message_must_be_a_hello() -> None:
    control = s.ControlSession(epoch=2, pid=20, now=0.0)
    control.receive_data(codec.encode(m.ConfigDone(1)), 0.0)
    assert control.state is s.SessionState.CLOSED
    assert control.counters.unexpected == 1


def test_same_role_refused() -> None:
    control = s.ControlSession(epoch=2, pid=20, now=0.0)
    control.receive_data(codec.encode(m.Hello((1,), m.PlaneRole.CONTROL, 3, 30)), 0.0)
    assert control.state is s.SessionState.CLOSED


def test_no_hello_in_time_closes() -> None:
    management = s.ManagementSession(epoch=1, pid=10, now=0.0)
    assert management.get_timer() == s.HELLO_TIMEOUT
    management.handle_timer(s.HELLO_TIMEOUT - 0.001)
    assert management.state is s.SessionState.AWAIT_HELLO
    management.handle_timer(s.HELLO_TIMEOUT)
    assert management.state is s.SessionState.CLOSED
    assert [e for e in events(management) if isinstance(e, s.SessionClosed)][0].tag is m.ErrorTag.RESOURCE_DENIED


# -- configuration transactions ----------------------------------------------------------------


def test_change_accepted_done_applied() -> None:
    pair = established()
    number = pair.management.begin_transaction(ENTRY, pair.now)
    pair.exchange()
    assert events(pair.control) == [s.ConfigChangeRequested(number, False, ENTRY)]
    pair.control.accept(number, pair.now)
    pair.exchange()
    assert events(pair.management) == [s.TransactionPrepared(number)]
    pair.management.commit(number, pair.now)
    pair.exchange()
    assert events(pair.control) == [s.ConfigCommitRequested(number)]
    pair.control.applied(number)
    pair.exchange()
    assert events(pair.management) == [s.TransactionApplied(number)]
    assert pair.management.transaction is None and pair.control.transaction is None
    assert pair.management.get_timer() is None and pair.control.get_timer() is None


def test_full_configuration_flag_carried() -> None:
    pair = established()
    number = pair.management.begin_transaction(ENTRY, pair.now, full=True)
    pair.exchange()
    assert events(pair.control) == [s.ConfigChangeRequested(number, True, ENTRY)]


def test_veto_carries_its_error() -> None:
    pair = established()
    number = pair.management.begin_transaction(ENTRY, pair.now)
    pair.exchange()
    pair.control.veto(number, m.ErrorTag.INVALID_VALUE, "no such interface", path="/mobile-ip/x")
    pair.exchange()
    (event,) = [e for e in events(pair.management) if isinstance(e, s.TransactionVetoed)]
    assert event.veto.tag is m.ErrorTag.INVALID_VALUE and event.veto.path == "/mobile-ip/x"
    assert pair.management.transaction is None
    pair.management.begin_transaction(ENTRY, pair.now)  # the next one may start


def test_abort_after_prepared_reaches_the_control_plane() -> None:
    pair = established()
    number = pair.management.begin_transaction(ENTRY, pair.now)
    pair.exchange()
    pair.control.accept(number, pair.now)
    pair.exchange()
    events(pair.control)
    pair.management.abort(number)
    pair.exchange()
    assert events(pair.control) == [s.ConfigAbortRequested(number)]
    assert pair.control.get_timer() is None  # the hold timer went with it


def test_no_verdict_in_time_aborts() -> None:
    pair = established()
    number = pair.management.begin_transaction(ENTRY, pair.now)
    pair.exchange()
    events(pair.control)
    pair.advance(s.CHANGE_TIMEOUT - 0.001)
    assert pair.management.transaction is not None
    pair.advance(s.CHANGE_TIMEOUT)
    assert events(pair.management) == [s.TransactionTimedOut(number, s.Phase.CHANGE)]
    assert events(pair.control) == [s.ConfigAbortRequested(number)]  # the abort went out
    with pytest.raises(s.LocalProtocolError):
        pair.control.accept(number, pair.now)  # the control plane's verdict is too late
    assert pair.management.counters.timeouts == 1


def test_late_verdict_counted_not_a_violation() -> None:
    pair = established()
    number = pair.management.begin_transaction(ENTRY, pair.now)
    pair.advance(s.CHANGE_TIMEOUT)  # timed out before the control plane even saw it
    events(pair.management)
    pair.management.receive_data(codec.encode(m.ConfigAccepted(number)), pair.now)
    assert pair.management.counters.late == 1
    assert events(pair.management) == []


def test_prepared_and_forgotten_is_abandoned_then_a_done_forces_a_new_session() -> None:
    pair = established()
    number = pair.management.begin_transaction(ENTRY, pair.now)
    pair.exchange()
    pair.control.accept(number, pair.now)
    pair.exchange()
    events(pair.control)
    pair.advance(s.HOLD_TIMEOUT)
    assert events(pair.control) == [s.TransactionAbandoned(number)]
    pair.management.commit(number, pair.now)
    pair.exchange()
    assert pair.control.state is s.SessionState.CLOSED
    assert pair.management.state is s.SessionState.CLOSED  # told, by a SessionError
    assert any(isinstance(e, s.SessionClosed) and e.by_peer for e in events(pair.management))


def test_not_applied_in_time_closes_the_session() -> None:
    pair = established()
    number = pair.management.begin_transaction(ENTRY, pair.now)
    pair.exchange()
    pair.control.accept(number, pair.now)
    pair.exchange()
    pair.management.commit(number, pair.now)
    pair.exchange()
    events(pair.management)
    pair.advance(s.APPLY_TIMEOUT)
    got = events(pair.management)
    assert got[0] == s.TransactionTimedOut(number, s.Phase.DONE)
    assert pair.management.state is s.SessionState.CLOSED


def test_one_transaction_at_a_time() -> None:
    pair = established()
    pair.management.begin_transaction(ENTRY, pair.now)
    with pytest.raises(s.TransactionRefused) as info:
        pair.management.begin_transaction(ENTRY, pair.now)
    assert info.value.tag is m.ErrorTag.IN_USE


def test_control_plane_vetoes_a_second_transaction_in_use() -> None:
    pair = established()
    pair.control.receive_data(codec.encode(m.ConfigChange(1, False, ENTRY)), 0.0)
    pair.control.receive_data(codec.encode(m.ConfigChange(2, False, ENTRY)), 0.0)
    reader = codec.FrameReader()
    answers = [codec.decode(b) for b in reader.feed(pair.control.data_to_send())]
    assert answers == [m.ConfigVetoed(2, m.ErrorTag.IN_USE, "transaction 1 is in progress")]


def test_refused_while_the_control_plane_is_not_connected() -> None:
    management = s.ManagementSession(epoch=1, pid=10, now=0.0)
    with pytest.raises(s.TransactionRefused) as info:
        management.begin_transaction(ENTRY, 0.0)
    assert info.value.tag is m.ErrorTag.RESOURCE_DENIED
    with pytest.raises(s.TransactionRefused):
        management.rpc(m.ClearBinding(0, None), 0.0)


# -- RPCs ----------------------------------------------------------------------------------------


def test_rpc_reply_and_error() -> None:
    pair = established()
    first = pair.management.rpc(m.ClearBinding(0, 0xC6120001), pair.now)
    second = pair.management.rpc(m.ClearVisitor(0, None, "02:00:00:00:00:01"), pair.now)
    pair.exchange()
    requested = events(pair.control)
    assert requested == [s.RpcRequested(m.ClearBinding(first, 0xC6120001)),
                         s.RpcRequested(m.ClearVisitor(second, None, "02:00:00:00:00:01"))]
    pair.control.reply(first, cleared=1)
    pair.control.fail(second, m.ErrorTag.DATA_MISSING, "no such visitor")
    pair.exchange()
    assert events(pair.management) == [
        s.RpcCompleted(first, m.RpcReply(first, 1)),
        s.RpcFailed(second, m.RpcError(second, m.ErrorTag.DATA_MISSING, "no such visitor")),
    ]
    with pytest.raises(s.LocalProtocolError):
        pair.control.reply(first)  # answered already


def test_rpc_timeout_then_late_reply_counted() -> None:
    pair = established()
    number = pair.management.rpc(m.ClearCounters(0, m.CounterScope.ALL), pair.now)
    pair.exchange()
    pair.advance(s.RPC_TIMEOUT)
    assert events(pair.management) == [s.RpcTimedOut(number)]
    pair.control.reply(number)
    pair.exchange()
    assert pair.management.counters.late == 1 and events(pair.management) == []


def test_outstanding_rpcs_bounded() -> None:
    pair = established()
    for _ in range(s.MAX_OUTSTANDING_RPCS):
        pair.management.rpc(m.ClearCounters(0, m.CounterScope.ALL), pair.now)
    with pytest.raises(s.TransactionRefused) as info:
        pair.management.rpc(m.ClearCounters(0, m.CounterScope.ALL), pair.now)
    assert info.value.tag is m.ErrorTag.RESOURCE_DENIED


def test_control_plane_refuses_a_duplicate_request_number() -> None:
    pair = established()
    pair.control.receive_data(codec.encode(m.ClearBinding(5, None)), 0.0)
    pair.control.receive_data(codec.encode(m.ClearBinding(5, None)), 0.0)
    (answer,) = [codec.decode(b) for b in codec.FrameReader().feed(pair.control.data_to_send())]
    assert isinstance(answer, m.RpcError) and answer.tag is m.ErrorTag.RESOURCE_DENIED
    assert len([e for e in events(pair.control) if isinstance(e, s.RpcRequested)]) == 1


# -- faults -----------------------------------------------------------------------------------


def test_unknown_type_counted_and_the_stream_goes_on() -> None:
    pair = established()
    pair.management.receive_data(codec.frame(msgpack.packb([99, 1])) +
                                 codec.encode(m.ResyncBegin(2, 1, 1)), 0.0)
    got = events(pair.management)
    assert isinstance(got[0], s.ProtocolViolation) and got[0].fault == "unknown-type"
    assert got[1] == s.StateReceived(m.ResyncBegin(2, 1, 1))
    assert pair.management.counters.unknown_type == 1
    assert pair.management.state is s.SessionState.ESTABLISHED


def test_bad_rpc_answered_malformed_message() -> None:
    pair = established()
    pair.control.receive_data(codec.frame(msgpack.packb([m.MessageType.CLEAR_COUNTERS, 41, "x"])), 0.0)
    (answer,) = [codec.decode(b) for b in codec.FrameReader().feed(pair.control.data_to_send())]
    assert isinstance(answer, m.RpcError) and answer.request == 41
    assert answer.tag is m.ErrorTag.MALFORMED_MESSAGE
    assert pair.control.counters.bad_field == 1


def test_valid_message_in_the_wrong_direction_counted() -> None:
    pair = established()
    pair.management.receive_data(codec.encode(m.ConfigChange(1, False, ENTRY)), 0.0)
    assert pair.management.counters.unexpected == 1
    assert pair.management.state is s.SessionState.ESTABLISHED
    pair.control.receive_data(codec.encode(m.StateDeltas(1, 1, ())), 0.0)
    assert pair.control.counters.unexpected == 1


def test_oversize_frame_closes() -> None:
    pair = established()
    pair.management.receive_data(codec.HEADER.pack(codec.MAX_FRAME + 1), 0.0)
    assert pair.management.state is s.SessionState.CLOSED
    assert pair.management.counters.oversize == 1
    (error,) = [codec.decode(b) for b in codec.FrameReader().feed(pair.management.data_to_send())]
    assert error == m.SessionError(m.ErrorTag.TOO_BIG, f"frame of {codec.MAX_FRAME + 1} bytes over "
                                                       f"the limit of {codec.MAX_FRAME}")


def test_state_stream_and_resync_request() -> None:
    pair = established()
    deltas = m.StateDeltas(2, 1, (m.Delta(TableId.TUNNEL, m.ChangeKind.DELETED, (1,), None),))
    pair.control.send_state(deltas)
    pair.exchange()
    assert events(pair.management) == [s.StateReceived(deltas)]
    pair.management.request_resync("a gap")
    pair.exchange()
    assert events(pair.control) == [s.ResyncRequested("a gap")]


@pytest.mark.parametrize("side", ["management", "control"])
@pytest.mark.parametrize("established_first", [True, False])
def test_every_message_in_every_state_is_handled_or_counted(side: str, established_first: bool) -> None:
    """h2's table walk: any valid message, in either state, on either side,
    is handled, counted as unexpected, or ends the session with a reason —
    never an exception."""
    for message in EVERY_MESSAGE:
        pair = established() if established_first else None
        session: s._Session = (
            (pair.management if side == "management" else pair.control) if pair is not None
            else s.ManagementSession(epoch=1, pid=1, now=0.0) if side == "management"
            else s.ControlSession(epoch=2, pid=2, now=0.0))
        before = session.counters.errors
        session.receive_data(codec.encode(message), 0.0)
        got = events(session)
        handled = [e for e in got if not isinstance(e, (s.ProtocolViolation, s.SessionClosed))]
        assert handled or session.counters.errors > before or session.counters.late \
            or session.state is s.SessionState.CLOSED or any(
                isinstance(e, s.SessionClosed) for e in got) or session.data_to_send() \
            or getattr(session, "assembling", None) is not None, message  # a part, held


def test_closing_reports_what_was_in_flight() -> None:
    pair = established()
    number = pair.management.begin_transaction(ENTRY, pair.now)
    first = pair.management.rpc(m.ClearBinding(0, None), pair.now)
    second = pair.management.rpc(m.ClearCounters(0, m.CounterScope.ALL), pair.now)
    pair.management.close()
    assert events(pair.management) == [s.TransactionLost(number, s.Phase.CHANGE),
                                       s.RpcLost(first), s.RpcLost(second)]
    assert pair.management.get_timer() is None
    pair.management.close()  # once only
    assert events(pair.management) == []
