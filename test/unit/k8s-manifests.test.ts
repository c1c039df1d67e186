// Renders the kustomize overlays offline, validates every object against the Kubernetes schemas and checks the
// deployment rules those schemas cannot express (kubernetes-models has no strict mode: a misspelled field passes).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job, type IJob } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { ServiceAccount, type IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

/** The kinds the overlays may render, each with its schema. Anything else (a Secret!) is a finding. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

const APP_ROLES = ['feed', 'accounts', 'gateway', 'workers'] as const;
const PORT = 8700;
/** The gateway's internal listener (GATEWAY_OPS_PORT): metrics and probes, never behind the public Service. */
const GATEWAY_OPS_PORT = 8701;
/** Where a role is scraped and probed: its one port, except the gateway, whose PORT is public. */
const opsPortOf = (role: string | undefined) => (role === 'gateway' ? GATEWAY_OPS_PORT : PORT);
const UID = 10001;
/** Secrets the app reads from NAME or NAME_FILE (src/config/env-schema.ts): in a pod, only ever NAME_FILE. */
const FILE_SECRETS = ['ALPACA_KEY_ID', 'ALPACA_SECRET_KEY', 'ALPACA_OAUTH_CLIENT_SECRET', 'SESSION_JWT_SECRET'];
/** URLs that carry credentials: only from a Secret through secretKeyRef. */
const CREDENTIAL_URLS = ['REDIS_URL', 'DATABASE_URL', 'DATABASE_BATCH_URL', 'DATABASE_MIGRATION_URL'];
/**
 * Secret files each role reads (config.secrets in src/main/roles): without them the feed cannot log in upstream and
 * the gateway can neither call the market-data REST nor verify a session (every upgrade would be 401).
 */
const REQUIRED_FILE_SECRETS: Record<string, string[]> = {
  feed: ['ALPACA_KEY_ID', 'ALPACA_SECRET_KEY'],
  gateway: ['ALPACA_KEY_ID', 'ALPACA_SECRET_KEY'],
};
/** What each workload must be given, or the app silently falls back to its localhost defaults. */
const REQUIRED_SECRET_ENV: Record<string, string[]> = {
  feed: ['REDIS_URL', 'DATABASE_URL'],
  accounts: ['REDIS_URL', 'DATABASE_URL'],
  gateway: ['REDIS_URL', 'DATABASE_URL'],
  workers: ['REDIS_URL', 'DATABASE_BATCH_URL'],
  migrate: ['DATABASE_MIGRATION_URL'],
};
/** Server-side upstream endpoints; in dev they must all reach the simulator. */
const UPSTREAM_URLS = ['ALPACA_DATA_STREAM_URL', 'ALPACA_DATA_REST_URL', 'ALPACA_TRADING_URL', 'ALPACA_OAUTH_TOKEN_URL', 'KMS_ENDPOINT'];

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

interface Workload {
  id: string;
  kind: 'Deployment' | 'Job';
  name: string;
  role: string | undefined;
  labels: Record<string, string>;
  podLabels: Record<string, string>;
  annotations: Record<string, string>;
  pod: IPodSpec;
}

type Rule = (objs: K8sObject[]) => string[];

// ---------------------------------------------------------------------------------------------------------------
// Rendering and reading

