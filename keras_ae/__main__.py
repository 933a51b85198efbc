"""Runs the command line: `python -m keras_ae --help`."""

import sys

from keras_ae.cli import main

sys.exit(main())
