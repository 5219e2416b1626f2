/**
 * Kubernetes manifests checked offline (test/unit/kubernetes-manifests.test.ts): each document
 * against the API schemas kubernetes-models compiles, strictly, and the environment a container
 * gets from its env and envFrom, as the kubelet would give it.
 */
import { readFileSync } from 'node:fs';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';

export interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
  [field: string]: unknown;
}

/** The model of each kind the manifests use; its prototype's validate() runs the kind's compiled schema on `this`. */
const MODELS: Record<string, { prototype: { validate(): void } }> = {
  'apps/v1 Deployment': Deployment,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'v1 ConfigMap': ConfigMap,
  'v1 Service': Service,
};

/** Every document of a multi-document YAML file; a YAML error throws. */
export function loadManifests(path: string): Manifest[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as Manifest;
  });
}

/**
 * What the API server would refuse in `doc`: the schema's errors (types, enums, required
 * fields), else every field the schema does not define, as `kubectl apply --validate=strict`.
 * The compiled validators accept unknown fields, but they read each field they define (and
 * each key of a free-form map, such as labels or a ConfigMap's data): run on a proxy that
 * records reads, a key never read is one the schema does not know.
 */
export function schemaProblems(doc: Manifest): string[] {
  const model = MODELS[`${doc.apiVersion} ${doc.kind}`];
  if (!model) return [`${doc.apiVersion} ${doc.kind}: no schema here for this kind (add its model to MODELS)`];
  const read = new WeakMap<object, Set<string>>();
  try {
    model.prototype.validate.call(recording(doc, read));
  } catch (error) {
    return [(error as Error).message];
  }
  return unknownFields(doc, read, '');
}

/** `value` behind proxies (each object's own, however often reached) that note the keys read into `read`. */
function recording(value: unknown, read: WeakMap<object, Set<string>>, proxies = new WeakMap<object, object>()): unknown {
  if (value === null || typeof value !== 'object') return value;
  const known = proxies.get(value);
  if (known) return known;
  const keys = new Set<string>();
  read.set(value, keys);
  const proxy = new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === 'string') keys.add(key);
      return recording(Reflect.get(target, key, receiver), read, proxies);
    },
  });
  proxies.set(value, proxy);
  return proxy;
}

function unknownFields(value: unknown, read: WeakMap<object, Set<string>>, path: string): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((item, i) => unknownFields(item, read, `${path}/${i}`));
  const keys = read.get(value);
  return Object.entries(value).flatMap(([key, inner]) =>
    keys?.has(key) ? unknownFields(inner, read, `${path}/${key}`) : [`${path}/${key}: not a field of the schema`],
  );
}

/** A container's environment: values as given, each secret a placeholder long enough for any minimum length. */
export interface ContainerEnvironment {
  env: Record<string, string>;
  /** Names given a value in the manifest itself (env[].value or a ConfigMap's data), not from a Secret. */
  literal: Set<string>;
  /** What cannot be resolved offline. */
  problems: string[];
}

export const placeholder = (secret: string, key: string) => `placeholder-${secret}-${key}-0123456789abcdef`;

/** The environment `container` gets, with the ConfigMaps among `docs` (envFrom first, then env, as the kubelet). */
export function containerEnvironment(container: IContainer, docs: readonly Manifest[]): ContainerEnvironment {
  const configMaps = new Map(
    docs.filter((d) => d.kind === 'ConfigMap').map((d) => [d.metadata?.name, (d as IConfigMap).data ?? {}] as const),
  );
  const out: ContainerEnvironment = { env: {}, literal: new Set(), problems: [] };
  for (const source of container.envFrom ?? []) {
    const data = configMaps.get(source.configMapRef?.name);
    if (!data) {
      out.problems.push(`envFrom ${JSON.stringify(source)}: only a ConfigMap of the same file can be checked`);
      continue;
    }
    for (const [name, value] of Object.entries(data)) {
      out.env[`${source.prefix ?? ''}${name}`] = value;
      out.literal.add(`${source.prefix ?? ''}${name}`);
    }
  }
  for (const { name, value, valueFrom } of container.env ?? []) {
    const secret = valueFrom?.secretKeyRef;
    const fromMap = valueFrom?.configMapKeyRef && configMaps.get(valueFrom.configMapKeyRef.name)?.[valueFrom.configMapKeyRef.key];
    if (secret) out.env[name] = placeholder(secret.name ?? '', secret.key);
    else if (fromMap !== undefined) out.env[name] = fromMap;
    else if (valueFrom) out.problems.push(`${name}: only secretKeyRef and configMapKeyRef (of the same file) can be checked`);
    else out.env[name] = value ?? '';
    if (!secret) out.literal.add(name);
  }
  return out;
}