/** `kubectl kustomize` renders offline (no cluster, no kubeconfig). */
async function render(overlay: string): Promise<K8sObject[]> {
  try {
    const { stdout } = await run(KUBECTL, ['kustomize', `k8s/overlays/${overlay}`], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    return parseManifests(stdout);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`${KUBECTL} not found: the manifest test needs a kubectl client (or set KUBECTL)`, { cause: err });
    throw new Error(`kubectl kustomize k8s/overlays/${overlay} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

function parseManifests(text: string): K8sObject[] {
  const objs: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`YAML error: ${doc.errors[0]?.message}`);
    const obj: unknown = doc.toJS();
    if (obj === null || obj === undefined) continue;
    objs.push(obj as K8sObject);
  }
  return objs;
}

const idOf = (o: K8sObject) => `${o.kind}/${o.metadata?.name}`;
const ofKind = <T>(objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind) as unknown as T[];
const component = (labels: Record<string, string> | undefined) => labels?.['app.kubernetes.io/component'];

function workloads(objs: K8sObject[]): Workload[] {
  const out: Workload[] = [];
  for (const o of objs) {
    if (o.kind !== 'Deployment' && o.kind !== 'Job') continue;
    const spec = (o as unknown as IDeployment | IJob).spec;
    const template = spec?.template;
    out.push({
      id: idOf(o),
      kind: o.kind,
      name: o.metadata.name,
      role: component(o.metadata.labels),
      labels: o.metadata.labels ?? {},
      podLabels: template?.metadata?.labels ?? {},
      annotations: template?.metadata?.annotations ?? {},
      pod: template?.spec ?? { containers: [] },
    });
  }
  return out;
}

function containersOf(w: Workload): IContainer[] {
  return [...(w.pod.initContainers ?? []), ...w.pod.containers];
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The environment a container ends up with: ConfigMaps from envFrom first, then its own env entries. */
function effectiveEnv(objs: K8sObject[], c: IContainer): Map<string, { value?: string; secretRef: boolean; from: string }> {
  const configMaps = new Map(ofKind<IConfigMap>(objs, 'ConfigMap').map((cm) => [cm.metadata?.name, cm.data ?? {}]));
  const env = new Map<string, { value?: string; secretRef: boolean; from: string }>();
  for (const source of c.envFrom ?? []) {
    const data = source.configMapRef ? configMaps.get(source.configMapRef.name) : undefined;
    for (const [k, v] of Object.entries(data ?? {})) env.set(k, { value: v, secretRef: false, from: `ConfigMap ${source.configMapRef?.name}` });
  }
  for (const e of c.env ?? []) {
    env.set(e.name, { value: e.value, secretRef: e.valueFrom?.secretKeyRef !== undefined, from: 'env' });
  }
  return env;
}

function probePort(c: IContainer, probe: IProbe | undefined): number | undefined {
  const port = probe?.httpGet?.port;
  if (typeof port === 'number') return port;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

// ---------------------------------------------------------------------------------------------------------------
// Rules for every overlay. Each returns its findings; an empty list means the rule holds.

const schema: Rule = (objs) =>
  objs.flatMap((o) => {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!Model) return [`${idOf(o)}: unexpected kind ${o.apiVersion}/${o.kind} (no schema here; a Secret must not be rendered)`];
    try {
      new Model(o as never).validate();
      return [];
    } catch (err) {
      return [`${idOf(o)}: ${(err as Error).message}`];
    }
  });

/** kubectl's default is localhost:8080: nothing of ours may use it. */
const no8080: Rule = (objs) => objs.filter((o) => /(?<![\d.])8080(?!\d)/.test(JSON.stringify(o))).map((o) => `${idOf(o)}: mentions port 8080`);

const recommendedLabels: Rule = (objs) =>
  objs.flatMap((o) => {
    const l = o.metadata.labels ?? {};
    const out: string[] = [];
    if (l['app.kubernetes.io/name'] !== 'raxx-stream') out.push(`${idOf(o)}: label app.kubernetes.io/name must be raxx-stream`);
    if (l['app.kubernetes.io/part-of'] !== 'raxx-stream') out.push(`${idOf(o)}: label app.kubernetes.io/part-of must be raxx-stream`);
    if (o.kind !== 'Namespace' && !l['app.kubernetes.io/component']) out.push(`${idOf(o)}: no app.kubernetes.io/component label`);
    return out;
  });

const podSecurity: Rule = (objs) =>
  workloads(objs).flatMap((w) => {
    const out: string[] = [];
    const psc = w.pod.securityContext ?? {};
    if (w.pod.automountServiceAccountToken !== false) out.push(`${w.id}: automountServiceAccountToken must be false`);
    if (w.pod.serviceAccountName !== 'raxx-stream') out.push(`${w.id}: serviceAccountName must be raxx-stream`);
    if (w.pod.hostNetwork || w.pod.hostPID || w.pod.hostIPC) out.push(`${w.id}: shares a host namespace`);
    for (const c of containersOf(w)) {
      const sc = c.securityContext ?? {};
      const where = `${w.id} container ${c.name}`;
      if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) out.push(`${where}: runAsNonRoot must be true`);
      if ((sc.runAsUser ?? psc.runAsUser) !== UID) out.push(`${where}: runAsUser must be the image's fixed uid ${UID}`);
      if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: readOnlyRootFilesystem must be true`);
      if (sc.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation must be false`);
      if (sc.privileged) out.push(`${where}: privileged`);
      if (!sc.capabilities?.drop?.includes('ALL')) out.push(`${where}: must drop ALL capabilities`);
      if ((sc.capabilities?.add ?? []).length > 0) out.push(`${where}: adds capabilities`);
      if ((sc.seccompProfile ?? psc.seccompProfile)?.type !== 'RuntimeDefault') out.push(`${where}: seccomp must be RuntimeDefault`);
      const r = c.resources;
      for (const kind of ['requests', 'limits'] as const) {
        for (const res of ['cpu', 'memory']) {
          if (r?.[kind]?.[res] === undefined) out.push(`${where}: no ${kind}.${res}`);
        }
      }
      const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
      const tmpVolume = w.pod.volumes?.find((v) => v.name === tmp?.name);
      if (!tmpVolume?.emptyDir) out.push(`${where}: /tmp must be an emptyDir (the root filesystem is read-only)`);
    }
    return out;
  });

