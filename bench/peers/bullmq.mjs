// BullMQ on Redis, the peer of collectionsd's claim->complete cycles
// (bench/run_bullmq_bench.sh): TASKS jobs enqueued first, then WORKERS
// workers, each a BullMQ Worker with its own Redis connection, take jobs
// and complete them until the queue is empty. Prints one `key=value` line
// like collections-taskbench's cycles line.
//
//   node bullmq.mjs manual|worker PORT TASKS WORKERS [BATCH]
//
//   manual  the shape of collections-taskbench cycles: each worker claims
//           (Worker.getNextJob, one moveToActive script; {block: false}, so
//           an empty queue answers at once, like a ClaimTasks without a
//           wait), then completes (Job.moveToCompleted without fetching the
//           next job), one after the other. Claim latency is the time of
//           one claim, the last empty one included, as the load generator
//           times a ClaimTasks RPC; percentiles taken the same way.
//           BATCH > 1: open-source BullMQ has no batch claim (Batches are a
//           BullMQ Pro feature), so each worker issues BATCH getNextJob
//           calls at once (sent together on its connection, run one after
//           another by Redis) and completes what they returned
//           concurrently; the claim latency is then that of the group.
//   worker  BullMQ's own processing loop: one Worker per worker with
//           concurrency 1 and a handler that does nothing; a completion
//           fetches the next job in the same script (fetchNext). No claim
//           latency: the claim is inside the completion.
//
// Jobs keep BullMQ's defaults (completed jobs are kept, as collectionsd
// keeps its tasks). The Redis server, its persistence and its port are the
// caller's.
import { Queue, Worker } from "bullmq";

const [mode, portText, tasksText, workersText, batchText = "1"] = process.argv.slice(2);
const port = Number(portText);
const tasks = Number(tasksText);
const workers = Number(workersText);
const batch = Number(batchText);
if (
  !["manual", "worker"].includes(mode) ||
  !(port > 0) ||
  !(tasks > 0) ||
  !(workers > 0) ||
  !(batch >= 1 && batch <= 100) ||
  (mode === "worker" && batch !== 1)
) {
  console.error("usage: node bullmq.mjs manual|worker PORT TASKS WORKERS [BATCH (manual: 1..100)]");
  process.exit(2);
}
const connection = { host: "127.0.0.1", port, maxRetriesPerRequest: null };
const queueName = "bench";

// Latency samples in milliseconds, summarized as collections-taskbench's
// Samples::Summary does (the sample at index floor(q * n)).
class Samples {
  constructor() {
    this.values = [];
  }
  add(ms) {
    this.values.push(ms);
  }
  summary(name) {
    const v = this.values.sort((a, b) => a - b);
    if (v.length === 0) return `${name}_n=0`;
    const at = (q) => v[Math.min(v.length - 1, Math.floor(q * v.length))].toFixed(3);
    return (
      `${name}_n=${v.length} ${name}_p50_ms=${at(0.5)} ${name}_p90_ms=${at(0.9)} ` +
      `${name}_p99_ms=${at(0.99)} ${name}_max_ms=${v[v.length - 1].toFixed(3)}`
    );
  }
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function enqueue() {
  const queue = new Queue(queueName, { connection });
  const started = nowMs();
  for (let i = 0; i < tasks; i += 1000) {
    const jobs = [];
    for (let k = i; k < Math.min(tasks, i + 1000); ++k) {
      jobs.push({ name: "sms", data: { n: k } });
    }
    await queue.addBulk(jobs);
  }
  const seconds = (nowMs() - started) / 1000;
  const waiting = await queue.getWaitingCount();
  await queue.close();
  if (waiting !== tasks) throw new Error(`enqueued ${waiting} of ${tasks} jobs`);
  return seconds;
}

// WORKERS manual loops; resolves to [completed, claim samples, complete samples].
async function manual(pool) {
  const claims = new Samples();
  const completions = new Samples();
  let completed = 0;
  let nextToken = 0;
  await Promise.all(
    pool.map(async (w) => {
      for (;;) {
        const tokens = Array.from({ length: batch }, () => `bench-${++nextToken}`);
        const t0 = nowMs();
        const jobs = await Promise.all(tokens.map((t) => w.getNextJob(t, { block: false })));
        claims.add(nowMs() - t0);
        const taken = jobs.map((job, i) => [job, tokens[i]]).filter(([job]) => job);
        if (taken.length === 0) return;
        await Promise.all(
          taken.map(async ([job, token]) => {
            const c0 = nowMs();
            await job.moveToCompleted("delivered", token, false);
            completions.add(nowMs() - c0);
          }),
        );
        completed += taken.length;
      }
    }),
  );
  return [completed, claims.summary("claim"), completions.summary("complete")];
}

// BullMQ's own loop; resolves to [completed] once every job is done.
async function ownLoop(pool) {
  let completed = 0;
  await new Promise((resolve, reject) => {
    for (const w of pool) {
      w.on("completed", () => {
        if (++completed === tasks) resolve();
      });
      w.on("failed", (job, error) => reject(error));
      w.run().catch(reject);
    }
  });
  return [completed];
}

const enqueueSeconds = await enqueue();
const handler = mode === "worker" ? async () => "delivered" : null;
const pool = [];
for (let w = 0; w < workers; ++w) {
  pool.push(new Worker(queueName, handler, { connection, autorun: false, concurrency: 1 }));
}
await Promise.all(pool.map((w) => w.waitUntilReady()));
const started = nowMs();
const [completed, ...latencies] = mode === "manual" ? await manual(pool) : await ownLoop(pool);
const seconds = (nowMs() - started) / 1000;
await Promise.all(pool.map((w) => w.close(true)));
console.log(
  [
    `cycles=${completed} seconds=${seconds.toFixed(3)}`,
    `cycles_per_s=${Math.round(completed / seconds)} workers=${workers} batch=${batch}`,
    `mode=${mode} enqueue_per_s=${Math.round(tasks / enqueueSeconds)}`,
    ...latencies,
  ].join(" "),
);
process.exit(completed === tasks ? 0 : 1);
