"""``python -m reflog``: the ``reflog`` command."""

from reflog.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
