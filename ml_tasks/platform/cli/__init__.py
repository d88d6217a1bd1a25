"""The `conveyor` command line: one module per group of commands; `app` is the entry point."""
