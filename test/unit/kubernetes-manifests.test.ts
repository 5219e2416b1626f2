/**
 * deploy/kubernetes/*.yaml without a cluster (docs/deployment.md, "Kubernetes"): every document
 * valid against the Kubernetes API schemas, unknown fields refused (test/helpers/kubernetes.ts);
 * every variable our containers get one the configuration reads, the whole environment (secrets
 * as placeholders) a configuration parseConfig accepts without a warning, no secret written in
 * a manifest; and what each pattern promises: the memory limit, probes on the server's health
 * routes, a grace period longer than preStop plus SHUTDOWN_TIMEOUT, a non-root read-only root
 * with an emptyDir at TUS_TEMP_DIR; several replicas with Redis, a Service, a PodDisruptionBudget;
 * and the excerpts docs/deployment.md shows are parts of the files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Fastify from 'fastify';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { type Config, parseConfig } from '../../src/config/index.js';
import { unknownVariables } from '../../src/config/variables.js';
import { registerHealthRoutes } from '../../src/http/health.js';
import { driverNamed } from '../../src/stores/drivers.js';
import { containerEnvironment, loadManifests, type Manifest, schemaProblems } from '../helpers/kubernetes.js';
import { CONTAINER_LIMIT_MIB } from '../helpers/memory-cgroup.js';

const DIR = resolve(import.meta.dirname, '../../deploy/kubernetes');
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
/** The memory limit the cgroup memory test runs the server under. */
// The limit test/solo/memory-cgroup.solo.ts proves.
const MEMORY_LIMIT = `${CONTAINER_LIMIT_MIB}Mi`;

const load = (file: string) => loadManifests(join(DIR, file));
const deployments = (docs: readonly Manifest[]) => docs.filter((d) => d.kind === 'Deployment') as IDeployment[];
const isOurs = (c: IContainer) => /(^|\/)tus-s3-server(:|@|$)/.test(c.image ?? '');

t.test('the manifests: the sidecar and the scaled-out pattern', async (t) => {
  t.same(FILES, ['scaled.yaml', 'sidecar.yaml']);
});

t.test('every document is valid against the Kubernetes API schemas, with no unknown field', async (t) => {
  for (const file of FILES) {
    for (const doc of load(file)) t.same(schemaProblems(doc), [], `${file}: ${doc.kind} ${doc.metadata?.name}`);
  }
});

t.test('the check refuses a wrong type, an unknown field, a misspelt variable and a literal secret', async (t) => {
  const scaled = load('scaled.yaml');
  const deployment = structuredClone(scaled.find((d) => d.kind === 'Deployment')) as Manifest & { spec: Record<string, unknown> };
  deployment.spec.replicas = '3';
  t.match(schemaProblems(deployment), ['data/spec/replicas must be integer']);

  const misspelt = structuredClone(deployments(load('sidecar.yaml'))[0]) as IDeployment;
  const container = misspelt.spec?.template.spec?.containers.find(isOurs) as IContainer & Record<string, unknown>;
  container.readinesProbe = container.readinessProbe;
  delete container.readinessProbe;
  t.same(schemaProblems(misspelt as Manifest), ['/spec/template/spec/containers/1/readinesProbe: not a field of the schema']);

  const configMap = structuredClone(scaled.find((d) => d.kind === 'ConfigMap')) as Manifest & { data: Record<string, unknown> };
  configMap.data.REDIS_PORT = 6379;
  configMap.lables = {};
  t.match(schemaProblems(configMap), ['data/data/REDIS_PORT must be string']);
  configMap.data.REDIS_PORT = '6379';
  t.same(schemaProblems(configMap), ['/lables: not a field of the schema']);
  t.match(schemaProblems({ apiVersion: 'v1', kind: 'Pod' }), [/no schema here/]);

  const env = { ...containerEnvironment(container, load('sidecar.yaml')).env, STORAGE_S3_BUCKIT: 'b', REDIS_HOSTNAME: 'r' };
  t.same(unknownVariables(env), ['STORAGE_S3_BUCKIT', 'REDIS_HOSTNAME']);
  t.same(literalSecrets({ env, literal: new Set(['STORAGE_S3_SECRET', 'REDIS_PASSWORD', 'STORAGE_S3_REGION']) }), [
    'STORAGE_S3_SECRET',
    'REDIS_PASSWORD',
  ]);
});

/** Secrets given in the manifest itself: a driver's secret settings, and *_SECRET, *_TOKEN(S), *_PASSWORD, REDIS (its URL may hold the password). */
function literalSecrets({ env, literal }: { env: Record<string, string>; literal: Set<string> }): string[] {
  const locations = (env.STORAGE_LOCATIONS ?? '').split(',').map((l) => l.trim().toUpperCase());
  const driverSecrets = locations.flatMap((l) =>
    (driverNamed(env[`STORAGE_${l}_DRIVER`] ?? '')?.settings.secrets ?? []).map((s) => `STORAGE_${l}_${s}`),
  );
  return [...literal].filter((name) => driverSecrets.includes(name) || /_(SECRET|TOKENS?|PASSWORD)(_FILE)?$|^REDIS$/.test(name));
}

