"""Decoded ``books`` pushes stay out of the cyclic collector (``gc=False`` in ``wire.py``)."""

from __future__ import annotations

import gc

from desk.feeds.okx.wire import BooksPush, push_decoder

RAW = (
    b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":'
    b'[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],'
    b'"ts":"1597026383085","checksum":0,"prevSeqId":1,"seqId":2}]}'
)


def test_decoded_book_pushes_are_not_tracked_by_the_collector() -> None:
    """``BooksPush``, ``BookData`` and ``BookLevel`` cannot lead back to the push, so the
    collector never tracks (and untracks) them, one message after another."""
    push = push_decoder(BooksPush).decode(RAW)
    data = push.data[0]
    assert (data.asks[0].px, data.bids[0].sz, data.ts) == ("8476.98", "256", 1597026383085)
    assert not any(map(gc.is_tracked, (push, data, data.asks[0], data.bids[0])))
