"""The `rag` command line lives in `rag/surfaces/cli.py`; this file lets `python cli.py …` run it from a checkout."""

from rag.surfaces.cli import app, main

__all__ = ["app", "main"]

if __name__ == "__main__":
    main()
