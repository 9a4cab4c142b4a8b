// The job-queue peers of bench/RESULTS.md, on the same PostgreSQL as
// collectionsd: TASKS jobs enqueued, then WORKERS workers each take one job
// at a time and complete it (the handler does nothing), timed from the first
// take to the last completion. Prints one line per system, like
// collections-taskbench.
//
//   node peers.mjs graphile|pgboss URL TASKS WORKERS
//   URL: postgres://user@host:port/database (a database of its own)
import { run, makeWorkerUtils } from "graphile-worker";
import PgBoss from "pg-boss";

const [system, url, tasksText, workersText] = process.argv.slice(2);
const tasks = Number(tasksText);
const workers = Number(workersText);
if (!url || !(tasks > 0) || !(workers > 0)) {
  console.error("usage: node peers.mjs graphile|pgboss URL TASKS WORKERS");
  process.exit(2);
}

function report(name, seconds) {
  console.log(
    `${name}: cycles=${tasks} seconds=${seconds.toFixed(3)} ` +
      `cycles_per_s=${Math.round(tasks / seconds)} workers=${workers} batch=1`,
  );
}

async function graphile() {
  const utils = await makeWorkerUtils({ connectionString: url });
  await utils.migrate();
  for (let i = 0; i < tasks; i += 1000) {
    const specs = [];
    for (let k = i; k < Math.min(tasks, i + 1000); ++k) {
      specs.push({ identifier: "bench", payload: { n: k } });
    }
    // graphile-worker's own batch insert (0.16 has no addJobs helper).
    await utils.withPgClient((client) =>
      client.query(
        "SELECT graphile_worker.add_jobs(ARRAY(SELECT json_populate_recordset(" +
          "NULL::graphile_worker.job_spec, $1::json)))",
        [JSON.stringify(specs)],
      ),
    );
  }
  await utils.release();
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  const started = process.hrtime.bigint();
  // Its defaults otherwise (polling, LISTEN/NOTIFY, job size 1 per take).
  const runner = await run({
    connectionString: url,
    concurrency: workers,
    noHandleSignals: true,
    logger: undefined,
    taskList: {
      bench: async () => {
        if (++done === tasks) finish();
      },
    },
  });
  await finished;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await runner.stop();
  report("graphile-worker 0.16.6", seconds);
}

async function pgboss() {
  const boss = new PgBoss({ connectionString: url, max: workers + 4 });
  boss.on("error", (e) => console.error(e));
  await boss.start();
  await boss.createQueue("bench");
  for (let i = 0; i < tasks; i += 1000) {
    const jobs = [];
    for (let k = i; k < Math.min(tasks, i + 1000); ++k) {
      jobs.push({ name: "bench", data: { n: k } });
    }
    await boss.insert(jobs);
  }
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  const started = process.hrtime.bigint();
  // WORKERS workers, each fetching one job and completing it, in a loop
  // (fetch + complete: pg-boss's work() sleeps its polling interval, at
  // least 0.5 s, between fetches, which would measure the sleep).
  const loops = [];
  for (let w = 0; w < workers; ++w) {
    loops.push(
      (async () => {
        for (;;) {
          const jobs = await boss.fetch("bench", { batchSize: 1 });
          if (!jobs || jobs.length === 0) {
            if (done >= tasks) return;
            continue;
          }
          await boss.complete("bench", jobs[0].id);
          if (++done === tasks) finish();
        }
      })(),
    );
  }
  await finished;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await boss.stop({ graceful: false, wait: false });
  report("pg-boss 10.4.2", seconds);
}

if (system === "graphile") await graphile();
else if (system === "pgboss") await pgboss();
else {
  console.error(`unknown system ${system}`);
  process.exit(2);
}
process.exit(0);
