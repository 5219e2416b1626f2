// The benchmark groups beyond the base table (issue 15), each its own small table with its ratios:
//   writes:  scenario (a) with the client writing its bodies in 16 KiB, 64 KiB and 1 MiB pieces
//            (bench/body-writer.mjs), ours and the peer; the key column is the server's CPU per GiB.
//   latency: (a), (b), (c) with S3 behind bench/latency-proxy.mjs (20 and 60 ms per round trip)
//            for the raw ceiling (best of 8/16/32/60 parts in flight), ours and the peer.
//   memory:  our server's peak RSS in (a) and (c) at 1x and 4x the size, under Node 24 and 22
//            (Node 22 fetched by scripts/runtime.mjs), against the targets (a) <= 192 MiB, (c) <= 320 MiB,
//            with the floor's (bench/floor-server.mjs) beside them.
// bench/run.mjs calls runGroups with its helpers (ctx) and prints the tables under the base one.

import { fetchedNode } from '../scripts/runtime.mjs';
import { pieceLabel } from './body-writer.mjs';
import { startLatencyProxy } from './latency-proxy.mjs';
import { rss, tree } from './proc.mjs';

const KiB = 1024;
const pct = (x) => `${(x * 100).toFixed(0)}%`;
const list = (value, fallback) => (value ?? fallback).split(',').filter(Boolean);
/** Runs per target in a group: BENCH_GROUP_RUNS, else the group's default (1 with --quick). */
const groupRuns = (ctx, fallback) => (ctx.QUICK ? 1 : Number(process.env.BENCH_GROUP_RUNS || fallback));
const log = (text) => process.stderr.write(`  ${text}\n`);

/** One target's run, verified; `result.verified` set. */
async function measured(ctx, target, scenario, chunk) {
  const result = await ctx.runTarget(target, scenario, chunk);
  result.verified = await ctx.verifyAndClean(result, scenario.size);
  return result;
}

const serverCells = (r) => `${r.cpuSecondsPerGiB.toFixed(2)} | ${r.peakRssMiB.toFixed(0)} | ${r.s3CpuSecondsPerGiB.toFixed(2)}`;

