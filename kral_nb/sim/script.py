"""The simulated gateway's plan for one response: a pure, deterministic list of timed events.

A model name selects a latency profile and options: ``fast``, ``slow+n=50``,
``fast+cut=5``, ``steady+status=429+retry_after=1``. Options are ``+key=value`` (or ``+flag``).
Every protocol renders the same script in its own wire format (see ``wire.py``).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field, replace
from typing import Any

from . import prose


@dataclass(frozen=True)
class Profile:
    ttft_s: float
    itl_s: float  # seconds per token
    jitter: float = 0.0  # +- fraction of each gap
    tokens_per_chunk: int = 1
    n_tokens: int = 40
    reasoning_tokens: int = 0


PROFILES: dict[str, Profile] = {
    "fast": Profile(ttft_s=0.02, itl_s=0.002, jitter=0.2),
    "slow": Profile(ttft_s=0.4, itl_s=0.04, jitter=0.3),
    "steady": Profile(ttft_s=0.1, itl_s=0.01),
    "bursty": Profile(ttft_s=0.15, itl_s=0.005, jitter=0.5, tokens_per_chunk=5),
    "reasoning": Profile(ttft_s=0.1, itl_s=0.005, jitter=0.2, reasoning_tokens=20),
    "instant": Profile(ttft_s=0.0, itl_s=0.0),
    "replay": Profile(ttft_s=0.0, itl_s=0.0),  # replays a recorded trace: replay+run=<run_id>
}

FAULTS_HELP = {
    "n": "output tokens",
    "ttft": "seconds before the first content",
    "itl": "seconds per token",
    "chunk": "tokens per chunk",
    "seed": "text and jitter seed",
    "status": "answer with this HTTP status and a JSON error body (429 adds Retry-After)",
    "retry_after": "Retry-After seconds for status 429/503 (default 1)",
    "fail_first": "fail with `status` only the first N requests for this model, then stream",
    "headers_delay": "seconds before the response headers",
    "stall": "seconds of silence after `stall_after` content chunks (default 1)",
    "stall_after": "content chunks before the stall (default 1)",
    "cut": "end the body without the terminator after N content chunks",
    "cut_mid": "like cut, but in the middle of an event",
    "error": "send an in-stream error event after N content chunks, then end",
    "malformed": "send an event with broken JSON after N content chunks",
    "keepalive": "send a keepalive comment / ping every S seconds while silent",
    "crlf": "CRLF line endings",
    "bigline": "one text chunk of about 1 MB",
    "unicode": "multi-byte text, written in pieces split inside characters",
    "bom": "start the body with a UTF-8 BOM",
    "tools": "call the request's first tool (2: two interleaved calls)",
    "run": "the run_id of a loaded trace to replay (profile `replay`)",
    "reject_usage": "answer 400 when the request asks for stream_options (some servers do)",
    "buffered": "hold every chunk and send them all at the end (a buffering proxy)",
    "stamp": "each text chunk is its send time and the sim's lateness (perf_counter_ns, ns), for arrival - send without matching",
    "slots": "serve at most N streams of this model at once; others queue (TTFT grows with load)",
    "cache": "keep a prefix cache for this model (blocks of 16 prompt tokens): a prompt's longest prefix seen "
             "before is reported as cached tokens",
    "prefill_ms_per_token": "TTFT grows by this many ms per uncached prompt token (prefill)",
}

#: the sim's prefix cache counts in blocks of this many prompt tokens (a divisor of the 512-token
#: blocks of mooncake traces, so equal trace blocks are whole cache blocks)
CACHE_BLOCK_TOKENS = 16

UNICODE_WORDS = ("héllo", "wörld", "日本語", "テキスト", "🎉", "naïve", "façade", "Ω≈ç√")


@dataclass(frozen=True)
class SimSpec:
    profile: Profile
    name: str
    options: dict[str, str] = field(default_factory=dict)

    def num(self, key: str, default: float) -> float:
        return float(self.options[key]) if key in self.options and self.options[key] != "" else default

    def has(self, key: str) -> bool:
        return key in self.options


def parse_model(model: str) -> SimSpec:
    """``"slow+n=10+crlf"`` -> SimSpec. Unknown profiles and options raise ``ValueError``."""
    name, *opts = model.split("+")
    if name not in PROFILES:
        raise ValueError(f"unknown sim profile {name!r}; profiles: {', '.join(PROFILES)}")
    options: dict[str, str] = {}
    for o in opts:
        k, _, v = o.partition("=")
        if k not in FAULTS_HELP:
            raise ValueError(f"unknown sim option {k!r}; options: {', '.join(FAULTS_HELP)}")
        options[k] = v
    p = PROFILES[name]
    spec = SimSpec(p, name, options)
    p = replace(
        p,
        n_tokens=int(spec.num("n", p.n_tokens)),
        ttft_s=spec.num("ttft", p.ttft_s),
        itl_s=spec.num("itl", p.itl_s),
        tokens_per_chunk=max(1, int(spec.num("chunk", p.tokens_per_chunk))),
    )
    return replace(spec, profile=p)


# -- events --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ev:
    """``kind``: start, text, reasoning, tool_start, tool_args, finish, usage, error,
    keepalive, raw, done. ``data`` depends on the kind."""

    at_s: float  # offset from the start of the body
    kind: str
    data: Any = None
    n_tokens: int = 0  # tokens in a text / reasoning piece (usage counts them)


def prompt_tokens(body_text: str) -> int:
    """The sim's token rule, shared with ``kral_nb.workloads``: one whitespace-separated word is
    one token."""
    return max(1, len(body_text.split()))


class PrefixCache:
    """One model's prefix cache (``+cache``): the hashes of every whole-block prefix of the
    prompts it has seen; a prompt's cached tokens are its longest such prefix seen before, as a
    paged KV cache with prefix sharing (vLLM, SGLang) reuses blocks."""

    def __init__(self, limit: int = 1_000_000) -> None:
        self.seen: set[bytes] = set()
        self.limit = limit  # block hashes kept; beyond it the cache starts again (evicted)

    def lookup_and_add(self, prompt: str) -> int:
        words = prompt.split()
        block = CACHE_BLOCK_TOKENS
        h = hashlib.blake2b(digest_size=16)
        cached, hit, new = 0, True, []
        for i in range(0, len(words) - len(words) % block, block):
            h.update(" ".join(words[i:i + block]).encode() + b"\x00")
            prefix = h.copy().digest()  # this prefix, every block up to here
            if hit and prefix in self.seen:
                cached += block
            else:
                hit = False
                new.append(prefix)
        if len(self.seen) + len(new) > self.limit:
            self.seen.clear()
        self.seen.update(new)
        return cached


def make_script(spec: SimSpec, prompt: str, tools: list[dict[str, Any]] | None,
                interleave: bool = True, max_tokens: int | None = None, *, min_tokens: int = 0,
                cached_tokens: int = 0) -> list[Ev]:
    """The full timed plan of a response (before wire rendering). ``max_tokens`` caps the
    answer as a model server does: cut there, finish reason ``length``; ``min_tokens`` makes it
    at least that long (vLLM's ``min_tokens``, or ``ignore_eos`` up to the cap). With
    ``+prefill_ms_per_token`` the first token waits for the prompt's uncached tokens;
    ``cached_tokens`` is reported in the usage."""
    p = spec.profile
    if min_tokens > p.n_tokens:
        p = replace(p, n_tokens=min_tokens)
    seed = spec.options.get("seed", "")
    rng = random.Random(hashlib.sha256(f"{spec.name}|{seed}|{prompt}".encode()).digest())
    if spec.has("unicode"):
        out_words = [(" " if i else "") + rng.choice(UNICODE_WORDS) for i in range(p.n_tokens)]
    else:
        out_words = prose.tokens(rng, p.n_tokens)
    capped = max_tokens is not None and not tools and (p.n_tokens + p.reasoning_tokens > max_tokens
                                                       or min_tokens >= max_tokens)  # ignore_eos: ends at the cap
    if capped:
        out_words = out_words[:max(0, max_tokens - p.reasoning_tokens)]  # type: ignore[operator]
    uncached = max(0, prompt_tokens(prompt) - cached_tokens)
    t = p.ttft_s + spec.num("prefill_ms_per_token", 0.0) / 1000 * uncached
    evs: list[Ev] = [Ev(0.0, "start")]

    def gap(n_tokens: int) -> float:
        g = p.itl_s * n_tokens
        return max(0.0, g * (1 + p.jitter * (2 * rng.random() - 1)))

    pieces: list[tuple[str, Any, int]] = []  # (kind, data, tokens)
    think = prose.thoughts(rng, p.reasoning_tokens)
    for i in range(0, len(think), p.tokens_per_chunk):
        thought = think[i:i + p.tokens_per_chunk]
        pieces.append(("reasoning", "".join(thought), len(thought)))
    n_tool = int(spec.num("tools", 1)) if tools else 0
    if tools and n_tool:
        pieces += [(kind, data, 0) for kind, data in _tool_pieces(tools, n_tool, rng, interleave)]
    else:
        for i in range(0, len(out_words), p.tokens_per_chunk):
            piece = out_words[i:i + p.tokens_per_chunk]
            pieces.append(("text", "".join(piece), len(piece)))
        if spec.has("bigline"):
            pieces.insert(len(pieces) // 2, ("text", " " + "x" * (1 << 20), 1))
    limits = {k: int(spec.num(k, 0)) for k in ("cut", "cut_mid", "error", "malformed") if spec.has(k)}
    stall_after = int(spec.num("stall_after", 1)) if spec.has("stall") else -1
    for n, (kind, data, n_tokens) in enumerate(pieces):
        for fault, at in limits.items():
            if n == at:
                return _fault_end(evs, t, fault, spec)
        if n == stall_after:
            t += spec.num("stall", 1.0)
        evs.append(Ev(t, kind, data, n_tokens))
        t += gap(p.tokens_per_chunk)
    for fault, at in limits.items():
        if at >= len(pieces):
            return _fault_end(evs, t, fault, spec)
    n_out = len(out_words) + p.reasoning_tokens
    reason = "tool_calls" if tools and n_tool else "length" if capped else "stop"
    evs.append(Ev(t, "finish", reason))
    evs.append(Ev(t, "usage", {"input": prompt_tokens(prompt), "output": n_out,
                               "reasoning": p.reasoning_tokens, "cached": cached_tokens}))
    evs.append(Ev(t, "done"))
    if spec.has("buffered"):
        evs = [replace(e, at_s=t) for e in evs]
    if spec.has("keepalive"):
        evs = _keepalives(evs, spec.num("keepalive", 0.5))
    return evs


def _tool_pieces(tools: list[dict[str, Any]], n: int, rng: random.Random,
                 interleave: bool) -> list[tuple[str, Any]]:
    """Argument fragments of ``n`` calls; interleaved across calls when the wire allows it."""
    calls = []
    for i in range(n):
        fn = tools[i % len(tools)].get("function", tools[i % len(tools)])
        props = (fn.get("parameters") or {}).get("properties") or {}
        values = {k: _value(v, rng) for k, v in props.items()}
        calls.append((i, f"call_sim_{i}", fn.get("name", "tool"), json.dumps(values)))
    out: list[tuple[str, Any]] = []
    if not interleave:
        for i, cid, name, args in calls:
            out.append(("tool_start", (i, cid, name)))
            out += [("tool_args", (i, args[k:k + 7])) for k in range(0, len(args), 7)]
        return out
    pos = {i: 0 for i, *_ in calls}
    started: set[int] = set()
    while any(pos[i] < len(a) for i, _, _, a in calls) or len(started) < len(calls):
        for i, cid, name, args in calls:
            if i not in started:
                started.add(i)
                out.append(("tool_start", (i, cid, name)))
            if pos[i] < len(args):
                out.append(("tool_args", (i, args[pos[i]:pos[i] + 7])))
                pos[i] += 7
    return out


def _value(schema: dict[str, Any], rng: random.Random) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind in ("integer", "number"):
        return rng.randint(1, 40)
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    return rng.choice(("Paris", "Tokyo", "Lima", "Oslo"))


def _fault_end(evs: list[Ev], t: float, fault: str, spec: SimSpec) -> list[Ev]:
    if fault == "error":
        evs.append(Ev(t, "error", ("overloaded_error", "Overloaded (simulated mid-stream error)")))
    elif fault == "malformed":
        evs.append(Ev(t, "raw", b'data: {"choices": [{"delta": {"content": "broken\n\n'))
        evs.append(Ev(t, "text", " after"))
        evs.append(Ev(t, "finish", "stop"))
        evs.append(Ev(t, "done"))
    elif fault == "cut_mid":
        evs.append(Ev(t, "raw", b'data: {"choices": [{"index": 0, "delta": {"con'))
    if spec.has("keepalive"):
        evs = _keepalives(evs, spec.num("keepalive", 0.5))
    return evs


def _keepalives(evs: list[Ev], every_s: float) -> list[Ev]:
    """Insert keepalives into every silence longer than ``every_s``."""
    if every_s <= 0:
        return evs
    out: list[Ev] = []
    prev = 0.0
    for e in evs:
        k = prev + every_s
        while k < e.at_s:
            out.append(Ev(k, "keepalive"))
            k += every_s
        out.append(e)
        prev = e.at_s
    return out
