"""``python -m meshplane``: the command line, exactly as the ``meshplane`` console script runs it."""

from meshplane.cli.app import main

if __name__ == "__main__":
    main()