// ---- writes: the client's write size ------------------------------------------------------------
async function writesGroup(ctx) {
  const runs = groupRuns(ctx, 1);
  const chunk = 5 * ctx.MiB;
  const pieces = list(process.env.BENCH_WRITE_SIZES_KIB, '16,64,1024').map((k) => Number(k) * KiB);
  const ids = list(process.env.BENCH_WRITES_SCENARIOS, 'a').filter((id) => ctx.ONLY.length === 0 || ctx.ONLY.includes(id));
  const peer = await ctx.startPeer('peer-writes', {});
  const ours = await ctx.startServer('ours-writes', ctx.oursEnv(chunk));
  const rows = [];
  try {
    for (const id of ids) {
      const scenario = ctx.scenarioOf(id, ctx.BIG);
      const results = { ceiling: [] };
      for (const p of pieces) results[p] = { peer: [], ours: [] };
      let counts = [ctx.ceilingWinners.get(`${id}:${chunk}`) ?? 16];
      for (let r = 0; r < runs; r++) {
        const ceiling = await ctx.bestCeiling('ceiling', scenario, chunk, counts);
        counts = [ceiling.inFlight];
        results.ceiling.push(ceiling);
        for (const p of pieces) {
          for (const [name, server] of [
            ['peer', peer],
            ['ours', ours],
          ]) {
            const result = await measured(ctx, { name, server, pieceSize: p }, scenario, chunk);
            results[p][name].push(result);
            log(`writes ${id} ${pieceLabel(p)} run ${r + 1} ${name}: ${result.seconds.toFixed(2)} s`);
          }
        }
      }
      const ceiling = ctx.summarize(
        results.ceiling,
        scenario,
        results.ceiling.every((x) => x.verified),
      );
      for (const p of pieces) {
        const s = (name) =>
          ctx.summarize(
            results[p][name],
            scenario,
            results[p][name].every((x) => x.verified),
          );
        rows.push({ scenario: id, pieceSize: p, ceiling, peer: s('peer'), ours: s('ours') });
      }
    }
  } finally {
    await peer.stop();
    await ours.stop();
  }
  const lines = [
    '| scen. | client writes | target | MiB/s | of ceiling | ours/peer | server CPU s/GiB | server RSS MiB | S3 CPU s/GiB | server reads/MiB | verified |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    for (const name of ['peer', 'ours']) {
      const r = row[name];
      lines.push(
        `| ${row.scenario} | ${pieceLabel(row.pieceSize)} | ${name} | ${r.mibPerSecond.toFixed(0)} | ${pct(r.mibPerSecond / row.ceiling.mibPerSecond)} | ${name === 'ours' ? `${(r.mibPerSecond / row.peer.mibPerSecond).toFixed(2)}x` : ''} | ${serverCells(r)} | ${r.readsPerMiB.toFixed(1)} | ${r.verified ? 'yes' : 'NO'} |`,
      );
    }
  }
  const notes = [...new Set(rows.map((r) => r.scenario))].map((id) => {
    const these = rows.filter((r) => r.scenario === id);
    const c = these[0].ceiling;
    const smallest = these[0];
    const largest = these[these.length - 1];
    return `- (${id}) ceiling ${c.mibPerSecond.toFixed(0)} MiB/s (raw, ${c.inFlight[0]} in flight, ${c.verified ? 'verified' : 'NOT verified'}); server CPU s/GiB at ${pieceLabel(smallest.pieceSize)} / ${pieceLabel(largest.pieceSize)} writes: ours ${(smallest.ours.cpuSecondsPerGiB / largest.ours.cpuSecondsPerGiB).toFixed(2)}x, peer ${(smallest.peer.cpuSecondsPerGiB / largest.peer.cpuSecondsPerGiB).toFixed(2)}x`;
  });
  lines.push(
    '',
    'Each piece is one socket write (Nagle off, uncorked, the next written once the kernel took the previous); chunk 5 MiB. server reads/MiB: read(2) calls of the server per MiB uploaded (/proc/<pid>/io syscr; 16 = every read a full 64 KiB).',
    ...notes,
  );
  return { id: 'writes', title: 'Client write size: the server CPU per GiB when the body comes in small pieces', runs, rows, lines };
}

