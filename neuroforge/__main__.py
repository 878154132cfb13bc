"""``python -m neuroforge``."""

from neuroforge.cli import main

main()
