"""A Result in a notebook: the answers above one table, escaped, nothing empty shown."""

from __future__ import annotations

import kral_nb


def test_result_view_shows_answers_hides_empty_columns_and_cuts_long_errors() -> None:
    from kral_nb.views import resultview

    r = kral_nb.compare("hi", ["sim:fast+n=5", "sim:fast+n=300+chunk=5", "sim:fast+n=5+error=1"], progress=False)
    runs = r.runs.copy()
    runs["error"] = runs["error"].astype(object)
    runs.loc[2, "error"] = "<b>boom</b> " + "x" * 300
    page = resultview.render(runs, resultview.title(runs))
    assert resultview.title(runs) == "3 runs of 3 models: 2 ok, 1 error"
    short, long_ = runs["text"].iloc[0], runs["text"].iloc[1]
    assert f"{short}</div>" in page and "<details open" in page  # a short answer shows, open
    assert len(long_) > resultview.OPEN_CHARS and f"· {len(long_):,} characters" in page  # a long one starts closed
    assert "&lt;b&gt;boom&lt;/b&gt; " in page and "<b>boom</b>" not in page and "…</span>" in page
    assert 'title="&lt;b&gt;boom&lt;/b&gt; xxx' in page  # the full error on hover
    ok_only = runs.iloc[:2]
    assert "<th>error</th>" not in resultview.render(ok_only, "t")  # no errors: no error column


def test_plots_read_at_a_glance() -> None:
    """Throughput goes log when models differ > 5-fold (linear squeezes the slow ones), gap
    ticks read as milliseconds, not powers of ten."""
    r = kral_nb.compare("hi", ["sim:fast+n=20", "sim:slow+n=20"], repeat=3, progress=False)
    assert r.plot.throughput().get_yscale() == "log" and r.plot.throughput(log=False).get_yscale() == "linear"
    same = kral_nb.compare("hi", ["sim:fast+n=20", "sim:fast+n=21"], repeat=3, progress=False)
    assert same.plot.throughput().get_yscale() == "linear"
    ax = r.plot.gaps()
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all("10^" not in t and "$" not in t for t in labels) and "1" in labels, labels


def test_the_stats_line_says_max_tokens_a_new_connection_and_a_model_load() -> None:
    """A warm run's line names none; a connect that cost a millisecond or more and a wait for
    a model to load are named with their time (loopback's ~0.1 ms connect is not)."""
    from kral_nb.record.recorder import Run
    from kral_nb.views import panes

    run = Run("r", "sim", "fast", "openai", t0_ns=0, first_content_ns=10**8, end_ns=10**9, status="ok")
    run.connect_ns = 150_000  # loopback
    assert "max tokens" not in panes.stats(run, 0) and "connection" not in panes.stats(run, 0)
    run.finish_reason, run.connect_ns, run.helper_wait_s = "length", 38_000_000, 4.2
    assert panes.stats(run, 0).startswith("✅ ok · max tokens · model load 4.20 s · new connection 38 ms · TTFT 100 ms")
    capped = kral_nb.run("hi", model="sim:fast+n=50", max_tokens=5)
    line = panes.stats(capped.run_list[0], 0)
    assert capped.runs["finish_reason"].iloc[0] == "length" and "max tokens" in line, line
