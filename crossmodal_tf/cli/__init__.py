"""The `cmx` command line (Typer)."""
