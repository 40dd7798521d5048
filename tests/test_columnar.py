"""Columnar records: every chunk a parser emits survives the columns (and a pickle) unchanged,
and the column-wise chunks frame equals the row-by-row definition of docs/metrics.md."""

from __future__ import annotations

import math
import pickle
from typing import Any

import pandas as pd
import pytest

from kral_nb import protocols
from kral_nb.protocols import PROTOCOLS
from kral_nb.protocols.records import CONTENT_KINDS, Chunk
from kral_nb.protocols.request import RequestSpec
from kral_nb.record.columnar import RecordColumns
from kral_nb.record.pipeline import Pipeline
from kral_nb.record.recorder import Run
from kral_nb.record.runrow import chunk_tokens
from kral_nb.results.columns import CHUNK_COLUMNS, CHUNK_DTYPES
from kral_nb.results.frames import chunks_frame

from .conftest import golden, golden_files

CASES = [(p, n) for p in PROTOCOLS for n in golden_files(p)]


def replay_keeping(protocol: str, name: str, run_id: str) -> tuple[Run, list[tuple[int, Chunk]]]:
    """Replay a golden file one line per read, keeping every chunk the parser handed over."""
    module = protocols.get(protocol)
    data = golden(protocol, name)
    sse = not name.endswith(".json")
    run = Run(run_id, "replay", name, protocol)
    run.t0_ns = 0
    seen: list[tuple[int, Chunk]] = []
    run.listener = lambda t, chunks: seen.extend((t, Chunk(**{f: getattr(c, f) for f in Chunk.__slots__}))
                                                 for c in chunks)
    spec = RequestSpec("http://replay/?alt=sse" if sse else "http://replay/", {}, None)
    pipe = Pipeline(module.new_decoder(spec), module.new_parser(), run)
    t = 0
    for i, line in enumerate(data.splitlines(keepends=True)):
        t = (i + 1) * 1_000_000 + (i % 3) * 7  # distinct, uneven arrival times
        pipe.feed(t, line)
    pipe.close(t + 1)
    return run, seen


@pytest.mark.parametrize(("protocol", "name"), CASES)
def test_every_chunk_survives_the_columns_and_a_pickle(protocol: str, name: str) -> None:
    run, seen = replay_keeping(protocol, name, "r")
    assert len(run.records) == len(seen) > 0
    assert [(t, c) for t, _, c in run.records] == seen
    assert run.records[-1][2] == seen[-1][1] and run.records[1:3] == list(run.records)[1:3]
    run.listener = None
    back = pickle.loads(pickle.dumps(run))
    assert list(back.records) == list(run.records)
    assert sum(nb for _, nb, _ in back.records) == run.n_bytes - run._pending_bytes


def reference_chunks_frame(runs: list[Run]) -> pd.DataFrame:
    """The definition, one row at a time (what the frame was built as before the columns)."""
    cols: dict[str, list[Any]] = {c: [] for c in CHUNK_COLUMNS}
    for run in runs:
        last: int | None = None
        tokens, source = chunk_tokens(run, run.records.settled())  # metrics.chunk_tokens: tested apart
        for seq, (t, nb, c) in enumerate(run.records):
            cols["n_tokens"].append(tokens[seq] if tokens[seq] >= 0 else None)
            cols["n_tokens_source"].append(source if tokens[seq] >= 0 else None)
            for name, v in (("run_id", run.run_id), ("provider", run.provider), ("model", run.model),
                            ("protocol", run.protocol), ("seq", seq), ("kind", c.kind),
                            ("t_s", (t - (run.t0_ns or 0)) / 1e9),
                            ("dt_s", math.nan if last is None else (t - last) / 1e9),
                            ("text", c.text or None), ("n_chars", len(c.text or c.tool_args or "")),
                            ("n_bytes", nb)):
                cols[name].append(v)
            for name in ("tool_index", "tool_id", "tool_name", "tool_args", "finish_reason",
                         "input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens", "choice"):
                cols[name].append(getattr(c, name))
            if c.kind in CONTENT_KINDS:
                last = t
    return pd.DataFrame({c: pd.Series(cols[c], dtype=d) for c, d in CHUNK_DTYPES.items()})


