"""`python -m modelward` runs the CLI."""

from modelward.cli.main import main

main()
