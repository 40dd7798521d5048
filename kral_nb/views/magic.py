"""``%%kral`` and ``%kral``: a thin shell over the core (no protocol code here)."""

from __future__ import annotations

import keyword
import shlex
import string
import sys
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ..cli import args as cli_args
from ..errors import Cancelled, ConfigError, KralError
from ..options import CapacityOptions, LoadOptions, Options, SweepOptions
from ..providers import PRESETS, set_key
from ..results.result import Result
from .config import DEFAULTS
from .display import LivePanes

if TYPE_CHECKING:
    from ..loadgen.capresult import CapacityResult


def interpolate(text: str, namespace: dict[str, Any]) -> str:
    """``{name}`` from the user namespace (``{{`` escapes); every failure is one clear error."""
    try:
        return string.Formatter().vformat(text, (), namespace)
    except KeyError as exc:
        raise ConfigError(f"the prompt uses {{{exc.args[0]}}} but no such variable exists; "
                          "write {{ and }} for literal braces") from None
    except IndexError:
        raise ConfigError("the prompt uses a positional field such as {0}; name a variable, "
                          "or write {{ and }} for literal braces") from None
    except (AttributeError, ValueError, TypeError) as exc:
        raise ConfigError(f"the prompt's braces could not be filled ({exc}); write {{{{ and }}}} "
                          "for literal braces") from None


def parse_line(parser: Any, line: str) -> Any:
    """The magic's options, split like a shell (quotes removed: ``-m 'sim:fast'``)."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise ConfigError(f"could not read the options ({exc}): {line.strip()}") from None
    args = parser.parse_args(argv)
    if args.out is not None and not valid_name(args.out):
        raise ConfigError(f"--out {args.out}: not a name a result can be bound to (use a plain "
                          "identifier that is not a keyword or a __dunder__ name)")
    return args


def valid_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and not (
        name.startswith("__") and name.endswith("__"))


#: a comparison's options the magic leaves out: the load form owns --concurrency and --seed
_NOT_IN_MAGIC = tuple(f for f in SweepOptions.__dataclass_fields__ if f != "repeat")
#: a capacity search's options the load options already spell (--slo, --seed, --shards, ...)
_SHARED_WITH_LOAD = tuple(f for f in CapacityOptions.__dataclass_fields__ if f in LoadOptions.__dataclass_fields__)


@magics_class
class KralMagics(Magics):  # type: ignore[misc]
    @property
    def _ns(self) -> dict[str, Any]:
        return self.shell.user_ns  # type: ignore[no-any-return,union-attr]

    @magic_arguments()  # type: ignore[untyped-decorator]
    @argument("-m", "--model", action="append", help="provider:model[@protocol]; repeat for side by side")
    @argument("-M", "--models", help="name of a list of model names in the namespace")
    @argument("--format", choices=["markdown", "text"], default=None)
    @argument("--out", help="also bind the Result to this name")
    @cli_args.magic_arguments(SweepOptions, skip=_NOT_IN_MAGIC)  # -n/--repeat; the rest generated from options.py:
    @cli_args.magic_arguments(LoadOptions, Options)  # --concurrency/--rate: a load sweep instead
    @argument("--capacity", action="store_true", help="search the highest load that holds --slo (kral_nb.capacity)")
    @cli_args.magic_arguments(CapacityOptions, skip=_SHARED_WITH_LOAD)
    @cell_magic
    def kral(self, line: str, cell: str) -> None:
        """Stream the cell (the prompt) from one or more models, side by side, live.
        With ``--concurrency`` or ``--rate``, run a load sweep instead (``kral_nb.load``): a
        live table per model and level, then the level frame. With ``--capacity --slo
        ttft_s=0.5``, search the highest rate that holds it (``kral_nb.capacity``). The Result (or LoadResult) is
        bound to ``_kral`` (and ``--out NAME``)."""
        args = None
        try:
            args = parse_line(self.kral.parser, line)
            result = run_cell(args, cell, self._ns)
        except Cancelled as exc:
            self._ns["_kral"] = exc.result
            if args is not None and args.out:
                self._ns[args.out] = exc.result
            print("kral: interrupted — streams cancelled; partial results kept in _kral", file=sys.stderr)
            return
        except (KralError, UsageError) as exc:  # one clear line, not a traceback wall
            print(f"kral: {exc}", file=sys.stderr)
            return
        self._ns["_kral"] = result
        if args.out:
            self._ns[args.out] = result

    @line_magic("kral")  # type: ignore[arg-type]
    def kral_line(self, line: str) -> None:
        """``%kral key [provider]`` · ``%kral config [key=value ...]`` · ``%kral history``"""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            print(f"kral: could not read {line.strip()!r} ({exc})", file=sys.stderr)
            return
        cmd = words[0] if words else "help"
        try:
            if cmd == "key":
                provider = words[1] if len(words) > 1 else "kral"
                ask_key(provider)
            elif cmd == "config":
                for kv in words[1:]:
                    k, _, v = kv.partition("=")
                    DEFAULTS.set(k, v)
                print(f"kral defaults: {DEFAULTS}")
            elif cmd == "history":
                from IPython.display import display

                from ..results.history import history

                display(history())
            else:
                print(self.kral_line.__doc__)
        except KralError as exc:
            print(f"kral: {exc}", file=sys.stderr)


def ask_key(provider: str) -> None:
    """No-echo prompt; the key stays in this process's memory only."""
    if provider not in PRESETS:
        raise ConfigError(f"unknown provider {provider!r}; known: {', '.join(PRESETS)}")
    import getpass

    try:
        key = getpass.getpass(f"API key for {provider} (kept in memory only): ")
    except Exception:  # nbclient / nbval kernels cannot prompt
        raise ConfigError("this kernel cannot prompt for input (non-interactive run): set the "
                          f"environment variable for {provider} instead") from None
    if not key.strip():
        raise ConfigError("no key entered")
    set_key(provider, key.strip())
    print(f"kral: key for {provider} set for this session (not saved)")


