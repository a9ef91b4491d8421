"""``python -m kgrag``: the same CLI as the ``kgrag`` command."""

from kgrag.cli import main

main()
