"""``python -m kgrag.cli``: the ``kgrag`` command."""

from kgrag.cli.app import main

main()
