"""The `mw` / `modelward` command line: one module per command group, lazy imports."""
