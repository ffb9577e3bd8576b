"""The package's one progress reporter: stage messages and progress bars on stderr.

Every step that can take more than a couple of seconds (a multi-start fit, a posterior,
a bootstrap, a calibration) reports through this module, in one style:

- **stderr only**, so that stdout stays clean for `--json` and pipes;
- **off** with `progress=False` in Python (the default of every public function) and
  with `--quiet` on the command line;
- on a **terminal**, a stage line per step and a live bar (tqdm) for loops with a known
  length or an elapsed-time ticker for one long compiled call;
- when stderr is **not a terminal** (a log file, CI, a pipe), plain one-line stage
  messages only: no bars, no carriage returns, nothing that garbles a log.

tqdm is used because numpyro already depends on it (no new dependency) and it degrades to
nothing when disabled. Progress never changes a result: nothing here touches JAX or a
random key, and NUTS is always run with numpyro's own progress bar off (numpyro's bar
compiles a different, chunked sampling loop), so the same seed gives the same draws
whatever the display options.

**Example:**

```python
from scalinglaws.progress import reporter
report = reporter(True)               # or a callable taking a string, or False
report("point fit in 1.2 s")          # -> "[scalinglaws] point fit in 1.2 s" on stderr
```
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["PREFIX", "Reporter", "reporter", "is_terminal"]

PREFIX = "[scalinglaws]"
_T = TypeVar("_T")


def is_terminal(stream: Any = None) -> bool:
    """Whether `stream` (default: the current `sys.stderr`) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced by an object without isatty
        return False


class Reporter:
    """A callable that prints one stage message, with bars and tickers for long steps.

    Build one with [`reporter`][]; calling it with a string prints `[scalinglaws] text`
    on stderr (or passes the string to your callable).

    - `reporter.bar(iterable, total=..., desc=...)`: iterate with a tqdm bar on a
        terminal; elsewhere a single stage line.
    - `with reporter.task("NUTS: 4 chains"):`: one long call; an elapsed-time ticker on a
        terminal, else a stage line before and a "done in X s" line after.
    """

    def __init__(self, sink: Callable[[str], None] | None, *, bars: bool):
        self._sink = sink
        self.enabled = sink is not None
        self.bars = bool(bars) and self.enabled

    def __call__(self, text: str) -> None:
        if self._sink is not None:
            self._sink(text)

    def bar(self, iterable: Iterable[_T], *, total: int | None = None, desc: str = "") -> Iterator[_T]:
        """Iterate over `iterable`, showing a bar on a terminal (a stage line elsewhere)."""
        if not self.bars:
            if desc:
                self(f"{desc} ({total} steps)" if total is not None else desc)
            yield from iterable
            return
        from tqdm import tqdm  # the terminal bar (tqdm.auto would try notebook widgets)

        with tqdm(iterable, total=total, desc=f"{PREFIX} {desc}", file=sys.stderr, leave=False,
                  dynamic_ncols=True) as items:
            yield from items

    @contextlib.contextmanager
    def task(self, desc: str) -> Iterator[None]:
        """One long step: a ticker on a terminal, stage lines elsewhere."""
        clock = time.perf_counter()
        if not self.bars:
            self(f"{desc} ...")
            yield
            self(f"{desc}: done in {time.perf_counter() - clock:.2f} s")
            return
        from tqdm import tqdm  # the terminal bar (tqdm.auto would try notebook widgets)

        stop = threading.Event()
        ticker = tqdm(total=None, desc=f"{PREFIX} {desc}", file=sys.stderr, leave=False,
                      bar_format="{desc} {elapsed}")

        def tick():  # only redraws the line: it never touches JAX or the computation
            while not stop.wait(0.5):
                ticker.refresh()

        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            ticker.close()
        self(f"{desc}: done in {time.perf_counter() - clock:.2f} s")


def _print_stage(text: str) -> None:
    print(f"{PREFIX} {text}", file=sys.stderr, flush=True)


def reporter(progress: bool | Callable[[str], None] | Reporter | None) -> Reporter:
    """The reporter for a public function's `progress=` argument.

    **Arguments:**

    - `progress`: `False`/`None` (silent), `True` (stage messages on stderr; bars and
        tickers too when stderr is a terminal), a callable taking a string (it receives
        the stage messages; no bars), or a [`Reporter`][] (returned as is).

    **Returns:** a [`Reporter`][].
    """
    if isinstance(progress, Reporter):
        return progress
    if callable(progress):
        return Reporter(progress, bars=False)
    if progress:
        return Reporter(_print_stage, bars=is_terminal())
    return Reporter(None, bars=False)