/** Every long-running role: the right args, the port, probes on /healthz and /readyz, scrape annotations. */
const roleContainers: Rule = (objs) =>
  workloads(objs)
    .filter((w) => w.kind === 'Deployment')
    .flatMap((w) => {
      const out: string[] = [];
      if (!w.role) return [`${w.id}: no component label`];
      if (component(w.podLabels) !== w.role) out.push(`${w.id}: pod template component label differs from ${w.role}`);
      if (w.podLabels['app.kubernetes.io/part-of'] !== 'raxx-stream') out.push(`${w.id}: pod template lacks part-of`);
      if (w.annotations['prometheus.io/scrape'] !== 'true') out.push(`${w.id}: prometheus.io/scrape must be "true"`);
      const opsPort = opsPortOf(w.role);
      if (w.annotations['prometheus.io/port'] !== String(opsPort)) out.push(`${w.id}: prometheus.io/port must be ${opsPort}`);
      if (w.annotations['prometheus.io/path'] !== '/metrics') out.push(`${w.id}: prometheus.io/path must be /metrics`);
      if (w.pod.terminationGracePeriodSeconds === undefined) out.push(`${w.id}: set terminationGracePeriodSeconds for the role`);
      if (w.pod.enableServiceLinks !== false) out.push(`${w.id}: enableServiceLinks must be false (it injects RAXX_* variables)`);
      for (const c of w.pod.containers) {
        const where = `${w.id} container ${c.name}`;
        if (JSON.stringify(c.args) !== JSON.stringify([w.role])) out.push(`${where}: args must be ["${w.role}"]`);
        if (c.command !== undefined) out.push(`${where}: must keep the image entrypoint (node dist/src/main/role.js)`);
        if (!c.ports?.some((p) => p.containerPort === PORT)) out.push(`${where}: must expose containerPort ${PORT}`);
        if (c.livenessProbe?.httpGet?.path !== '/healthz') out.push(`${where}: livenessProbe must GET /healthz`);
        if (c.readinessProbe?.httpGet?.path !== '/readyz') out.push(`${where}: readinessProbe must GET /readyz`);
        if (c.startupProbe && c.startupProbe.httpGet?.path !== '/healthz') out.push(`${where}: startupProbe must GET /healthz`);
        for (const [kind, probe] of [['liveness', c.livenessProbe], ['readiness', c.readinessProbe], ['startup', c.startupProbe]] as const) {
          if (probe && probePort(c, probe) !== opsPort) out.push(`${where}: ${kind} probe must use port ${opsPort}`);
        }
        const env = effectiveEnv(objs, c);
        if (env.get('HOST')?.value !== '0.0.0.0') out.push(`${where}: HOST must be 0.0.0.0 (the default 127.0.0.1 is unreachable)`);
        if (env.get('PORT')?.value !== String(PORT)) out.push(`${where}: PORT must be ${PORT}`);
      }
      return out;
    });

const migrationJob: Rule = (objs) => {
  const jobs = workloads(objs).filter((w) => w.kind === 'Job');
  const migrate = jobs.find((w) => w.role === 'migrate');
  if (!migrate) return ['no migration Job (component migrate)'];
  const c = migrate.pod.containers[0];
  const out: string[] = [];
  if (JSON.stringify(c?.command) !== JSON.stringify(['node', 'dist/src/main/migrate.js'])) out.push(`${migrate.id}: must run node dist/src/main/migrate.js`);
  if (migrate.pod.restartPolicy !== 'Never') out.push(`${migrate.id}: restartPolicy must be Never (the Job retries)`);
  return out;
};

