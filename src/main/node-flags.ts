// Node/V8 flags every role process starts with. They go on the command line (V8 reads them when it sets up the
// heap; `v8.setFlagsFromString` later leaves the memory reducer running): the dev supervisor, the test and bench
// launchers take this list, and the Dockerfile's ENTRYPOINT and `npm run start:prod` spell it (a test keeps them equal).

/**
 * `--no-memory-reducer`: after a major GC, V8's memory reducer may run extra compacting GCs ~8 s later when it
 * judges the allocation rate low — under steady market-data load it does, in the feed and in the gateway, each a
 * stop-the-world pause of 9–25 ms. `bench:fanout latency-20k` (2,000 clients, 20,000 msgs/s), interleaved runs:
 * p99 10.1 / 15.1 ms with it, 6.7 / 6.5 ms without; p99.9 28.8 / 40.5 against 15.1 / 19.2 ms (docs/bench-fanout.md).
 * A server under steady load gains nothing from it: its heap still shrinks at every regular major GC.
 */
export const ROLE_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];