def test_the_columnwise_frame_is_the_definition() -> None:
    runs = [replay_keeping(p, n, f"r{i}")[0] for i, (p, n) in enumerate(CASES)]
    runs.insert(3, Run("empty", "replay", "none", "openai"))  # a run without records
    got = chunks_frame(runs)
    want = reference_chunks_frame(runs)
    assert got["tool_index"].notna().sum() > 5 and got["output_tokens"].notna().sum() > 5
    assert got["n_tokens"].notna().sum() > 5  # the Gemini cases carry usage on every event
    assert got["text"].isna().sum() > 5 and (got["n_chars"] > 0).sum() > 20
    pd.testing.assert_frame_equal(got, want, check_categorical=False)
    for c in ("provider", "model", "protocol", "kind"):  # categories: the values seen, sorted
        assert list(got[c].cat.categories) == sorted(set(want[c].astype(str)))
    # dt_s never reaches back into the previous run
    firsts = got[got["seq"] == 0]
    assert len(firsts) == len(CASES) and firsts["dt_s"].isna().all()


def test_an_empty_frame_keeps_its_dtypes() -> None:
    frame = chunks_frame([])
    assert len(frame) == 0 and list(frame.columns) == list(CHUNK_COLUMNS)
    assert {c: str(frame[c].dtype) for c in CHUNK_COLUMNS} == {
        c: str(pd.Series([], dtype=d).dtype) for c, d in CHUNK_DTYPES.items()}


def test_columns_index_like_a_list() -> None:
    cols = RecordColumns()
    cols.add(5, 10, [Chunk("text", "a"), Chunk("text", "é")])
    cols.add(6, 7, [Chunk("usage", output_tokens=3)])
    assert len(cols) == 3 and cols.pending  # not flushed yet: readers still see every row
    assert cols[-1] == (6, 7, Chunk("usage", output_tokens=3)) and cols[1] == (5, 0, Chunk("text", "é"))
    cols.close()
    assert not cols.pending and list(cols) == [(5, 10, Chunk("text", "a")), (5, 0, Chunk("text", "é")),
                                               (6, 7, Chunk("usage", output_tokens=3))]
    with pytest.raises(IndexError):
        cols[3]


def test_a_live_run_reads_consistently_while_the_engine_appends() -> None:
    """A display thread builds frames while the engine thread appends and flushes batches."""
    import threading
    import time

    run = Run("live", "sim", "m", "openai")
    run.t0_ns = 0
    stop = threading.Event()
    errors: list[BaseException] = []

    def engine() -> None:
        try:
            for i in range(20 * RecordColumns.BATCH):
                if i % 300 == 0:
                    time.sleep(0.002)  # let the reader in, mid-batch and between batches
                run.add(i + 1, 3, [Chunk("text", "x"), Chunk("usage", output_tokens=i)] if i % 7 == 0
                        else [Chunk("text", "ab")])
        except BaseException as exc:  # pragma: no cover - what this test looks for
            errors.append(exc)
        finally:
            stop.set()

    t = threading.Thread(target=engine)
    t.start()
    seen, frames = 0, 0
    while not stop.is_set():
        frame = chunks_frame([run])
        assert len(frame) >= seen and (frame["seq"].to_numpy() == range(len(frame))).all()
        assert frame["t_s"].is_monotonic_increasing and (frame["n_bytes"] > 0).sum() <= frame["t_s"].nunique()
        seen, frames = len(frame), frames + 1
    t.join()
    assert not errors and 0 < seen < len(run.records) and frames > 5
    run.finish(10**9, True, False)
    assert len(chunks_frame([run])) == len(run.records) == 20 * RecordColumns.BATCH + 20 * RecordColumns.BATCH // 7 + 1


def _long_run(run_id: str, n: int, *, secrets: tuple[str, ...] = ()) -> Run:
    """A finished run of ``n`` text reads (some multi-byte), a reasoning chunk and a choice-1 chunk."""
    run = Run(run_id, "sim", "m", "openai", secrets=secrets)
    run.t0_ns = 0
    run.add(1, 4, [Chunk("reasoning", "think ")])
    for i in range(n):
        run.add(i + 2, 9, [Chunk("text", "é" if i % 5 == 0 else f"t{i} ")])
    run.add(n + 2, 3, [Chunk("text", "other", choice=1), Chunk("finish", finish_reason="stop")])
    run.finish(n + 3, True, False)
    return run


