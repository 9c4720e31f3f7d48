"""``make chaos``: fault injection against real processes (see :mod:`bench.chaos.__main__`)."""