/** Each Deployment's containers of ours, with their pod and parsed configuration. */
function ourContainers(file: string) {
  const docs = load(file);
  return deployments(docs).flatMap((deployment) => {
    const pod = deployment.spec?.template.spec as IPodSpec;
    return pod.containers.filter(isOurs).map((container) => {
      const environment = containerEnvironment(container, docs);
      return { deployment, pod, container, environment, config: parseConfig(environment.env) };
    });
  });
}

t.test("our containers' environment: known variables, a valid configuration, secrets from Secrets", async (t) => {
  for (const file of FILES) {
    const docs = load(file);
    for (const deployment of deployments(docs)) {
      for (const container of deployment.spec?.template.spec?.containers.filter(isOurs) ?? []) {
        const where = `${file}: ${deployment.metadata?.name}/${container.name}`;
        const environment = containerEnvironment(container, docs);
        t.same(environment.problems, [], `${where}: every variable resolved`);
        t.same(unknownVariables(environment.env), [], `${where}: every variable one the configuration reads`);
        let config: Config | undefined;
        t.doesNotThrow(() => {
          config = parseConfig(environment.env);
        }, `${where}: a valid configuration`);
        t.same(config?.warnings, [], `${where}: no warning (authentication on, no ignored setting)`);
        t.same(literalSecrets(environment), [], `${where}: secrets come from a Secret`);
      }
    }
  }
});

const portNumber = (container: IContainer, port: number | string | undefined) =>
  typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;

/** Seconds a preStop hook waits: `sleep N` run in the container, or the sleep action. */
function preStopSeconds(container: IContainer): number {
  const preStop = container.lifecycle?.preStop;
  const command = preStop?.exec?.command ?? [];
  if (command[0] === 'sleep') return Number(command[1]);
  return preStop?.sleep?.seconds ?? 0;
}

const UNITS: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };
/** A Kubernetes quantity of bytes ("160Mi", "1G", 1024). */
function bytesOf(quantity: string | number | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(String(quantity ?? ''));
  return m ? Number(m[1]) * (UNITS[m[2] ?? ''] ?? Number.NaN) : Number.NaN;
}

t.test('every container of ours: memory limit, probes, grace period, hardened, temp on an emptyDir', async (t) => {
  for (const file of FILES) {
    for (const { deployment, pod, container, config } of ourContainers(file)) {
      const where = `${file}: ${deployment.metadata?.name}/${container.name}`;
      const { limits, requests } = container.resources ?? {};
      t.equal(limits?.memory, MEMORY_LIMIT, `${where}: the memory limit the cgroup test proves`);
      t.ok(bytesOf(requests?.memory) <= bytesOf(limits?.memory), `${where}: memory request within the limit`);

      t.same(
        container.ports?.map((p) => p.containerPort),
        [config.port],
        `${where}: the container port is PORT`,
      );
      const readiness = container.readinessProbe?.httpGet;
      const liveness = container.livenessProbe?.httpGet;
      t.equal(readiness?.path, '/readyz', `${where}: readiness on /readyz`);
      t.equal(liveness?.path, '/healthz', `${where}: liveness on /healthz`);
      t.equal(portNumber(container, readiness?.port), config.port, `${where}: readiness probe on the server's port`);
      t.equal(portNumber(container, liveness?.port), config.port, `${where}: liveness probe on the server's port`);

      const grace = pod.terminationGracePeriodSeconds ?? 30;
      const preStop = preStopSeconds(container);
      t.ok(preStop > 0, `${where}: a preStop pause while the endpoint is removed`);
      t.ok(
        grace * 1000 > preStop * 1000 + config.shutdownTimeout,
        `${where}: grace period ${grace} s longer than preStop ${preStop} s + SHUTDOWN_TIMEOUT ${config.shutdownTimeout / 1000} s`,
      );

      const security = { ...pod.securityContext, ...container.securityContext };
      t.equal(security.runAsNonRoot, true, `${where}: runAsNonRoot`);
      t.ok((security.runAsUser ?? 0) > 0, `${where}: a numeric non-root user (runAsNonRoot cannot check "node")`);
      t.equal(container.securityContext?.readOnlyRootFilesystem, true, `${where}: read-only root filesystem`);
      t.equal(container.securityContext?.allowPrivilegeEscalation, false, `${where}: no privilege escalation`);
      t.same(container.securityContext?.capabilities?.drop, ['ALL'], `${where}: no capabilities`);

      const mount = container.volumeMounts?.find((m) => m.mountPath === config.tempDir);
      const volume = pod.volumes?.find((v) => v.name === mount?.name);
      t.ok(mount && !mount.readOnly && volume?.emptyDir, `${where}: TUS_TEMP_DIR (${config.tempDir}) is a writable emptyDir`);
      t.not(volume?.emptyDir?.medium, 'Memory', `${where}: spools on disk, not in the memory limit`);
      t.ok(config.tempMaxSize > 0, `${where}: TUS_TEMP_MAX_SIZE bounds the spools`);
      t.ok(
        bytesOf(volume?.emptyDir?.sizeLimit) > config.tempMaxSize,
        `${where}: the emptyDir's sizeLimit is larger than TUS_TEMP_MAX_SIZE (503 when full, not an eviction)`,
      );
    }
  }
});

