"""What the command line reports in one line, with argparse's exit statuses.

0: everything done; 1: some inputs failed (each named in the output);
2: a usage or output error (nothing predicted, nothing overwritten);
130: interrupted (Ctrl-C), the previous output left as it was.
"""

from __future__ import annotations

#: Exit statuses of the command line.
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A wrong argument or an output that cannot be written: one line, exit status 2."""
