"""Shared start-up of the absl binaries in bin/."""
from __future__ import annotations

import logging as pylogging
from typing import Callable

from absl import app, flags, logging


def run(main: Callable[[list[str]], None]) -> None:
    """`absl.app.run(main)`, with TensorFlow's INFO logs hidden unless `--verbosity` is given."""
    def quiet_main(argv):
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
            pylogging.getLogger("tensorflow").setLevel(pylogging.WARNING)
        return main(argv)
    app.run(quiet_main)
