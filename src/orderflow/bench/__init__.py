"""`orderflow bench`: the stack on MariaDB, Kafka and Redis under an external
load generator, every figure beside a baseline measured in the same run (the
machine is shared and noisy, so only ratios compare across runs).
docs/PERFORMANCE.md describes the method and the last figures."""
