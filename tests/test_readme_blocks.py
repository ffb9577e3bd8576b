"""The README runs as written (issue 12.3).

Every fenced block of README.md runs, top to bottom, in one temporary directory:

- ```` ```python ```` blocks run in one interpreter session, in order (`exec` in a shared
  namespace), in a subprocess, so nothing leaks into the test process;
- ```` ```bash ```` / ```` ```sh ```` blocks run with `bash -e`, with the interpreter's
  script folder (where `scalinglaws` is installed) first on PATH;
- console blocks (```` ```console ```` or an untagged block whose lines start with `$ `)
  run each `$ command`; the lines printed under a command in the README must be what the
  command prints on stdout (trailing spaces aside). Untagged blocks without `$ ` (a
  synopsis of the options) are not commands and are left out.

A block is skipped only with a marker comment right above it, with its reason, e.g.
`<!-- readme-test: skip (creates a virtual environment and installs the package) -->`;
`test_skips_are_few_and_explained` lists them so that a skip is a visible decision.

Slow tier: the README's examples include NUTS runs and 4,000-replicate bootstraps, so
the whole document takes several minutes on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((.+?)\)\s*-->")


def parse_blocks(text: str) -> list[dict]:
    """Fenced blocks: `kind` (python, bash, console), `line` (1-based, of the fence),
    `code`, `skip` (the reason, or None)."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        info, start = match.group(1).lower(), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        body = lines[i + 1 : j]
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marker = SKIP.search(lines[k]) if k >= 0 else None
        if info == "python":
            kind = "python"
        elif info in ("bash", "sh", "shell"):
            kind = "bash"
        elif info in ("console", "") and any(line.startswith("$ ") for line in body):
            kind = "console"
        else:
            kind = None  # a synopsis, a table of output without a command, another language
        if kind is not None:
            blocks.append({"kind": kind, "line": start + 1, "code": "\n".join(body),
                           "skip": marker.group(1) if marker else None})
        i = j + 1
    return blocks


def console_commands(code: str) -> list[dict]:
    """`$ command` lines (with `\\` continuations) and the output shown under each."""
    commands, current = [], None
    lines = code.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            current = {"command": command, "expected": []}
            commands.append(current)
        elif current is not None:
            current["expected"].append(line)
        i += 1
    return commands


DRIVER = textwrap.dedent(
    r'''
    import contextlib, io, json, os, subprocess, sys, time, traceback
    steps = json.load(open(sys.argv[1]))
    namespace = {"__name__": "__main__"}
    results = []
    for step in steps:
        clock = time.perf_counter()
        record = {"line": step["line"], "kind": step["kind"], "ok": True}
        if step["kind"] == "python":
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(step["code"], f"README.md:{step['line']}", "exec"), namespace)
            except BaseException:
                record.update(ok=False, error=traceback.format_exc(limit=4))
            record["stdout"] = out.getvalue()
        elif step["kind"] == "bash":
            done = subprocess.run(["bash", "-e", "-c", step["code"]], capture_output=True, text=True)
            record.update(ok=done.returncode == 0, stdout=done.stdout,
                          error=done.stderr[-3000:] if done.returncode else "")
        else:
            record["commands"] = []
            for command in step["commands"]:
                done = subprocess.run(["bash", "-e", "-c", command["command"]], capture_output=True, text=True)
                record["commands"].append({"command": command["command"], "expected": command["expected"],
                                           "stdout": done.stdout, "returncode": done.returncode,
                                           "stderr": done.stderr[-3000:]})
                if done.returncode:
                    record.update(ok=False, error=f"$ {command['command']}\n{done.stderr[-3000:]}")
                    break
        record["seconds"] = round(time.perf_counter() - clock, 1)
        results.append(record)
        print(f"README.md:{step['line']} {step['kind']} {'ok' if record['ok'] else 'FAILED'} "
              f"in {record['seconds']} s", file=sys.stderr, flush=True)
        json.dump(results, open(sys.argv[2], "w"))
        if not record["ok"]:
            break
    '''
)


NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def same_output(shown: list[str], printed: list[str], rtol: float = 1e-4) -> bool:
    """Line by line, the same text, with numbers equal to `rtol` (the README's tables print
    6 significant digits; JSON prints 17, whose last digits vary across CPUs and BLAS)."""
    if len(shown) != len(printed):
        return False
    for a, b in zip(shown, printed):
        if NUMBER.sub("#", a) != NUMBER.sub("#", b):
            return False
        for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
            x, y = float(x), float(y)
            if abs(x - y) > rtol * max(abs(x), abs(y)):
                return False
    return True


def _normalise(text) -> list[str]:
    lines = [line.rstrip() for line in (text.splitlines() if isinstance(text, str) else text)]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def test_parser_finds_the_readme_examples():
    blocks = parse_blocks(README.read_text(encoding="utf-8"))
    kinds = {b["kind"] for b in blocks}
    assert kinds == {"python", "bash", "console"}, kinds
    assert sum(b["kind"] == "python" for b in blocks) >= 5


def test_output_comparison_is_strict_on_text_and_tolerant_on_digits():
    assert same_output(["N = 2.9788388946585e+10"], ["N = 2.9788388946591e+10"])
    assert not same_output(["N = 2.97e+10"], ["N = 2.99e+10"])
    assert not same_output(["loss 2.0"], ["LOSS 2.0"])
    assert not same_output(["a", "b"], ["a"])
    first = console_commands("$ scalinglaws x \\\n    --y 1\nout 1\n$ z")
    assert first == [{"command": "scalinglaws x  --y 1", "expected": ["out 1"]}, {"command": "z", "expected": []}]


def test_skips_are_few_and_explained():
    skipped = [b for b in parse_blocks(README.read_text(encoding="utf-8")) if b["skip"]]
    # Setup on a fresh machine, the test suite and benchmarks themselves, examples that read
    # the user's own files: each skip names its reason in the README, next to the block. A
    # new skip must raise this bound knowingly (a README that mostly cannot run is not one).
    assert len(skipped) <= 6, [(b["line"], b["skip"]) for b in skipped]
    assert all(len(b["skip"]) > 10 for b in skipped)


@pytest.mark.slow
def test_readme_runs_as_written(tmp_path):
    blocks = [b for b in parse_blocks(README.read_text(encoding="utf-8")) if not b["skip"]]
    steps = []
    for block in blocks:
        step = {"kind": block["kind"], "line": block["line"], "code": block["code"]}
        if block["kind"] == "console":
            step["commands"] = console_commands(block["code"])
        steps.append(step)
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    (tmp_path / "driver.py").write_text(DRIVER)
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"  # figures written to files (--plot) need no display
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "steps.json"), str(tmp_path / "results.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3600,
    )
    results = json.loads((tmp_path / "results.json").read_text()) if (tmp_path / "results.json").exists() else []
    failed = [r for r in results if not r["ok"]]
    assert done.returncode == 0, done.stderr[-3000:]
    assert not failed, f"README.md:{failed[0]['line']} ({failed[0]['kind']}) failed:\n{failed[0]['error']}"
    assert len(results) == len(steps), done.stderr[-3000:]
    mismatches = []
    for record in results:
        for command in record.get("commands", []):
            expected = _normalise(command["expected"])
            if expected and not same_output(expected, _normalise(command["stdout"])):
                mismatches.append(
                    f"README.md:{record['line']} $ {command['command']}\n--- README shows:\n"
                    + "\n".join(expected) + "\n--- it prints:\n" + "\n".join(_normalise(command["stdout"]))
                )
    assert not mismatches, "\n\n".join(mismatches)
