"""The bench's one error: a run that cannot produce honest figures."""


class BenchError(RuntimeError):
    """The bench could not measure something (a service, a tool, too many errors)."""
