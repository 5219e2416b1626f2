/**
 * The compose files without a Docker engine: both are valid against the Compose Specification's
 * JSON schema (test/docker/compose-spec.json, copied unchanged but for formatting from
 * compose-spec/compose-spec schema/compose-spec.json, Apache-2.0), every image is pinned to a
 * maintained tag (no `latest`, no MinIO: its Docker Hub images are gone), every variable given
 * to the server is one the config schema reads and the whole environment passes the config
 * loader, and the services agree with each other: the server's S3 endpoint, key and bucket
 * are the S3 gateway's, the Redis URL's password is Redis's, HAProxy's configuration is mounted
 * and names the replicas. docker/haproxy.cfg itself is run by test/e2e/lb-infra.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { unknownVariables } from '../../src/config/variables.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DOCKER = join(ROOT, 'docker');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  command?: string[];
  entrypoint?: string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const load = (file: string) => parse(readFileSync(join(DOCKER, file), 'utf8')) as Compose;
const FILES = ['compose.yaml', 'compose.scaled.yaml'];

// ajv comes with fastify (its schema compiler); the schema's "$schema" names draft-07, ajv's default.
const require = createRequire(import.meta.url);
const Ajv = require('ajv').default as new (
  options: object,
) => {
  compile(schema: object): ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };
};

t.test('both compose files are valid Compose Specification documents', async (t) => {
  const { $schema: _draft, ...schema } = JSON.parse(readFileSync(join(import.meta.dirname, 'compose-spec.json'), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
  for (const file of FILES) {
    const ok = validate(load(file));
    t.ok(ok, `${file}${ok ? '' : `: ${validate.errors?.map((e) => `${e.instancePath} ${e.message}`).join('; ')}`}`);
  }
  // The schema is strict enough to catch a misspelt key or a wrong type.
  const broken = load('compose.yaml') as unknown as { services: Record<string, Record<string, unknown>> };
  (broken.services.tus as Record<string, unknown>).enviroment = {};
  t.notOk(validate(broken), 'a misspelt key is refused');
});

t.test('images: pinned, maintained tags; the server built from docker/Dockerfile', async (t) => {
  const pinned: Record<string, string[]> = {
    'compose.yaml': ['versity/versitygw:v1.7.0'],
    'compose.scaled.yaml': ['haproxy:2.8-alpine', 'redis:7.4-alpine', 'versity/versitygw:v1.7.0'],
  };
  for (const file of FILES) {
    const { services } = load(file);
    const images = Object.values(services)
      .flatMap((s) => (s.image ? [s.image] : []))
      .sort();
    t.same(images, pinned[file], `${file}: images`);
    for (const image of images) {
      t.match(image, /^[a-z0-9./-]+:[\w.-]+$/, `${image}: an explicit tag`);
      t.notMatch(image, /:latest$|^minio\//, `${image}: not latest, not MinIO`);
    }
    t.equal(services.tus?.build?.dockerfile, 'docker/Dockerfile', `${file}: the server is built from docker/Dockerfile`);
    t.equal(services.tus?.build?.context, '..');
    t.ok(existsSync(join(DOCKER, services.tus?.build?.context ?? '', services.tus?.build?.dockerfile ?? '')));
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(service.depends_on ?? {}))
        t.ok(services[dependency], `${file}: ${name} depends on ${dependency}, a service`);
    }
  }
});

t.test("the server's environment: known variables, a valid configuration, the S3 gateway's endpoint and key", async (t) => {
  for (const file of FILES) {
    const { services } = load(file);
    const env = services.tus?.environment ?? {};
    t.same(unknownVariables(env), [], `${file}: every variable is one the config schema reads`);
    const config = parseConfig(env);
    const location = config.locations[0];
    t.equal(location?.driver, 's3', `${file}: one S3 location`);
    if (location?.driver !== 's3') continue;

    const s3 = services.s3 as Service;
    const s3env = s3.environment ?? {};
    t.equal(
      new URL(location.endpoint ?? '').host,
      `s3:${(s3env.VGW_PORT ?? '').replace(/^:/, '')}`,
      `${file}: the endpoint is the gateway's port`,
    );
    t.equal(location.forcePathStyle, true, 'path style (the gateway serves no bucket host names)');
    t.equal(env.STORAGE_S3_KEY, s3env.ROOT_ACCESS_KEY, `${file}: the gateway's key`);
    t.equal(env.STORAGE_S3_SECRET, s3env.ROOT_SECRET_KEY, `${file}: the gateway's secret`);
    t.equal(env.STORAGE_S3_REGION, s3env.VGW_REGION, `${file}: the gateway's region`);
    // The bucket is a directory of the posix backend, made before the gateway starts.
    t.same(s3.entrypoint, ['/bin/sh', '-c']);
    t.same(
      s3.command,
      [`mkdir -p /data/${location.bucket} && exec versitygw posix /data`],
      `${file}: bucket ${location.bucket} made at start`,
    );
    t.ok(
      s3.volumes?.some((v) => v.endsWith(':/data')),
      `${file}: the gateway's data on a volume`,
    );
    t.same(
      s3.healthcheck?.test,
      ['CMD', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1${s3env.VGW_PORT}${s3env.VGW_HEALTH}`],
      `${file}: health check on VGW_HEALTH`,
    );
    t.equal(services.tus?.depends_on?.s3?.condition, 'service_healthy', `${file}: the server starts once the gateway answers`);
  }
});

t.test('the scaled file: replicas behind HAProxy, sharing Redis', async (t) => {
  const { services } = load('compose.scaled.yaml');
  const tus = services.tus as Service;
  const env = tus.environment ?? {};
  t.equal(tus.deploy?.replicas, 2, 'two replicas');
  t.notOk(tus.ports, 'the replicas publish no port: traffic goes through the load balancer');

  // Redis: the URL the replicas use carries the password Redis requires.
  const redis = services.redis as Service;
  const password = redis.command?.[redis.command.indexOf('--requirepass') + 1];
  t.ok(password && password.length >= 16, 'Redis has a password');
  t.equal(env.REDIS, `redis://:${password}@redis:6379/0`, 'REDIS names the redis service with its password');
  const config = parseConfig(env);
  t.equal(config.redis?.url, env.REDIS, 'the config loader takes REDIS');
  t.same(redis.healthcheck?.test, ['CMD', 'redis-cli', '--no-auth-warning', '-a', password, 'ping']);
  t.equal(tus.depends_on?.redis?.condition, 'service_healthy');
  // Client addresses from HAProxy's X-Forwarded-For (option forwardfor), trusted from private networks only.
  t.same(config.trustProxy, ['172.16.0.0/12', '192.168.0.0/16', '10.0.0.0/8']);

  // HAProxy: its configuration mounted where the official image reads it, naming the replicas.
  const lb = services.lb as Service;
  t.same(lb.ports, ['1080:1080']);
  t.same(lb.volumes, ['./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro']);
  const cfg = readFileSync(join(DOCKER, 'haproxy.cfg'), 'utf8');
  t.match(cfg, /^ {2}bind :1080$/m, 'HAProxy listens on the published port');
  const template = /^ {2}server-template tus- 1-(\d+) tus:(\d+) check$/m.exec(cfg);
  t.ok(template, 'the replicas, found by the service name');
  t.ok(Number(template?.[1]) >= (tus.deploy?.replicas ?? 0), 'enough server slots for the replicas');
  const dockerfile = readFileSync(join(DOCKER, 'Dockerfile'), 'utf8');
  t.equal(template?.[2], /PORT=(\d+)/.exec(dockerfile)?.[1], "the image's port");
  t.match(cfg, /^ {2}nameserver dns 127\.0\.0\.11:53$/m, "Docker's DNS");
});