// ---- latency: S3 across a network -------------------------------------------------------------
async function latencyGroup(ctx) {
  const runs = groupRuns(ctx, 1);
  const chunk = 5 * ctx.MiB;
  const rtts = list(process.env.BENCH_LATENCY_MS, '20,60').map(Number);
  const size = process.env.BENCH_LATENCY_MIB ? Number(process.env.BENCH_LATENCY_MIB) * ctx.MiB : ctx.QUICK ? ctx.BIG : ctx.BIG / 2;
  const ids = ['a', 'b', 'c'].filter((id) => ctx.ONLY.length === 0 || ctx.ONLY.includes(id));
  const counts0 = [...ctx.CEILING_IN_FLIGHT, 60];
  const rows = [];
  for (const rtt of rtts) {
    const proxy = await startLatencyProxy(ctx.S3.endpoint, rtt);
    const peer = await ctx.startPeer(`peer-${rtt}ms`, { S3_ENDPOINT: proxy.endpoint });
    const ours = await ctx.startServer(`ours-${rtt}ms`, { ...ctx.oursEnv(chunk), STORAGE_S3_ENDPOINT: proxy.endpoint });
    try {
      for (const id of ids) {
        const scenario = ctx.scenarioOf(id, size);
        const results = { ceiling: [], peer: [], ours: [] };
        // (b)'s direct upload is (a)'s (no PATCHes): it starts from (a)'s winner.
        const a = rows.find((row) => row.scenario === 'a' && row.rttMs === rtt);
        let counts = id === 'b' && a ? a.ceiling.inFlight.slice(0, 1) : counts0;
        for (let r = 0; r < runs; r++) {
          const ceiling = await ctx.bestCeiling('ceiling', scenario, chunk, counts, { endpoint: proxy.endpoint });
          counts = [ceiling.inFlight];
          results.ceiling.push(ceiling);
          log(`latency ${id} @${rtt}ms run ${r + 1} ceiling (${ceiling.inFlight} in flight): ${ceiling.seconds.toFixed(2)} s`);
          for (const [name, server] of [
            ['peer', peer],
            ['ours', ours],
          ]) {
            const result = await measured(ctx, { name, server }, scenario, chunk);
            results[name].push(result);
            log(`latency ${id} @${rtt}ms run ${r + 1} ${name}: ${result.seconds.toFixed(2)} s`);
          }
        }
        const s = (name) =>
          ctx.summarize(
            results[name],
            scenario,
            results[name].every((x) => x.verified),
          );
        rows.push({ scenario: id, title: scenario.title, rttMs: rtt, ceiling: s('ceiling'), peer: s('peer'), ours: s('ours') });
      }
    } finally {
      await peer.stop();
      await ours.stop();
      await proxy.close();
    }
  }
  const lines = [
    '| scen. | target | MiB/s | of ceiling | ours/peer | server CPU s/GiB | server RSS MiB | S3 CPU s/GiB | PATCH wait ms | verified |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    for (const name of ['ceiling', 'peer', 'ours']) {
      const r = row[name];
      const label = name === 'ceiling' ? `ceiling, ${r.inFlight[0]} in flight` : name;
      lines.push(
        `| ${row.scenario} @${row.rttMs}ms | ${label} | ${r.mibPerSecond.toFixed(0)} | ${pct(r.mibPerSecond / row.ceiling.mibPerSecond)} | ${name === 'ours' ? `${(r.mibPerSecond / row.peer.mibPerSecond).toFixed(2)}x` : ''} | ${name === 'ceiling' ? `(${r.cpuSecondsPerGiB.toFixed(2)} client)` : r.cpuSecondsPerGiB.toFixed(2)} | ${name === 'ceiling' ? '-' : r.peakRssMiB.toFixed(0)} | ${r.s3CpuSecondsPerGiB.toFixed(2)} | ${r.patchWaitMs === undefined ? '-' : r.patchWaitMs.toFixed(0)} | ${r.verified ? 'yes' : 'NO'} |`,
      );
    }
  }
  lines.push(
    '',
    `${[...new Set(rows.map((r) => `(${r.scenario}) ${r.title}`))].join('; ')}; chunk 5 MiB. S3 behind bench/latency-proxy.mjs: every chunk delayed half the RTT each way, in order (each request/response exchange costs the RTT; bandwidth not limited); the ceiling is the raw one through the same proxy, best of ${counts0.join('/')} parts in flight. Targets: >= 90% of the ceiling in (a) and (c) at 60 ms.`,
  );
  return { id: 'latency', title: 'S3 across a network: 20 and 60 ms per round trip', runs, rows, lines };
}

// ---- memory: peak RSS against the targets, 1x vs 4x the size, Node 24 vs 22 ---------------------
const RSS_TARGET_MIB = { a: 192, c: 320 };

