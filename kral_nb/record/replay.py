"""Run the pure stages over recorded reads: no network, no clock (tests, saved traces)."""

from __future__ import annotations

from collections.abc import Iterable

from .. import protocols
from ..protocols.request import RequestSpec
from .pipeline import Pipeline
from .recorder import Run


def replay(protocol: str, reads: Iterable[tuple[int, bytes]], *, sse: bool = True,
           model: str = "replay", provider: str = "replay") -> Run:
    """Feed ``(t_ns, bytes)`` reads (times from the request start) through decoder, parser
    and recorder, exactly as the transport does; the body ends at the last read's time."""
    module = protocols.get(protocol)
    spec = RequestSpec("http://replay/?alt=sse" if sse else "http://replay/", {}, None)
    run = Run("replay", provider, model, protocol)
    run.t0_ns = 0
    pipe = Pipeline(module.new_decoder(spec), module.new_parser(), run)
    t_end = 0
    for t_ns, data in reads:
        pipe.feed(t_ns, data)
        t_end = t_ns
    pipe.close(t_end)
    return run
