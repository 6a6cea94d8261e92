"""The `hygiene` command line: every subcommand. The top layer: nothing in the project imports it."""
