"""The ``rnnkit`` command line: one entry point, subcommands."""