def test_the_text_column_is_the_records_own_buffers() -> None:
    """No second copy of the text: a long run lends its UTF-8 bytes and offsets to the frame;
    short runs are joined into one chunk; a run with secrets gets a masked copy."""
    from kral_nb.results.strings import ARROW_STRINGS, SHARE_MIN_ROWS

    if not ARROW_STRINGS:
        pytest.skip("pandas keeps strings as Python objects here (no pyarrow string storage)")
    import numpy as np

    big, small1, small2 = _long_run("big", SHARE_MIN_ROWS), _long_run("s1", 10), _long_run("s2", 20)
    keyed = _long_run("k", SHARE_MIN_ROWS, secrets=("t12 ",))
    frame = chunks_frame([small1, big, small2, keyed])
    chunks = frame["text"].array._pa_array.chunks
    assert [len(c) for c in chunks] == [len(small1.records), len(big.records), len(small2.records) + len(keyed.records)]
    data = chunks[1].buffers()[2]
    assert data.address == np.frombuffer(big.records.text, dtype=np.uint8).ctypes.data  # the same memory
    assert chunks[1].buffers()[1].address == np.frombuffer(big.records.text_offsets, dtype=np.int64).ctypes.data
    assert frame.loc[frame["run_id"] == "big", "text"].str.cat() == big.reasoning + big.text + "other"
    assert "t12 " not in frame.loc[frame["run_id"] == "k", "text"].str.cat()  # masked, in the copy
    assert "t12 " in big.text
    # a run reopened for a retry grows a copy: the frame built before keeps its text intact
    before = frame["text"].tolist()
    big.begin_attempt()
    big.add(10**9, 5, [Chunk("text", "more")])
    big.finish(10**9 + 1, True, False)
    assert frame["text"].tolist() == before and big.text.endswith("more")
    assert chunks_frame([big])["text"].iloc[-1] == "more"


def test_a_finished_run_reads_its_answer_from_the_records() -> None:
    """One copy of a long answer: once a run ends its text and reasoning are read from the
    records (choice 0 only), through a pickle too, and n_chars counts characters."""
    run = _long_run("r", 3000)
    want = "".join("é" if i % 5 == 0 else f"t{i} " for i in range(3000))
    assert run.text_parts.parts == [] and run.text == want and run.reasoning == "think "
    assert run.text_parts.n_chars() == len(want) and len(run.text_parts) == 3000 and run.reasoning_parts
    back = pickle.loads(pickle.dumps(run))
    assert back.text == want and back.text_parts._source[0] is back.records  # the records pickled once
    frame = chunks_frame([run])
    assert (frame["n_chars"] == frame["text"].fillna("").str.len()).all()


def test_frames_of_two_results_concatenate_in_todays_dtypes(tmp_path: Any) -> None:
    """Adding Results (different run ids: categories differ) and reading a file written
    before the columns narrowed (Int64, a string run_id) both give the documented dtypes."""
    from kral_nb.results.export import retyped
    from kral_nb.results.result import Result

    both = Result([_long_run("a", 5)]) + Result([_long_run("b", 5)])
    assert {c: str(t) for c, t in both.chunks.dtypes.items()} == CHUNK_DTYPES
    assert list(both.chunks["run_id"].cat.categories) == ["a", "b"]
    old = both.chunks.astype({"run_id": "string", "seq": "int64", "output_tokens": "Int64", "tool_id": object})
    assert {c: str(t) for c, t in retyped(old, CHUNK_DTYPES).dtypes.items()} == CHUNK_DTYPES


def test_retyping_an_old_file_never_wraps_a_number_or_invents_a_flag() -> None:
    """A file written when counts were Int64 may hold one past 2^31 - 1: that column stays
    Int64 (astype would wrap it negative); a bool column with NA stays as it was (NA is not True)."""
    from kral_nb.results.columns import RUN_DTYPES
    from kral_nb.results.export import retyped

    old = pd.DataFrame({"input_tokens": pd.array([2**32 - 2, None], dtype="Int64"),
                        "seq": pd.array([0, 1], dtype="int64")})
    back = retyped(old, CHUNK_DTYPES)
    assert str(back["input_tokens"].dtype) == "Int64" and back["input_tokens"].iloc[0] == 2**32 - 2
    assert str(back["seq"].dtype) == "int32"
    flags = pd.DataFrame({"warmup": pd.Series([True, None], dtype=object)})
    assert retyped(flags, RUN_DTYPES)["warmup"].isna().iloc[1]


def test_a_label_with_a_lone_surrogate_builds_a_frame() -> None:
    run = Run("s", "sim", "m", "openai")
    run.t0_ns = 0
    run.add(1, 3, [Chunk("finish", finish_reason="stop\ud800"), Chunk("tool_call", tool_index=0, tool_id="c\ud800",
                                                                   tool_name="f", tool_args="{}")])
    run.finish(2, True, False)
    frame = chunks_frame([run])
    labels = [*frame["finish_reason"].dropna(), *frame["tool_id"].dropna()]  # as utf8() writes every string
    assert [v.rstrip("\ufffd") for v in labels] == ["stop", "c"] and all("\ufffd" in v for v in labels)
