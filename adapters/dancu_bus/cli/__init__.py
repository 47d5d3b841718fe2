"""The ``dancu-bus`` command: one subcommand per runnable part."""

__all__: list[str] = []
