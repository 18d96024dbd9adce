"""The bench (`make bench`, or `python -m tools.bench` from the repository
root): the stack on MariaDB, Kafka and Redis under an external load
generator, every figure beside a baseline measured in the same run (the
machine is shared and noisy, so only ratios compare across runs).
docs/PERFORMANCE.md describes the method and the last figures."""
