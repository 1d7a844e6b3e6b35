"""`python -m rag …` runs the command line."""

from rag.surfaces.cli import main

main()
