"""Speed benchmarks: our cache against RedisVL and GPTCache on the same Redis.

Entry point: ``python -m bench.bench_ops`` (see ``--help``).  Modules:

* ``stats``    - pure arithmetic and formatting: percentiles, ratios, tables;
* ``workload`` - the vectors, prompts and queries every system receives;
* ``systems``  - one adapter per system under test (ours, RedisVL, GPTCache);
* ``server``   - a throwaway Redis Stack server for the run;
* ``runner``   - latency and threaded-throughput loops;
* ``report``   - Markdown tables and the latency plot from the results JSON;
* ``headtohead`` - ``--head-to-head``: ours against RedisVL in alternating turns (issue #15);
* ``headtohead_report`` - its tables, goal checks and ratio plot;
* ``memory``   - INFO used_memory around a bulk load, on a settled server.
"""