/** Secrets reach the pod as files (rotation without redeploy) or secretKeyRef URLs; never as literal values. */
const secretsHandling: Rule = (objs) => {
  const out: string[] = [];
  for (const o of objs) if (o.kind === 'Secret') out.push(`${idOf(o)}: Secrets are created out of band, never rendered`);
  for (const cm of ofKind<IConfigMap>(objs, 'ConfigMap')) {
    for (const key of Object.keys(cm.data ?? {})) {
      if (FILE_SECRETS.includes(key) || CREDENTIAL_URLS.includes(key)) out.push(`ConfigMap/${cm.metadata?.name}: ${key} does not belong in a ConfigMap`);
    }
  }
  for (const w of workloads(objs)) {
    for (const c of containersOf(w)) {
      const where = `${w.id} container ${c.name}`;
      if (c.envFrom?.some((s) => s.secretRef)) out.push(`${where}: envFrom secretRef turns secret files into env values`);
      for (const e of c.env ?? []) {
        if (FILE_SECRETS.includes(e.name)) out.push(`${where}: ${e.name} must come from ${e.name}_FILE (a mounted Secret), not env`);
        if (CREDENTIAL_URLS.includes(e.name) && !e.valueFrom?.secretKeyRef) out.push(`${where}: ${e.name} must come from a Secret (secretKeyRef)`);
        if (e.valueFrom?.secretKeyRef && !CREDENTIAL_URLS.includes(e.name)) out.push(`${where}: ${e.name} from secretKeyRef: file secrets must be mounted`);
      }
      const secretMounts = (c.volumeMounts ?? []).filter((m) => w.pod.volumes?.find((v) => v.name === m.name)?.secret);
      for (const m of secretMounts) {
        if (m.subPath || m.subPathExpr) out.push(`${where}: Secret ${m.name} mounted with subPath never sees a rotation`);
      }
      for (const [name, { value, secretRef, from }] of effectiveEnv(objs, c)) {
        if (value === undefined) {
          if (name.endsWith('_FILE') && !secretRef) out.push(`${where}: ${name} must be a literal path`);
          continue;
        }
        if (/^[a-z][a-z0-9+.-]*:\/\/[^/\s@]*:[^/\s@]*@/i.test(value)) out.push(`${where}: ${name} (${from}) embeds credentials in a URL`);
        if (/-----BEGIN/.test(value)) out.push(`${where}: ${name} (${from}) holds key material`);
        if (name.endsWith('_FILE')) {
          const mount = secretMounts.find((m) => value.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
          if (!mount) {
            out.push(`${where}: ${name}=${value} (${from}) is not a file of a mounted Secret`);
            continue;
          }
          const file = value.slice(mount.mountPath.replace(/\/$/, '').length + 1);
          const items = w.pod.volumes?.find((v) => v.name === mount.name)?.secret?.items;
          if (items && !items.some((i) => i.path === file)) out.push(`${where}: ${name}: ${file} is not projected by Secret ${mount.name}`);
        }
      }
      for (const name of w.role ? (REQUIRED_SECRET_ENV[w.role] ?? []) : []) {
        if (!effectiveEnv(objs, c).get(name)?.secretRef) out.push(`${where}: ${name} is missing (the app would fall back to localhost)`);
      }
      // Presence only: the checks above already make every *_FILE a file of a mounted Secret.
      const env = effectiveEnv(objs, c);
      const fileSecrets = [...(w.role ? (REQUIRED_FILE_SECRETS[w.role] ?? []) : [])];
      // The gateway verifies sessions with the auth service's JWKS, or else with the HS256 key (dev issuer).
      if (w.role === 'gateway' && !env.get('SESSION_JWKS_URL')?.value) fileSecrets.push('SESSION_JWT_SECRET');
      for (const name of fileSecrets) {
        if (!env.get(`${name}_FILE`)?.value) out.push(`${where}: ${name}_FILE is missing (a mounted Secret file the ${w.role} role reads)`);
      }
    }
  }
  return out;
};

const services: Rule = (objs) =>
  ofKind<IService>(objs, 'Service').flatMap((s) => {
    const id = `Service/${s.metadata?.name}`;
    const targets = workloads(objs).filter((w) => selects(s.spec?.selector, w.podLabels));
    if (targets.length !== 1) return [`${id}: selects ${targets.length} workloads, expected 1`];
    const ports = targets[0]!.pod.containers.flatMap((c) => c.ports ?? []);
    return (s.spec?.ports ?? []).flatMap((p) => {
      const target = p.targetPort ?? p.port;
      const ok = ports.some((cp) => (typeof target === 'number' ? cp.containerPort === target : cp.name === target));
      return ok ? [] : [`${id}: targetPort ${target} is no container port of ${targets[0]!.id}`];
    });
  });

const disruptionBudgets: Rule = (objs) => {
  const out: string[] = [];
  const pdbs = ofKind<IPodDisruptionBudget>(objs, 'PodDisruptionBudget');
  for (const pdb of pdbs) {
    const n = workloads(objs).filter((w) => w.kind === 'Deployment' && selects(pdb.spec?.selector?.matchLabels, w.podLabels)).length;
    if (n !== 1) out.push(`PodDisruptionBudget/${pdb.metadata?.name}: selects ${n} Deployments, expected 1`);
  }
  const feed = pdbs.find((p) => p.spec?.selector?.matchLabels?.['app.kubernetes.io/component'] === 'feed');
  if (feed?.spec?.maxUnavailable !== 1) out.push('the feed needs a PodDisruptionBudget with maxUnavailable 1 (one of two stays up)');
  return out;
};

const gatewayAutoscaling: Rule = (objs) => {
  const out: string[] = [];
  const gateway = ofKind<IDeployment>(objs, 'Deployment').find((d) => component(d.metadata?.labels) === 'gateway');
  if (!gateway) return ['no gateway Deployment'];
  if (gateway.spec?.replicas !== undefined) out.push('the gateway Deployment must not set replicas: its HPA owns the count (an apply would scale it down)');
  const hpas = ofKind<IHorizontalPodAutoscaler>(objs, 'HorizontalPodAutoscaler');
  const hpa = hpas.find((h) => h.spec?.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === gateway.metadata?.name);
  if (!hpa) return [...out, 'the gateway has no HorizontalPodAutoscaler'];
  if (hpa.apiVersion !== 'autoscaling/v2') out.push('the gateway HPA must be autoscaling/v2');
  const cpu = hpa.spec?.metrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
  if (cpu?.resource?.target.type !== 'Utilization') out.push('the gateway HPA must scale on CPU utilisation');
  for (const h of hpas) {
    const ref = h.spec?.scaleTargetRef;
    if (!objs.some((o) => o.kind === ref?.kind && o.metadata.name === ref.name)) out.push(`HPA/${h.metadata?.name}: target ${ref?.name} is not rendered`);
  }
  return out;
};

const gatewayDrain: Rule = (objs) => {
  const gw = workloads(objs).find((w) => w.kind === 'Deployment' && w.role === 'gateway');
  if (!gw) return ['no gateway Deployment'];
  const out: string[] = [];
  if (!gw.pod.containers[0]?.lifecycle?.preStop) out.push('the gateway needs a preStop pause so load balancers stop sending before it drains');
  if ((gw.pod.terminationGracePeriodSeconds ?? 30) < 60) out.push('the gateway needs a termination grace period of at least 60 s to drain sockets');
  return out;
};

const spreading: Rule = (objs) =>
  workloads(objs)
    .filter((w) => w.role === 'feed' || w.role === 'gateway')
    .flatMap((w) => {
      const spread = (w.pod.topologySpreadConstraints ?? []).some((t) => selects(t.labelSelector?.matchLabels, w.podLabels));
      const anti = [
        ...(w.pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
        ...(w.pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p) => p.podAffinityTerm),
      ].some((t) => selects(t.labelSelector?.matchLabels, w.podLabels));
      return spread || anti ? [] : [`${w.id}: needs topology spread or anti-affinity over its own pods`];
    });

const networkPolicies: Rule = (objs) => {
  const nps = ofKind<INetworkPolicy>(objs, 'NetworkPolicy');
  const out: string[] = [];
  const all = nps.find((n) => n.spec?.podSelector.matchLabels?.['app.kubernetes.io/part-of'] === 'raxx-stream');
  if (!all?.spec?.policyTypes?.includes('Ingress') || !all.spec.policyTypes.includes('Egress')) out.push('no NetworkPolicy restricting ingress and egress of every Raxx pod');
  const gwLabels = workloads(objs).find((w) => w.role === 'gateway')?.podLabels ?? {};
  const open = nps.some(
    (n) => selects(n.spec?.podSelector.matchLabels, gwLabels) && (n.spec?.ingress ?? []).some((r) => !r.from && r.ports?.some((p) => p.port === PORT)),
  );
  if (!open) out.push(`no NetworkPolicy lets clients reach the gateway on ${PORT}`);
  return out;
};

/** /metrics only on the gateway's internal port: never behind the public Service nor open to everyone. */
const gatewayMetricsPrivate: Rule = (objs) => {
  const gw = workloads(objs).find((w) => w.kind === 'Deployment' && w.role === 'gateway');
  const c = gw?.pod.containers[0];
  if (!gw || !c) return ['no gateway Deployment'];
  const out: string[] = [];
  const env = effectiveEnv(objs, c);
  if (env.get('GATEWAY_OPS_PORT')?.value !== String(GATEWAY_OPS_PORT)) out.push(`gateway: GATEWAY_OPS_PORT must be ${GATEWAY_OPS_PORT} (its ops listener)`);
  if (!c.ports?.some((p) => p.containerPort === GATEWAY_OPS_PORT)) out.push(`gateway: must expose containerPort ${GATEWAY_OPS_PORT}`);
  const portOf = (target: number | string | undefined) => (typeof target === 'number' ? target : c.ports?.find((p) => p.name === target)?.containerPort);
  for (const svc of ofKind<IService>(objs, 'Service').filter((s) => selects(s.spec?.selector, gw.podLabels))) {
    const name = svc.metadata?.name ?? '';
    const targets = (svc.spec?.ports ?? []).map((p) => portOf(p.targetPort ?? p.port));
    const internal = svc.spec?.clusterIP === 'None' && name.endsWith('-metrics');
    if (!internal && targets.includes(GATEWAY_OPS_PORT)) out.push(`Service/${name}: the public gateway Service must not expose the ops port (/metrics)`);
    if (internal && !targets.every((p) => p === GATEWAY_OPS_PORT)) out.push(`Service/${name}: must target the ops port ${GATEWAY_OPS_PORT}`);
  }
  for (const np of ofKind<INetworkPolicy>(objs, 'NetworkPolicy').filter((n) => selects(n.spec?.podSelector.matchLabels, gw.podLabels))) {
    for (const rule of np.spec?.ingress ?? []) {
      if (!rule.from && (!rule.ports || rule.ports.some((p) => p.port === GATEWAY_OPS_PORT))) out.push(`NetworkPolicy/${np.metadata?.name}: opens the gateway ops port to everyone`);
    }
  }
  const scraped = ofKind<INetworkPolicy>(objs, 'NetworkPolicy').some(
    (n) => selects(n.spec?.podSelector.matchLabels, gw.podLabels) && (n.spec?.ingress ?? []).some((r) => r.from && r.ports?.some((p) => p.port === GATEWAY_OPS_PORT)),
  );
  if (!scraped) out.push(`no NetworkPolicy lets Prometheus reach the gateway ops port ${GATEWAY_OPS_PORT}`);
  return out;
};

const serviceAccount: Rule = (objs) => {
  const sa = ofKind<IServiceAccount>(objs, 'ServiceAccount').find((s) => s.metadata?.name === 'raxx-stream');
  return sa?.automountServiceAccountToken === false ? [] : ['ServiceAccount raxx-stream must set automountServiceAccountToken: false'];
};

const namespaced = (namespace: string): Rule => (objs) => {
  const out = objs.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== namespace).map((o) => `${idOf(o)}: not in namespace ${namespace}`);
  if (!objs.some((o) => o.kind === 'Namespace' && o.metadata.name === namespace)) out.push(`Namespace ${namespace} is not rendered`);
  return out;
};

