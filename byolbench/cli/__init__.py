"""The ``byolbench`` command line (Typer); one module per command."""