t.test('the sidecar: the upload server beside the application, in one pod', async (t) => {
  const [deployment, ...others] = deployments(load('sidecar.yaml'));
  t.equal(others.length, 0, 'one Deployment');
  const containers = deployment?.spec?.template.spec?.containers ?? [];
  t.equal(containers.filter(isOurs).length, 1, 'our container');
  t.ok(
    containers.some((c) => !isOurs(c)),
    'and the application',
  );
});

t.test('scaled out: replicas sharing Redis, a Service without affinity, a PodDisruptionBudget', async (t) => {
  const docs = load('scaled.yaml');
  const [ours, ...more] = ourContainers('scaled.yaml');
  t.equal(more.length, 0, 'one container of ours');
  if (!ours) return t.fail('our container');
  const { deployment, container, config } = ours;
  t.ok((deployment.spec?.replicas ?? 1) >= 2, 'several replicas');
  t.ok(config.redis?.host, 'Redis for the locks (REDIS_HOST)');
  t.equal(config.redis?.password, containerEnvironment(container, docs).env.REDIS_PASSWORD, 'its password from the Secret');
  const labels = deployment.spec?.template.metadata?.labels ?? {};
  const selects = (selector: Record<string, string> | undefined) =>
    Object.keys(selector ?? {}).length > 0 && Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

  const service = docs.find((d) => d.kind === 'Service') as IService;
  t.ok(selects(service.spec?.selector), "the Service selects the Deployment's pods");
  t.same(
    service.spec?.ports?.map((p) => portNumber(container, p.targetPort)),
    [config.port],
    "the Service targets the server's port",
  );
  t.not(service.spec?.sessionAffinity, 'ClientIP', 'no session affinity: any replica serves any upload');

  const pdb = docs.find((d) => d.kind === 'PodDisruptionBudget') as IPodDisruptionBudget;
  t.ok(selects(pdb.spec?.selector?.matchLabels), "the PodDisruptionBudget selects the Deployment's pods");
  const replicas = deployment.spec?.replicas ?? 1;
  const allowed = pdb.spec?.maxUnavailable ?? replicas - Number(pdb.spec?.minAvailable ?? replicas);
  t.ok(Number(allowed) >= 1 && Number(allowed) < replicas, 'node drains take some replicas, never all');
});

t.test("the probes' paths are the server's health routes", async (t) => {
  const app = Fastify();
  registerHealthRoutes(app, [], () => false);
  for (const path of ['/readyz', '/healthz']) t.equal((await app.inject({ method: 'GET', url: path })).statusCode, 200, path);
  await app.close();
});

/** True when every field of `part` is in `whole` (each array item of `part` in some item of `whole`). */
function isPart(part: unknown, whole: unknown): boolean {
  if (Array.isArray(part)) return Array.isArray(whole) && part.every((p) => whole.some((w) => isPart(p, w)));
  if (part !== null && typeof part === 'object') {
    if (whole === null || typeof whole !== 'object') return false;
    return Object.entries(part).every(([key, value]) => isPart(value, (whole as Record<string, unknown>)[key]));
  }
  return part === whole;
}

t.test("docs/deployment.md's excerpts are parts of the manifests", async (t) => {
  const page = readFileSync(resolve(import.meta.dirname, '../../docs/deployment.md'), 'utf8');
  const section = page.slice(page.indexOf('\n## Kubernetes\n'), page.indexOf('\n## Health, metrics, logs, shutdown\n'));
  const [sidecar, scaled, ...more] = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  t.equal(more.length, 0, 'two excerpts');
  const pod = deployments(load('sidecar.yaml'))[0]?.spec?.template.spec;
  t.ok(isPart(parse(sidecar ?? ''), pod), "the sidecar excerpt is part of sidecar.yaml's pod");
  const docs = load('scaled.yaml');
  for (const excerpt of parseAllDocuments(scaled ?? '').map((d) => d.toJS() as Manifest)) {
    t.ok(
      docs.some((doc) => isPart(excerpt, doc)),
      `the ${excerpt.kind} excerpt is part of scaled.yaml`,
    );
  }
  t.notOk(isPart({ limits: { memory: '128Mi' } }, { limits: { memory: '160Mi' } }), 'a changed value is noticed');
});
