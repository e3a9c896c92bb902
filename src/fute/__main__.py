"""`python -m fute`: the `fute` command."""

from fute.cli import main

if __name__ == "__main__":
    main()