def run_cell(args: Any, cell: str, namespace: dict[str, Any]) -> Result | CapacityResult:
    from ..sweeps import sweep

    prompt = interpolate(cell.strip(), namespace)
    options = cli_args.values(args, Options, lookup=namespace.__getitem__)
    options.setdefault("provider", DEFAULTS.provider)
    models = list(args.model or [])
    if args.models:
        listed = namespace.get(args.models)
        if not isinstance(listed, (list, tuple)) or not all(isinstance(m, str) for m in listed):
            raise ConfigError(f"--models {args.models}: expected a list of model names in the notebook")
        models += listed
    if args.capacity:
        from IPython.display import display

        from ..loadgen.capacity import capacity

        if len(models) > 1:
            raise ConfigError("--capacity searches one model: give one -m")
        found = capacity(prompt, (models or [DEFAULTS.model])[0], **cli_args.values(args, CapacityOptions),
                         **options)
        display(found)
        return found
    if args.concurrency or args.rate:
        from IPython.display import display

        from ..loadgen.run import load

        result: Result = load(prompt, models or [DEFAULTS.model], **cli_args.values(args, LoadOptions), **options)
        display(result)
        return result
    planned = sweep(prompt, models or [DEFAULTS.model], **cli_args.values(args, SweepOptions), **options)
    view = LivePanes(planned.result.run_list, fmt=args.format or DEFAULTS.format, rate_hz=DEFAULTS.rate_hz)
    view.start()
    planned.submit()
    try:
        result = planned.wait(view.tick, 1.0 / DEFAULTS.rate_hz)
    finally:
        view.final()
    from IPython.display import display

    from .resultview import RunsTable

    display(RunsTable(result.runs))  # the panes showed the answers: the table alone, never them again
    return result


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(KralMagics)
