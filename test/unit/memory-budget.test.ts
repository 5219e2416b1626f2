/** How a container's memory limit is found and divided (src/runtime/memory-limit.ts, memory-budget.ts, src/config/memory.ts). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import type { S3Location } from '../../src/config/types.js';
import { DEFAULT_PART_MEMORY, heapFlags, heapFor, heapSetExplicitly, OUTSIDE_HEAP, partBudget } from '../../src/runtime/memory-budget.js';
import { containerMemoryLimit } from '../../src/runtime/memory-limit.js';
import { scratchDir } from '../helpers/scratch.js';
import { MiB } from '../helpers/sizes.js';

t.test('the limit: Node first, then cgroup v2, then v1; none at or above the machine', async (t) => {
  const root = scratchDir(t, 'tus-cgroup-');
  t.same(containerMemoryLimit({ cgroupRoot: root, fromNode: 160 * MiB }), { bytes: 160 * MiB, source: 'constrainedMemory' });
  t.equal(containerMemoryLimit({ cgroupRoot: root, fromNode: 2 ** 64 }), undefined, 'unconstrained Node, no cgroup files');
  writeFileSync(join(root, 'memory.max'), 'max\n');
  t.equal(containerMemoryLimit({ cgroupRoot: root, fromNode: 0 }), undefined, 'v2 "max" is no limit');
  mkdirSync(join(root, 'memory'));
  writeFileSync(join(root, 'memory', 'memory.limit_in_bytes'), `${128 * MiB}\n`);
  t.same(containerMemoryLimit({ cgroupRoot: root, fromNode: 0 }), { bytes: 128 * MiB, source: 'cgroup v1 memory.limit_in_bytes' });
  writeFileSync(join(root, 'memory.max'), `${200 * MiB}\n`);
  t.same(containerMemoryLimit({ cgroupRoot: root, fromNode: undefined }), { bytes: 200 * MiB, source: 'cgroup v2 memory.max' });
  writeFileSync(join(root, 'memory.max'), '9223372036854771712\n');
  t.same(containerMemoryLimit({ cgroupRoot: root, fromNode: undefined }), { bytes: 128 * MiB, source: 'cgroup v1 memory.limit_in_bytes' });
});

t.test('the heap: a quarter of the limit, at least 64 MiB, a small young generation under 512 MiB', async (t) => {
  t.same(heapFor(160 * MiB), { oldSpaceMiB: 64, semiSpaceMiB: 1 });
  t.same(heapFor(256 * MiB), { oldSpaceMiB: 64, semiSpaceMiB: 1 });
  t.same(heapFor(2048 * MiB), { oldSpaceMiB: 512 });
  t.same(heapFlags(heapFor(160 * MiB)), ['--max-old-space-size=64', '--max-semi-space-size=1']);
  t.ok(heapSetExplicitly(['--max-old-space-size=300'], ''));
  t.ok(heapSetExplicitly([], '--enable-source-maps --max_semi_space_size=4'));
  t.notOk(heapSetExplicitly(['--no-memory-reducer'], '--enable-source-maps'));
});

t.test('part memory: what the limit leaves, shared, at most the default, a limit too small refused', async (t) => {
  const heap = 67 * MiB;
  const one = partBudget(160 * MiB, heap, [{ name: 's3', chunkSize: 5 * MiB }]);
  t.ok(one.ok);
  if (one.ok) t.equal(one.partMemory.s3, Math.floor((160 * MiB - 5 * MiB - OUTSIDE_HEAP - heap) / MiB) * MiB);
  const big = partBudget(4096 * MiB, 1024 * MiB, [{ name: 's3', chunkSize: 5 * MiB }]);
  t.same(big.ok && big.partMemory, { s3: DEFAULT_PART_MEMORY }, 'a large limit keeps the default');
  const two = partBudget(512 * MiB, 128 * MiB, [
    { name: 'a', chunkSize: 5 * MiB },
    { name: 'b', chunkSize: 8 * MiB, explicit: 100 * MiB },
    { name: 'c', chunkSize: 5 * MiB },
  ]);
  t.ok(two.ok);
  if (two.ok) {
    t.equal(two.partMemory.b, 100 * MiB, 'a PART_MEMORY that was set is kept');
    t.equal(two.partMemory.a, two.partMemory.c, 'the rest shared evenly');
    t.ok((two.partMemory.a ?? 0) + (two.partMemory.b ?? 0) + (two.partMemory.c ?? 0) <= 512 * MiB - 16 * MiB - OUTSIDE_HEAP - 128 * MiB);
  }
  const small = partBudget(96 * MiB, heap, [{ name: 's3', chunkSize: 5 * MiB }]);
  t.notOk(small.ok);
  if (!small.ok) {
    t.equal(small.smallest, Math.ceil(((OUTSIDE_HEAP + heap + 10 * MiB) * 32) / 31));
    t.match(small.reason, 'two parts of 5 MiB for location "s3"');
    t.ok(partBudget(small.smallest, heap, [{ name: 's3', chunkSize: 5 * MiB }]).ok, 'the smallest it names works');
    t.notOk(partBudget(small.smallest - MiB, heap, [{ name: 's3', chunkSize: 5 * MiB }]).ok, 'and a MiB less does not');
  }
});

t.test('the configuration under a limit: sized part memory, the plan recorded, a limit too small names the smallest', async (t) => {
  const env = {
    STORAGE_LOCATIONS: 's3,files',
    STORAGE_S3_DRIVER: 's3',
    STORAGE_S3_BUCKET: 'b',
    STORAGE_S3_REGION: 'us-east-1',
    STORAGE_FILES_DRIVER: 'local',
    STORAGE_FILES_ROOT: '/tmp/x',
  };
  const facts = { limit: { bytes: 160 * MiB, source: 'constrainedMemory' as const }, heapLimit: 67 * MiB, heapSized: true };
  const config = parseConfig(env, facts);
  const s3 = config.locations.find((l) => l.name === 's3') as S3Location;
  t.ok(s3.partMemory < DEFAULT_PART_MEMORY && s3.partMemory >= 10 * MiB, `sized: ${s3.partMemory / MiB} MiB`);
  t.same(config.memory?.partMemory, { s3: s3.partMemory }, 'only the location that holds parts');
  t.same(config.memory?.partMemorySet, []);
  t.equal(parseConfig(env).memory, undefined, 'no limit, no plan');
  t.equal((parseConfig(env).locations[0] as S3Location).partMemory, DEFAULT_PART_MEMORY);
  const set = parseConfig({ ...env, STORAGE_S3_PART_MEMORY: '12mb' }, facts);
  t.equal((set.locations[0] as S3Location).partMemory, 12 * MiB, 'bytes reads mb as MiB');
  t.same(set.memory?.partMemorySet, ['s3']);
  t.throws(() => parseConfig(env, { ...facts, limit: { bytes: 96 * MiB, source: 'constrainedMemory' } }), {
    message: /memory limit \(96 MiB, from constrainedMemory\) is below the smallest this server runs in: 154 MiB/,
  });
});
