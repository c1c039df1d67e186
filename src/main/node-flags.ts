// Node/V8 flags every role process starts with. They go on the command line (V8 reads them when it sets up the
// heap; `v8.setFlagsFromString` later leaves the memory reducer running): the dev supervisor, the test and bench
// launchers take this list, and the Dockerfile's ENTRYPOINT and `npm run start:prod` spell it (a test keeps them equal).

/**
 * `--no-memory-reducer`: after a major GC, V8's memory reducer may run extra compacting GCs ~8 s later when it
 * judges the allocation rate low — the feed's 5,000 ticks/s is low to it: two GCs of 15–26 ms and 5–13 ms in every
 * `bench:fanout latency-20k` run, which every tick then waited out (p99 at the clients 9.7–15.1 ms with it, 6.5–7.6
 * without; docs/bench-fanout.md). A server under steady load gains nothing from it: its heap still shrinks at every
 * regular major GC. Every role gets it: a busier one (the gateway, the accounts) rarely meets the reducer's test.
 */
export const ROLE_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];