async function memoryGroup(ctx) {
  const runs = groupRuns(ctx, 1);
  const chunk = 5 * ctx.MiB;
  // The bench runs under the project's runtime (Node 24, scripts/runtime.mjs); Node 22, the oldest
  // supported, is fetched the same way for a second row unless BENCH_NODE22=0.
  const nodes = [{ label: `ours (node ${process.versions.node.split('.')[0]})`, bin: process.execPath }];
  let n22;
  if (process.env.BENCH_NODE22 !== '0' && !process.versions.node.startsWith('22.')) {
    try {
      n22 = fetchedNode(undefined, 22);
    } catch (error) {
      log(`memory: no Node 22 row (${error.message})`);
    }
  }
  if (n22) nodes.push({ label: 'ours (node 22)', bin: n22 });
  // The floor (bench/floor-server.mjs) under the bench's Node: the least a relay holds.
  const targets = [...nodes, { label: 'floor', floor: true }];
  const ids = ['a', 'c'].filter((id) => ctx.ONLY.length === 0 || ctx.ONLY.includes(id));
  const sizes = [ctx.BIG, 4 * ctx.BIG];
  const rows = [];
  for (const id of ids) {
    for (const size of sizes) {
      const scenario = ctx.scenarioOf(id, size);
      const results = Object.fromEntries(targets.map((n) => [n.label, []]));
      for (let r = 0; r < runs; r++) {
        // A fresh process per run, so each peak is this scenario's own.
        for (const node of targets) {
          const name = `mem-${id}-${node.label.replace(/\W+/g, '')}`;
          const server = node.floor ? await ctx.startFloor(name, chunk) : await ctx.startServer(name, ctx.oursEnv(chunk), node.bin);
          try {
            const idleRss = rss(tree(server.child.pid));
            const result = await measured(ctx, { name: node.floor ? 'floor' : 'ours', server }, scenario, chunk);
            result.idleRss = idleRss;
            results[node.label].push(result);
            log(
              `memory ${id} ${size / ctx.MiB} MiB run ${r + 1} ${node.label}: ${result.seconds.toFixed(2)} s, peak RSS ${(result.peakRss / ctx.MiB).toFixed(0)} MiB`,
            );
          } finally {
            await server.stop();
          }
        }
      }
      for (const node of targets) {
        rows.push({
          scenario: id,
          title: scenario.title,
          sizeMiB: size / ctx.MiB,
          target: node.label,
          idleRssMiB: Math.min(...results[node.label].map((x) => x.idleRss)) / ctx.MiB,
          ...ctx.summarize(
            results[node.label],
            scenario,
            results[node.label].every((x) => x.verified),
          ),
        });
      }
    }
  }
  const lines = [
    '| scen. | uploads | target | idle RSS MiB | peak RSS MiB | RSS target | MiB/s | server CPU s/GiB | verified |',
    '|---|---|---|---:|---:|---|---:|---:|---|',
  ];
  for (const r of rows) {
    const limit = RSS_TARGET_MIB[r.scenario];
    const check = r.target === 'floor' ? '-' : `<= ${limit} (${r.peakRssMiB <= limit ? 'met' : 'OVER'})`;
    lines.push(
      `| ${r.scenario} | ${r.title} | ${r.target} | ${r.idleRssMiB.toFixed(0)} | ${r.peakRssMiB.toFixed(0)} | ${check} | ${r.mibPerSecond.toFixed(0)} | ${r.cpuSecondsPerGiB.toFixed(2)} | ${r.verified ? 'yes' : 'NO'} |`,
    );
  }
  lines.push(
    '',
    `Our server with its defaults (chunk 5 MiB${Object.keys(process.env).some((k) => k.startsWith('BENCH_OURS_')) ? ', plus BENCH_OURS_* settings' : ''}), a fresh process per run (idle RSS: just started, before the upload), its process tree's RSS sampled every 50 ms; the peak should be flat in the upload size. floor: bench/floor-server.mjs under the bench's Node (parts of 5 MiB, 16 in flight: its peak is about its idle RSS plus 80 MiB of parts, and the body chunks filling the next ones).${nodes.length > 1 ? '' : ' Node 22 rows skipped (BENCH_NODE22=0 or not installable).'}`,
  );
  return {
    id: 'memory',
    title: `Memory: peak RSS of our server, 1x vs 4x the size, ${nodes.map((n) => n.label.replace(/^ours \(|\)$/g, '')).join(' and ')}`,
    runs,
    rows,
    lines,
  };
}

const GROUPS = { writes: writesGroup, latency: latencyGroup, memory: memoryGroup };

/** Runs the groups named in `wanted` (in a fixed order); their tables for the report. */
export async function runGroups(wanted, ctx) {
  const out = [];
  for (const [id, run] of Object.entries(GROUPS)) if (wanted.includes(id)) out.push(await run(ctx));
  return out;
}