const COMMON_RULES: Record<string, Rule> = {
  'schema (kubernetes-models)': schema,
  'no port 8080': no8080,
  'recommended labels': recommendedLabels,
  'non-root, read-only, no capabilities, resources': podSecurity,
  'role containers: args, port, probes, scraping': roleContainers,
  'migration Job': migrationJob,
  'secrets as files or secretKeyRef only': secretsHandling,
  'Services reach their pods': services,
  'PodDisruptionBudgets': disruptionBudgets,
  'gateway HPA': gatewayAutoscaling,
  'gateway drain': gatewayDrain,
  'feed and gateway spread': spreading,
  'NetworkPolicies': networkPolicies,
  'gateway metrics only on its internal port': gatewayMetricsPrivate,
  'ServiceAccount': serviceAccount,
};

// ---------------------------------------------------------------------------------------------------------------
// Rules per overlay

function configOf(objs: K8sObject[]): Record<string, string> {
  const cms = ofKind<IConfigMap>(objs, 'ConfigMap').filter((cm) => cm.metadata?.name?.startsWith('raxx-config'));
  return Object.assign({}, ...cms.map((cm) => cm.data ?? {})) as Record<string, string>;
}

function replicasOf(objs: K8sObject[], role: string): number | undefined {
  return ofKind<IDeployment>(objs, 'Deployment').find((d) => component(d.metadata?.labels) === role)?.spec?.replicas;
}

