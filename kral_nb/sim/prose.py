"""What the simulated models say: answers that read like a real model's, so demos look right
and exercise the renderer — Markdown paragraphs, a bulleted list, a fenced code block, prices
with ``$`` — deterministic from the random generator the script seeds. Pure: no I/O.

A "token" here is a word or punctuation run with the whitespace before it (newlines
included), so joining tokens gives the text back and ``n`` tokens is what ``+n=`` asks for.
"""

from __future__ import annotations

import random
import re

_TOKEN = re.compile(r"\s*[\w.,%$'’/-]+|\s*[^\w\s]+|\s+")

_OPENERS = (
    "Latency in a streamed answer has two parts worth measuring separately.",
    "Short answer: it depends on the load, so measure it under yours.",
    "Here is how I would think about it.",
    "Good question — the numbers below are what a streaming client actually sees.",
)
_SENTENCES = (
    "Time to first token is dominated by queueing and prompt processing on the server.",
    "After that, each token costs roughly the same, so inter-token latency stays flat until the batch fills up.",
    "A gateway adds one network hop, usually a few milliseconds, which matters only for very short answers.",
    "Tail latency grows faster than the median once concurrency passes the server's sweet spot.",
    "Providers bill input and output tokens separately, and output tokens are the expensive ones.",
    "Idle proxies cut long silences, so a keepalive every few seconds keeps slow reasoning models alive.",
    "Goodput counts only the requests that met every latency target, which is what users feel.",
    "Cold connections pay for TCP and TLS once; reused connections make the second request faster.",
)
_PRICES = (
    "At $0.15 per million input tokens and $0.60 per million output tokens, a 500-token answer costs about $0.0003.",
    "The larger model costs $3 per million input tokens, so 1,000 requests of 2,000 tokens come to $6.",
    "Batching brought the bill from $12.40 to $7.95 a day, a 36% saving.",
)
_LISTS = (
    ("Three things to compare:", ("**TTFT** — how long until the first word appears",
                                  "**tokens/s** — how fast the rest arrives",
                                  "**cost** — what the run was billed")),
    ("Before trusting a benchmark, check:", ("the client was not saturated",
                                             "warm-up runs were left out",
                                             "each model saw the same prompt")),
)
_CODE = (
    ("python", ("import kral_nb", "", "r = kral_nb.compare(\"Hello\", [\"sim:fast\", \"sim:slow\"])",
                "print(r.summary())")),
    ("python", ("def tokens_per_second(n_tokens, seconds):", "    return (n_tokens - 1) / seconds")),
)


def answer(rng: random.Random) -> str:
    """One Markdown answer (an opener, prose, a price line, a list, a code block, a closer)."""
    parts = [rng.choice(_OPENERS) + " " + " ".join(rng.sample(_SENTENCES, 2))]
    lead, items = rng.choice(_LISTS)
    parts.append(lead + "\n\n" + "\n".join(f"- {i}" for i in items))
    parts.append(rng.choice(_PRICES) + " " + rng.choice(_SENTENCES))
    lang, lines = rng.choice(_CODE)
    parts.append(f"```{lang}\n" + "\n".join(lines) + "\n```")
    parts.append(" ".join(rng.sample(_SENTENCES, 2)))
    return "\n\n".join(parts)


def tokens(rng: random.Random, n: int) -> list[str]:
    """``n`` tokens of answers, as many answers as it takes; a cut never leaves a code fence
    open for long (the renderer closes it anyway)."""
    out: list[str] = []
    while len(out) < n:
        text = answer(rng)
        out += _TOKEN.findall(("\n\n" if out else "") + text)
    out = out[:n]
    if out:
        out[0] = out[0].lstrip()
    return out


def thoughts(rng: random.Random, n: int) -> list[str]:
    """``n`` tokens of plain reasoning prose."""
    out: list[str] = []
    while len(out) < n:
        out += _TOKEN.findall((" " if out else "") + " ".join(rng.sample(_SENTENCES, 3)))
    return out[:n]
