"""The `segstudio` command, `python -m segstudio` and `python main.py`.

    segstudio                 open the window with the demo project
    segstudio PATH            open a project folder, or a folder of images as a new project
    segstudio COMMAND ...     run a command headless (segstudio --help lists them)

The only module that knows both sides: the window (segstudio.ui) and the command line
(segstudio.cli) stay independent of each other.
"""

from __future__ import annotations

import sys

from segstudio.cli import EXIT_USER_ERROR, is_command_line
from segstudio.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if is_command_line(argv):
        return cli_main(argv)
    if len(argv) > 1:
        print("segstudio: give at most one folder to open", file=sys.stderr)
        return EXIT_USER_ERROR
    from segstudio.ui.app import run_gui

    return run_gui(argv[0] if argv else None)
