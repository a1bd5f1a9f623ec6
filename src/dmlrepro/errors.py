"""The one error type for the harness's own checks.

A `UserError` is something the user can fix (a config value, a data layout, a missing file the
harness asked for); its message is one line naming the fix, and the command line prints exactly that
line.  Every other exception is a bug: it keeps its traceback in the job's log, and the console's
one line names the log.  It subclasses ValueError so that callers which caught ValueError before
this type existed still catch it.
"""

from __future__ import annotations


class UserError(ValueError):
    """A problem the user can fix; the message is one line that says how."""