function gatewayHpa(objs: K8sObject[]): IHorizontalPodAutoscaler | undefined {
  return ofKind<IHorizontalPodAutoscaler>(objs, 'HorizontalPodAutoscaler').find((h) => h.spec?.scaleTargetRef.name === 'raxx-gateway');
}

const prodHasNoSim: Rule = (objs) => {
  const out = objs
    .filter((o) => component(o.metadata.labels) === 'sim' || /\bsim\b/.test(o.metadata.name.replace(/-/g, ' ')))
    .map((o) => `${idOf(o)}: the simulator is dev/test only`);
  for (const w of workloads(objs)) for (const c of containersOf(w)) if (c.args?.includes('sim')) out.push(`${w.id}: runs the sim role`);
  for (const [k, v] of Object.entries(configOf(objs))) {
    if (/raxx-sim|localhost|127\.0\.0\.1/.test(v)) out.push(`prod config ${k}=${v} points at a simulator or localhost`);
  }
  const config = configOf(objs);
  if (config.KMS_ENDPOINT !== '') out.push('prod KMS_ENDPOINT must be set and empty (real AWS); the app default is the simulator');
  if (config.RAXX_ENV !== 'production') out.push('prod RAXX_ENV must be production');
  return out;
};

const prodScale: Rule = (objs) => {
  const out: string[] = [];
  const want: Record<string, number> = { feed: 2, accounts: 3, workers: 2 };
  for (const [role, n] of Object.entries(want)) {
    if (replicasOf(objs, role) !== n) out.push(`prod ${role} must run ${n} replicas (has ${replicasOf(objs, role)})`);
  }
  if ((gatewayHpa(objs)?.spec?.minReplicas ?? 0) < 3) out.push('prod gateway HPA must keep at least 3 replicas');
  const images = new Set(workloads(objs).flatMap((w) => containersOf(w).map((c) => c.image ?? '')));
  if (images.size !== 1) out.push(`every role must run the same image, found ${[...images].join(', ')}`);
  for (const image of images) {
    const tag = /@sha256:[0-9a-f]{64}$/.test(image) ? 'digest' : (/:([^/:]+)$/.exec(image)?.[1] ?? '');
    if (!image.includes('/') || !tag || tag === 'latest' || tag === 'dev') out.push(`prod image ${image} must name a registry and a release tag or digest`);
  }
  return out;
};

const devHasSim: Rule = (objs) => {
  const out: string[] = [];
  const sim = workloads(objs).find((w) => w.kind === 'Deployment' && w.role === 'sim');
  if (!sim) out.push('dev must run the sim Deployment');
  const svc = ofKind<IService>(objs, 'Service').find((s) => s.spec?.selector?.['app.kubernetes.io/component'] === 'sim');
  if (!svc) return [...out, 'dev must expose the sim through a Service'];
  const config = configOf(objs);
  for (const key of UPSTREAM_URLS) {
    let host = '';
    try {
      host = new URL(config[key] ?? '').hostname;
    } catch {
      // reported below
    }
    if (host !== svc.metadata?.name) out.push(`dev ${key}=${config[key]} must point at the sim Service ${svc.metadata?.name}`);
  }
  return out;
};

const devSingleReplica: Rule = (objs) => {
  const out = ofKind<IDeployment>(objs, 'Deployment')
    .filter((d) => component(d.metadata?.labels) !== 'gateway' && d.spec?.replicas !== 1)
    .map((d) => `dev Deployment/${d.metadata?.name} must run 1 replica`);
  if (gatewayHpa(objs)?.spec?.minReplicas !== 1) out.push('dev gateway HPA must start from 1 replica');
  return out;
};

