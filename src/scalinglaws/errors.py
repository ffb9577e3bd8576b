"""The package's own warning and error classes, shared by every subpackage.

- `InputError` (a `ValueError`): the user's input is wrong (a column, an option, a file);
  the message names the argument and says what to do. The CLI prints it as one line and
  exits with status 1; anything else that escapes is a bug and keeps its traceback.
- `IdentifiabilityError` (an `InputError`): the data cannot identify the law (fewer
  distinct points than coefficients, all rows identical, ...).
- `ConvergenceWarning`: a fit, a resample or a sampler did not do what it should (the best
  start did not converge, starts disagree, a coefficient sits at the edge of its support,
  poor NUTS diagnostics). Never silent: a Python warning, one line on stderr in the CLI.
"""

from __future__ import annotations

__all__ = ["ColumnNote", "ConvergenceWarning", "IdentifiabilityError", "InputError"]


class InputError(ValueError):
    """Bad input from the user: the message names the argument and says what to do."""


class IdentifiabilityError(InputError):
    """The data cannot identify the law's coefficients."""


class ColumnNote(UserWarning):
    """A note, not a problem: a table's column was recognised under another name (`params`
    as `N`, see `scalinglaws.data.KNOWN_SPELLINGS`). One `note:` line in the CLI. Silence it
    by naming the columns (`columns={"params": "N"}`, `--column params=N`)."""


class ConvergenceWarning(UserWarning):
    """A fit, resample or sampler that did not converge, or converged to a doubtful point."""
