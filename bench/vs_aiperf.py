"""kral_nb against NVIDIA AIPerf, side by side in one run, on the same sim profile: how far
behind the server's send time each tool stamps each chunk's arrival, at several concurrencies.

Every text chunk of ``sim:steady+n=N+stamp`` carries its own send time (the sim's
``perf_counter_ns`` just before the write). AIPerf's raw export holds a ``perf_ns`` per
response (``time.perf_counter_ns``); kral_nb stamps ``t_ns`` at the socket read. All three are
CLOCK_MONOTONIC on one host, so arrival − send needs no matching. The floor is bench/fidelity.py's
bare asyncio socket reader (one stream). The sim is pinned to its own CPU; both tools (and all
of AIPerf's worker processes) share the others, and kral_nb uses its default shards there.

AIPerf lives in its own virtualenv (its pins are not ours) and needs a local HuggingFace
tokenizer directory: a tiny word-level one is built at run time with that venv's
``tokenizers``; nothing is downloaded.

    python -m venv /tmp/aiperf && /tmp/aiperf/bin/pip install aiperf
    python bench/vs_aiperf.py --aiperf /tmp/aiperf/bin/aiperf [--levels 1,8,64] [--chunks 100]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from cpus import pin_apart
from fidelity import floor
from load import errors_ms

import kral_nb
from kral_nb import sim
from kral_nb.loadgen.run import default_shards

TOKENIZER = '''
import json, sys
from pathlib import Path
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
out = Path(sys.argv[1])
vocab = ["[UNK]", "[PAD]", "<s>", "</s>"] + [f"w{i}" for i in range(4000)]
tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
tok.decoder = decoders.WordPiece()
tok.save(str(out / "tokenizer.json"))
special = {"unk_token": "[UNK]", "pad_token": "[PAD]", "bos_token": "<s>", "eos_token": "</s>"}
(out / "special_tokens_map.json").write_text(json.dumps(special))
(out / "tokenizer_config.json").write_text(json.dumps(
    {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1000000, **special}))
'''


def aiperf_errors_ms(export: Path) -> np.ndarray:
    """arrival − send per text chunk from AIPerf's raw export (profiling phase, HTTP 200)."""
    out = []
    for line in export.read_text().splitlines():
        rec = json.loads(line)
        if rec["metadata"].get("benchmark_phase") != "profiling" or rec.get("status") != 200:
            continue
        for resp in rec.get("responses", []):
            for packet in resp.get("packets", []):
                if packet.get("name") != "data" or packet.get("value") == "[DONE]":
                    continue
                choices = json.loads(packet["value"]).get("choices") or [{}]
                text = (choices[0].get("delta") or {}).get("content") or ""
                sent = text.split()[:1]  # "<send ns> <sim lateness ns> "
                if sent and sent[0].isdigit():
                    out.append((resp["perf_ns"] - int(sent[0])) / 1e6)
    return np.array(out)


def run_aiperf(aiperf: str, root: str, tok: Path, model: str, concurrency: int, requests: int, out: Path) -> np.ndarray:
    cmd = [aiperf, "profile", "--model", model, "--url", root, "--endpoint-type", "chat", "--streaming",
           "--tokenizer", str(tok), "--concurrency", str(concurrency), "--request-count", str(requests),
           "--export-level", "raw", "--output-artifact-dir", str(out), "--ui", "none"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    export = out / "profile_export_raw.jsonl"
    if done.returncode or not export.exists():
        sys.exit(f"aiperf failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return aiperf_errors_ms(export)


def run_kral_nb(root: str, model: str, concurrency: int, requests: int) -> np.ndarray:
    lr = kral_nb.load("x", ["sim:" + model], concurrency=[concurrency], requests=requests,
                      base_url=root + "/v1", progress=False)
    bad = lr.runs["status"].astype(str).value_counts().drop("ok", errors="ignore")
    if len(bad):
        sys.exit(f"kral_nb: runs not ok: {bad.to_dict()}")
    errors, _ = errors_ms(lr.run_list)  # the sim's own lateness is bench/load.py's
    return errors


def line(label: str, e: np.ndarray) -> str:
    return (f"  {label:10s} {len(e):7d} chunks  p50 {np.percentile(e, 50):7.3f}  p99 {np.percentile(e, 99):8.3f}"
            f"  max {e.max():8.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aiperf", default=shutil.which("aiperf"), help="the aiperf executable (default: on PATH)")
    ap.add_argument("--levels", default="1,8,64")
    ap.add_argument("--chunks", type=int, default=100, help="chunks per stream, 10 ms apart")
    ap.add_argument("--requests", type=int, default=4, help="requests per stream slot at each level")
    args = ap.parse_args()
    if not args.aiperf:
        sys.exit("aiperf not found: python -m venv /tmp/aiperf && /tmp/aiperf/bin/pip install aiperf, "
                 "then --aiperf /tmp/aiperf/bin/aiperf")
    venv_python = Path(args.aiperf).parent / "python"
    with tempfile.TemporaryDirectory() as tmp, sim.serve(process=True) as root:
        tok = Path(tmp) / "tokenizer"
        tok.mkdir()
        subprocess.run([str(venv_python), "-c", TOKENIZER, str(tok)], check=True)
        print(pin_apart())
        print(f"kral_nb shards: {default_shards()} (default: one per client core)")
        model = f"steady+n={args.chunks}+stamp"
        fl = np.array(floor(root, args.chunks))
        print(f"floor (bare asyncio socket, 1 stream): p50 {np.percentile(fl, 50):.3f}  p99 {np.percentile(fl, 99):.3f} ms")
        print(f"arrival − send per text chunk, {args.chunks} chunks 10 ms apart per stream")
        verdicts = []
        for i, c in enumerate(int(v) for v in args.levels.split(",")):
            n = max(args.requests * c, 4)
            k = run_kral_nb(root, model, c, n)
            a = run_aiperf(args.aiperf, root, tok, model, c, n, Path(tmp) / f"aiperf-{i}")
            print(f"concurrency {c} ({n} requests each):")
            print(line("kral_nb", k))
            print(line("AIPerf", a))
            kp50, kp99, ap50, ap99 = (np.percentile(x, q) for x in (k, a) for q in (50, 99))
            print(f"  AIPerf / kral_nb: p50 {ap50 / kp50:.2f}x  p99 {ap99 / kp99:.2f}x")
            verdicts.append(kp99 <= ap99 and (kp50 <= ap50 or kp50 <= np.percentile(fl, 50)))
        print("targets (p99 <= AIPerf's; p50 <= AIPerf's or <= the floor's) met at every level:", all(verdicts))


if __name__ == "__main__":
    main()