const OVERLAYS: Record<string, { namespace: string; rules: Record<string, Rule> }> = {
  prod: {
    namespace: 'raxx',
    rules: { 'no simulator, nothing local': prodHasNoSim, 'replicas and image': prodScale },
  },
  dev: {
    namespace: 'raxx-dev',
    rules: { 'simulator wired in': devHasSim, 'one replica each': devSingleReplica },
  },
};

// ---------------------------------------------------------------------------------------------------------------

const rendered = new Map<string, K8sObject[]>();

beforeAll(async () => {
  await Promise.all(
    Object.keys(OVERLAYS).map(async (name) => {
      rendered.set(name, await render(name));
    }),
  );
}, 20_000);

const objsOf = (overlay: string): K8sObject[] => {
  const objs = rendered.get(overlay);
  if (!objs) throw new Error(`overlay ${overlay} was not rendered`);
  return objs;
};

describe.each(Object.entries(OVERLAYS))('k8s/overlays/%s', (overlay, { namespace, rules }) => {
  it('renders the four roles and the migration Job', () => {
    const roles = workloads(objsOf(overlay)).map((w) => w.role);
    for (const role of [...APP_ROLES, 'migrate']) expect(roles, role).toContain(role);
  });

  it.each(Object.entries({ ...COMMON_RULES, ...rules, namespace: namespaced(namespace) }))('%s', (_name, rule) => {
    expect(rule(objsOf(overlay))).toEqual([]);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(`${ROOT}/Dockerfile`, 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('builds the image the manifests expect', () => {
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS build$/m);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(runtime).toMatch(/^RUN npm ci --omit=dev/m);
    expect(runtime).toMatch(new RegExp(`^USER ${UID}$`, 'm'));
    // The node flags between are ROLE_NODE_FLAGS (test/unit/main/node-flags.test.ts holds the exact list).
    expect(runtime).toMatch(/^ENTRYPOINT \["node",(?:"--[a-z-]+",)*"dist\/src\/main\/role\.js"\]$/m);
    expect(runtime).toMatch(/^COPY drizzle \.\/drizzle$/m);
    expect(dockerfile).not.toMatch(/(?<!\d)8080(?!\d)/);
  });
});

/** Each rule must catch the mistake it exists for: break a rendered copy and expect a finding. */
describe('the rules catch a broken manifest', () => {
  const deployment = (objs: K8sObject[], role: string) => {
    const d = ofKind<IDeployment>(objs, 'Deployment').find((x) => component(x.metadata?.labels) === role);
    if (!d?.spec?.template.spec) throw new Error(`no ${role} Deployment`);
    return { d, pod: d.spec.template.spec, c: d.spec.template.spec.containers[0]! };
  };
  const cases: Array<[string, Rule, (objs: K8sObject[]) => void]> = [
    ['a wrong type', schema, (o) => void ((deployment(o, 'feed').d.spec as { replicas: unknown }).replicas = 'two')],
    ['port 8080', no8080, (o) => void (deployment(o, 'gateway').c.ports![0]!.containerPort = 8080)],
    ['a writable root filesystem', podSecurity, (o) => void delete deployment(o, 'accounts').c.securityContext!.readOnlyRootFilesystem],
    ['root', podSecurity, (o) => void (deployment(o, 'workers').c.securityContext!.runAsUser = 0)],
    ['capabilities kept', podSecurity, (o) => void (deployment(o, 'feed').c.securityContext!.capabilities = { drop: [] })],
    ['no memory limit', podSecurity, (o) => void delete deployment(o, 'gateway').c.resources!.limits!.memory],
    ['liveness on the wrong path', roleContainers, (o) => void (deployment(o, 'feed').c.livenessProbe!.httpGet!.path = '/readyz')],
    ['no readiness probe', roleContainers, (o) => void delete deployment(o, 'accounts').c.readinessProbe],
    ['HOST left at 127.0.0.1', roleContainers, (o) => void deployment(o, 'gateway').c.env!.push({ name: 'HOST', value: '127.0.0.1' })],
    ['a secret as env value', secretsHandling, (o) => void deployment(o, 'feed').c.env!.push({ name: 'ALPACA_SECRET_KEY', value: 'abc' })],
    ['a credential URL as literal', secretsHandling, (o) => {
      const e = deployment(o, 'gateway').c.env!.find((x) => x.name === 'REDIS_URL')!;
      delete e.valueFrom;
      e.value = 'rediss://raxx:hunter2@redis.internal:6380';
    }],
    ['a _FILE outside the Secret mount', secretsHandling, (o) => {
      deployment(o, 'accounts').c.env!.find((x) => x.name === 'ALPACA_KEY_ID_FILE')!.value = '/etc/alpaca-key';
    }],
    ['a Secret mounted with subPath', secretsHandling, (o) => {
      deployment(o, 'feed').c.volumeMounts!.find((m) => m.name === 'alpaca')!.subPath = 'key-id';
    }],
    ['a missing DATABASE_URL', secretsHandling, (o) => {
      const c = deployment(o, 'feed').c;
      c.env = c.env!.filter((x) => x.name !== 'DATABASE_URL');
    }],
    ['a Secret rendered', secretsHandling, (o) => void o.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' }, stringData: { a: 'b' } })],
    ['a Service with a wrong targetPort', services, (o) => {
      ofKind<IService>(o, 'Service').find((s) => s.metadata?.name === 'raxx-gateway')!.spec!.ports![0]!.targetPort = 'web';
    }],
    ['the feed PDB gone', disruptionBudgets, (o) => void o.splice(o.findIndex((x) => x.kind === 'PodDisruptionBudget' && x.metadata.name === 'raxx-feed'), 1)],
    ['gateway scraped on its public port', roleContainers, (o) => void (deployment(o, 'gateway').d.spec!.template.metadata!.annotations!['prometheus.io/port'] = '8700')],
    ['gateway probed on its public port', roleContainers, (o) => void (deployment(o, 'gateway').c.readinessProbe!.httpGet!.port = 'http')],
    ['GATEWAY_OPS_PORT not set', gatewayMetricsPrivate, (o) => {
      const c = deployment(o, 'gateway').c;
      c.env = c.env!.filter((x) => x.name !== 'GATEWAY_OPS_PORT');
    }],
    ['the public gateway Service exposing the ops port', gatewayMetricsPrivate, (o) => {
      ofKind<IService>(o, 'Service').find((s) => s.metadata?.name === 'raxx-gateway')!.spec!.ports!.push({ name: 'ops', port: 8701, targetPort: 'ops' });
    }],
    ['the ops port open to everyone', gatewayMetricsPrivate, (o) => {
      ofKind<INetworkPolicy>(o, 'NetworkPolicy').find((n) => n.metadata?.name === 'raxx-gateway-public')!.spec!.ingress![0]!.ports!.push({ protocol: 'TCP', port: 8701 });
    }],
    ['the gateway without Alpaca key files', secretsHandling, (o) => {
      const c = deployment(o, 'gateway').c;
      c.env = c.env!.filter((x) => x.name !== 'ALPACA_SECRET_KEY_FILE');
    }],
    ['prod without SESSION_JWKS_URL (and no session key file)', secretsHandling, (o) => {
      delete ofKind<IConfigMap>(o, 'ConfigMap').find((cm) => cm.metadata?.name?.startsWith('raxx-config'))!.data!.SESSION_JWKS_URL;
    }],
    ['the gateway HPA gone', gatewayAutoscaling, (o) => void o.splice(o.findIndex((x) => x.kind === 'HorizontalPodAutoscaler'), 1)],
    ['gateway replicas fixed', gatewayAutoscaling, (o) => void (deployment(o, 'gateway').d.spec!.replicas = 3)],
    ['no gateway preStop', gatewayDrain, (o) => void delete deployment(o, 'gateway').c.lifecycle],
    ['no feed spread', spreading, (o) => void delete deployment(o, 'feed').pod.topologySpreadConstraints],
    ['the sim in prod', prodHasNoSim, (o) => {
      const sim = structuredClone(deployment(o, 'workers').d);
      sim.metadata = { name: 'raxx-sim', labels: { 'app.kubernetes.io/component': 'sim' } };
      o.push(sim as unknown as K8sObject);
    }],
    ['KMS_ENDPOINT left to its default', prodHasNoSim, (o) => {
      delete ofKind<IConfigMap>(o, 'ConfigMap').find((cm) => cm.metadata?.name?.startsWith('raxx-config'))!.data!.KMS_ENDPOINT;
    }],
    ['one feed replica in prod', prodScale, (o) => void (deployment(o, 'feed').d.spec!.replicas = 1)],
    ['an untagged prod image', prodScale, (o) => {
      for (const w of workloads(o)) for (const c of w.pod.containers) c.image = 'raxx-stream';
    }],
  ];

  it.each(cases)('%s', (_name, rule, breakIt) => {
    const objs = structuredClone(objsOf('prod'));
    expect(rule(objs)).toEqual([]);
    breakIt(objs);
    expect(rule(objs).length).toBeGreaterThan(0);
  });

  it('dev gateway without its session key file (no JWKS in dev: every upgrade would be 401)', () => {
    const objs = structuredClone(objsOf('dev'));
    expect(secretsHandling(objs)).toEqual([]);
    const gw = ofKind<IDeployment>(objs, 'Deployment').find((d) => component(d.metadata?.labels) === 'gateway')!;
    const c = gw.spec!.template.spec!.containers[0]!;
    c.env = c.env!.filter((x) => x.name !== 'SESSION_JWT_SECRET_FILE');
    expect(secretsHandling(objs)).toEqual([expect.stringContaining('SESSION_JWT_SECRET_FILE is missing')]);
  });

  it('dev without the simulator', () => {
    const objs = structuredClone(objsOf('dev')).filter((o) => component(o.metadata.labels) !== 'sim');
    expect(devHasSim(objs).length).toBeGreaterThan(0);
  });
});
