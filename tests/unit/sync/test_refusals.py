"""The stream refusals (``sync.refusals``) are public records: built positionally or by
keyword, matched positionally, with the defaults a stream refusal has (issue 10 review: a
refactor made ``record_kind``/``source`` keyword-only and broke both)."""

from __future__ import annotations

from alpaca_integration.sync.refusals import UnreadableFrame, frame_key


def test_an_unreadable_frame_is_built_and_matched_by_position() -> None:
    frame = UnreadableFrame(b'{"order": {"id": "o-1"}', "truncated", "activity_event", "sse")
    assert (frame.record_kind, frame.source) == ("activity_event", "sse")
    match frame:
        case UnreadableFrame(raw, reason, kind, source):
            assert (raw, reason, kind, source) == (frame.raw, "truncated", "activity_event", "sse")
    default = UnreadableFrame(b"?", "unreadable")
    assert (default.record_kind, default.source) == ("trade_update", "stream")
    assert default.record_key == frame_key(b"?")
