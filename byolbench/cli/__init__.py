"""The ``byolbench`` command line (Typer); one module per command.

A command module imports only typer, rich and byolbench's light modules at the top; torch, timm,
accelerate and pandas (seconds to import on a small CPU) are imported inside the command that
needs them, so ``byolbench --help`` and an unknown option answer at once.
"""
