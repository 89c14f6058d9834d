"""Shared start-up of the absl binaries in bin/."""
from __future__ import annotations

import logging as pylogging
import sys
from typing import Callable

from absl import app, flags, logging


def _is_user_error(error: Exception) -> bool:
    """Faults the user can fix (missing files, run directories, checkpoints, diverged runs):
    reported in one line, without a traceback."""
    if isinstance(error, FileNotFoundError):
        return True
    from tfcompress import training  # TensorFlow is loaded by now
    return isinstance(error, (training.RunDirError, training.CheckpointError,
                              training.NonFiniteLossError))


def run(main: Callable[[list[str]], None]) -> None:
    """`absl.app.run(main)`, with TensorFlow's INFO logs hidden unless `--verbosity` is given,
    and user errors (see `_is_user_error`) printed as `error: ...` with exit status 1."""
    def quiet_main(argv):
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
            pylogging.getLogger("tensorflow").setLevel(pylogging.WARNING)
        try:
            return main(argv)
        except Exception as error:  # noqa: BLE001  (re-raised unless it is a user error)
            if _is_user_error(error):
                sys.exit(f"error: {error}")
            raise
    app.run(quiet_main)
