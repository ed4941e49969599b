"""`python main.py` does exactly what the `segstudio` command does."""

from segstudio.launcher import main

if __name__ == "__main__":
    raise SystemExit(main())
