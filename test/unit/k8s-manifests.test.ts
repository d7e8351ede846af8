// The Kubernetes examples (examples/k8s/*.yaml): every logferry sidecar is a native sidecar sharing the app's
// emptyDir, with Downward API env, a Secret, probes, resources and a restrictive securityContext; the
// collectors beside it (Loki + Grafana, Elasticsearch, OpenTelemetry Collector) are wired to it: the endpoint
// is their Service, the sink is their protocol, the credential is the one they check, their configs parse.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { type Config, loadConfig } from '../../src/config/config.js';

const DIR = new URL('../../examples/k8s/', import.meta.url);

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML.
type Obj = any;

interface Doc {
  file: string;
  doc: Obj;
}

interface Workload {
  file: string;
  kind: string;
  name: string;
  labels: Record<string, string>;
  spec: Obj;
}

interface Sidecar {
  file: string;
  pod: Workload;
  container: Obj;
  /** The variables with a plain `value`. */
  plain: Record<string, string>;
  cfg: Config;
}

const FILES = readdirSync(DIR)
  .filter((n) => n.endsWith('.yaml'))
  .sort();

const DOCS: Doc[] = FILES.flatMap((file) =>
  parseAllDocuments(readFileSync(new URL(file, DIR), 'utf8')).map((d) => {
    assert.equal(d.errors.length, 0, `${file}: ${d.errors.join('; ')}`);
    return { file, doc: d.toJS() as Obj };
  }),
);

const of = (file: string, kind: string): Obj[] =>
  DOCS.filter((d) => d.file === file && d.doc?.kind === kind).map((d) => d.doc);

const POD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Pod', 'Job', 'CronJob'];

/** Every pod template, Jobs included. */
const ALL_PODS: Workload[] = DOCS.filter(({ doc }) => POD_KINDS.includes(doc?.kind)).map(({ file, doc }) => {
  const template =
    doc.kind === 'Pod'
      ? doc
      : doc.kind === 'CronJob'
        ? doc.spec.jobTemplate.spec.template
        : doc.spec.template;
  return {
    file,
    kind: doc.kind,
    name: doc.metadata.name,
    labels: template.metadata?.labels ?? {},
    spec: template.spec,
  };
});

const containersOf = (spec: Obj): Obj[] => [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
const hasLogferry = (w: Workload) => containersOf(w.spec).some((c) => c.name === 'logferry');

/** Long-running pods (not Jobs): apps with a logferry sidecar, and the collectors. */
const SERVING = ALL_PODS.filter((w) => !['Job', 'CronJob'].includes(w.kind));
const APP_PODS = SERVING.filter(hasLogferry);
const COLLECTOR_PODS = SERVING.filter((w) => !hasLogferry(w));

const SIDECARS: Sidecar[] = APP_PODS.map((pod) => {
  const container = containersOf(pod.spec).find((c) => c.name === 'logferry');
  const plain: Record<string, string> = Object.fromEntries(
    (container.env ?? []).filter((e: Obj) => typeof e.value === 'string').map((e: Obj) => [e.name, e.value]),
  );
  return { file: pod.file, pod, container, plain, cfg: loadConfig(plain) };
});

/** What each sink talks to: the image of the collector's main container. */
const COLLECTOR_IMAGE: Partial<Record<Config['sink'], RegExp>> = {
  loki: /(^|\/)loki:/,
  elasticsearch: /(^|\/)(elasticsearch|opensearch):/,
  otlp: /(^|\/)opentelemetry-collector(-contrib|-k8s)?:/,
};

const selects = (service: Obj, w: Workload) => {
  const sel: Record<string, string> = service.spec?.selector ?? {};
  return Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => w.labels[k] === v);
};

const kindOf = (w: Workload): Config['sink'] | null => {
  for (const [sink, re] of Object.entries(COLLECTOR_IMAGE)) {
    if (containersOf(w.spec).some((c) => re.test(c.image))) return sink as Config['sink'];
  }
  return null;
};

/** A container port (by name or number) → its number, or null. */
function containerPort(spec: Obj, port: string | number, container?: Obj): number | null {
  for (const c of container ? [container] : containersOf(spec)) {
    for (const p of c.ports ?? []) {
      if (p.name === port || p.containerPort === port) return p.containerPort;
    }
  }
  return null;
}

function secretKeys(file: string, name: string): string[] | null {
  const s = of(file, 'Secret').find((d) => d.metadata.name === name);
  return s ? [...Object.keys(s.stringData ?? {}), ...Object.keys(s.data ?? {})] : null;
}

function secretValue(file: string, name: string, key: string): string | undefined {
  const s = of(file, 'Secret').find((d) => d.metadata.name === name);
  if (s?.stringData?.[key] !== undefined) return s.stringData[key];
  return s?.data?.[key] === undefined ? undefined : Buffer.from(s.data[key], 'base64').toString('utf8');
}

function configMapData(file: string, name: string): Record<string, string> | null {
  return of(file, 'ConfigMap').find((d) => d.metadata.name === name)?.data ?? null;
}

/**
 * Where a file seen by a container comes from: the mounted ConfigMap or Secret and its key. Fails when the
 * path is not under a ConfigMap/Secret mount or the key is not in an object defined in the same file.
 */
function mountedFile(
  w: Workload,
  container: Obj,
  path: string,
): { kind: 'ConfigMap' | 'Secret'; name: string; key: string } {
  const where = `${w.file}: ${w.name}/${container.name}: ${path}`;
  const mount = (container.volumeMounts ?? []).find((m: Obj) => path.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `${where} is under a volume mount`);
  const volume = (w.spec.volumes ?? []).find((v: Obj) => v.name === mount.name);
  const source = volume?.configMap ?? volume?.secret;
  assert.ok(source, `${where} is on a ConfigMap or Secret volume`);
  const rel = posix.relative(mount.mountPath, path);
  const item = (source.items ?? []).find((i: Obj) => i.path === rel);
  if (source.items) assert.ok(item, `${where}: the volume's items hold ${rel}`);
  const key = item?.key ?? rel;
  const kind = volume.configMap ? 'ConfigMap' : 'Secret';
  const name = volume.configMap ? source.name : source.secretName;
  const keys = kind === 'Secret' ? secretKeys(w.file, name) : Object.keys(configMapData(w.file, name) ?? {});
  assert.ok(keys, `${where}: ${kind} ${name} is defined in the same file`);
  assert.ok(keys.includes(key), `${where}: ${kind} ${name} has the key ${key}`);
  return { kind, name, key };
}

/** Secrets a pod reads: mounted volumes and secretKeyRef env. */
function secretsUsed(w: Workload): Set<string> {
  const out = new Set<string>();
  for (const v of w.spec.volumes ?? []) if (v.secret) out.add(v.secret.secretName);
  for (const c of containersOf(w.spec)) {
    for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) out.add(e.valueFrom.secretKeyRef.name);
  }
  return out;
}

/** The URL's host as a Service name and its port (the scheme's default when none is given). */
function serviceOf(file: string, url: URL): { service: Obj; port: Obj } {
  const host = url.hostname.split('.')[0];
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const service = of(file, 'Service').find((s) => s.metadata.name === host);
  assert.ok(service, `${file}: ${url.href} names a Service defined in the same file (${host})`);
  const sp = (service.spec.ports ?? []).find((p: Obj) => p.port === port);
  assert.ok(sp, `${file}: Service ${host} has port ${port} (${url.href})`);
  return { service, port: sp };
}

/** Parsed YAML configs of a file's ConfigMaps, by `<configmap>/<key>`. */
function yamlConfigs(file: string): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const cm of of(file, 'ConfigMap')) {
    for (const [key, text] of Object.entries<string>(cm.data ?? {})) {
      if (/\.ya?ml$/.test(key)) out.set(`${cm.metadata.name}/${key}`, parse(text));
    }
  }
  return out;
}

const findConfig = (file: string, has: (c: Obj) => boolean): Obj | undefined =>
  [...yamlConfigs(file).values()].find((c) => c !== null && typeof c === 'object' && has(c));

test('the examples are there, and every manifest has apiVersion, kind and a name', () => {
  for (const f of ['deployment.yaml', 'loki-grafana.yaml', 'elasticsearch.yaml', 'otel-collector.yaml']) {
    assert.ok(FILES.includes(f), `examples/k8s/${f}`);
  }
  for (const { file, doc } of DOCS) {
    assert.ok(doc.apiVersion, `${file}: apiVersion`);
    assert.ok(doc.kind, `${file}: kind`);
    assert.ok(doc.metadata?.name, `${file}: metadata.name`);
  }
  const names = DOCS.map(({ doc }) => `${doc.kind}/${doc.metadata.name}`);
  const dup = names.filter((n, i) => names.indexOf(n) !== i);
  assert.deepEqual(dup, [], 'the files can be applied to one namespace: no two objects share kind and name');
});

test('every file runs logferry as a native sidecar sharing the app log volume', () => {
  for (const file of FILES)
    assert.ok(
      APP_PODS.some((w) => w.file === file),
      `${file}: an app with logferry`,
    );
  for (const { file, pod, container: sidecar, plain, cfg } of SIDECARS) {
    const spec = pod.spec;
    assert.ok(
      (spec.initContainers ?? []).includes(sidecar),
      `${file}: logferry is an init container, not a regular one`,
    );
    assert.equal(sidecar.restartPolicy, 'Always', `${file}: native sidecar (restartPolicy: Always)`);
    const shared = (spec.volumes ?? []).filter((v: Obj) => v.emptyDir !== undefined).map((v: Obj) => v.name);
    assert.ok(shared.length > 0, `${file}: an emptyDir volume`);
    const mounts = (c: Obj) => (c.volumeMounts ?? []).map((m: Obj) => m.name);
    for (const app of spec.containers) {
      assert.ok(
        mounts(app).some((n: string) => shared.includes(n) && mounts(sidecar).includes(n)),
        `${file}: ${app.name} shares an emptyDir with logferry`,
      );
    }
    const names = (sidecar.env ?? []).map((e: Obj) => e.name);
    assert.equal(new Set(names).size, names.length, `${file}: no variable set twice`);
    const env = Object.fromEntries((sidecar.env ?? []).map((e: Obj) => [e.name, e]));
    for (const v of ['POD_NAME', 'POD_NAMESPACE', 'NODE_NAME']) {
      assert.ok(env[v]?.valueFrom?.fieldRef?.fieldPath, `${file}: ${v} from the Downward API`);
    }
    const appMounts = new Set(spec.containers.flatMap(mounts));
    const logMount = sidecar.volumeMounts.find((m: Obj) => shared.includes(m.name) && appMounts.has(m.name))
      .mountPath as string;
    // The state survives a sidecar restart (an emptyDir), and the app cannot write it (no app mounts it).
    const stateMount = sidecar.volumeMounts.find(
      (m: Obj) => shared.includes(m.name) && !appMounts.has(m.name),
    )?.mountPath as string | undefined;
    assert.ok(stateMount, `${file}: an emptyDir mounted in the sidecar only, for its state`);
    assert.ok(
      cfg.stateDir === stateMount || cfg.stateDir.startsWith(`${stateMount}/`),
      `${file}: checkpoints on the sidecar's own emptyDir (${cfg.stateDir})`,
    );
    assert.ok(
      cfg.paths.every((p) => p.startsWith(`${logMount}/`)),
      `${file}: LOGFERRY_PATHS are on the shared volume`,
    );
    assert.deepEqual(cfg.unknownVariables, [], `${file}: every LOGFERRY_ variable is one the agent knows`);
    assert.equal(sidecar.livenessProbe?.httpGet?.path, '/healthz', `${file}: liveness probe`);
    assert.equal(sidecar.readinessProbe?.httpGet?.path, '/readyz', `${file}: readiness probe`);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      if (!sidecar[probe]) continue;
      assert.equal(
        containerPort(spec, sidecar[probe].httpGet.port, sidecar),
        cfg.httpPort,
        `${file}: the ${probe} port is LOGFERRY_HTTP_PORT`,
      );
    }
    assert.ok(
      sidecar.resources?.requests?.memory && sidecar.resources?.limits?.memory,
      `${file}: memory resources`,
    );
    const sc = sidecar.securityContext ?? {};
    assert.equal(sc.readOnlyRootFilesystem, true, `${file}: read-only root FS`);
    assert.equal(sc.allowPrivilegeEscalation, false, `${file}: no privilege escalation`);
    assert.ok(sc.runAsNonRoot === true || spec.securityContext?.runAsNonRoot === true, `${file}: non-root`);
    assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${file}: capabilities dropped`);
    const secretVolumes = (spec.volumes ?? []).filter((v: Obj) => v.secret).map((v: Obj) => v.name);
    const usesSecret =
      mounts(sidecar).some((n: string) => secretVolumes.includes(n)) ||
      (sidecar.env ?? []).some((e: Obj) => e.valueFrom?.secretKeyRef);
    assert.ok(usesSecret, `${file}: the collector credential comes from a Secret`);
    for (const inline of ['LOGFERRY_BEARER_TOKEN', 'LOGFERRY_BASIC_AUTH_PASSWORD', 'LOGFERRY_SPLUNK_TOKEN']) {
      assert.equal(plain[inline], undefined, `${file}: ${inline} is not written into the manifest`);
    }
    assert.ok(
      spec.terminationGracePeriodSeconds * 1000 > cfg.shutdownTimeoutMs,
      `${file}: the grace period leaves time for the shutdown flush`,
    );
  }
});

test('every secret file logferry reads is a key of a Secret mounted into it', () => {
  let files = 0;
  for (const { file, pod, container, plain } of SIDECARS) {
    for (const [name, path] of Object.entries(plain)) {
      if (!/^LOGFERRY_.*_FILE$/.test(name) || path === '') continue;
      files++;
      assert.equal(mountedFile(pod, container, path).kind, 'Secret', `${file}: ${name} is a Secret`);
    }
  }
  assert.ok(files >= SIDECARS.length, 'every sidecar reads its credential from a file');
});

test('collector pods: pinned image, resources, a readiness probe, a Service whose targetPort they expose', () => {
  const kinds = new Set(COLLECTOR_PODS.map(kindOf));
  for (const k of ['loki', 'elasticsearch', 'otlp'])
    assert.ok(kinds.has(k as Config['sink']), `a ${k} collector`);
  assert.ok(
    COLLECTOR_PODS.some((w) => containersOf(w.spec).some((c) => /(^|\/)grafana:/.test(c.image))),
    'Grafana',
  );
  for (const w of COLLECTOR_PODS) {
    const where = `${w.file}: ${w.kind} ${w.name}`;
    for (const c of containersOf(w.spec)) {
      assert.match(c.image ?? '', /^[^:@\s]+(:[\w.-]+)$/, `${where}/${c.name}: image with a tag`);
      assert.doesNotMatch(c.image, /:latest$/, `${where}/${c.name}: image pinned, not :latest`);
      assert.ok(c.resources?.requests?.memory, `${where}/${c.name}: memory request`);
      assert.ok(c.resources?.limits?.memory, `${where}/${c.name}: memory limit`);
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}/${c.name}: no escalation`);
    }
    assert.equal(w.spec.securityContext?.runAsNonRoot, true, `${where}: non-root`);
    assert.ok(
      containersOf(w.spec).some((c) => c.readinessProbe),
      `${where}: a readiness probe, so the Service only routes to a ready collector`,
    );
    const services = of(w.file, 'Service').filter((s) => selects(s, w));
    assert.ok(services.length > 0, `${where}: a Service selects it by label`);
    for (const s of services) {
      for (const p of s.spec.ports) {
        const target = p.targetPort ?? p.port;
        assert.ok(
          containerPort(w.spec, target) !== null,
          `${where}: Service ${s.metadata.name} port ${p.port} → targetPort ${target} is a container port`,
        );
      }
    }
    for (const c of containersOf(w.spec)) {
      for (const probe of [c.readinessProbe, c.livenessProbe]) {
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (port === undefined) continue;
        assert.ok(
          containerPort(w.spec, port, c) !== null,
          `${where}/${c.name}: probe port ${port} is declared`,
        );
      }
    }
  }
  for (const { file, doc: s } of DOCS.filter(({ doc }) => doc.kind === 'Service')) {
    assert.ok(
      SERVING.some((w) => w.file === file && selects(s, w)),
      `${file}: Service ${s.metadata.name} selects a pod`,
    );
  }
});

test("each sidecar's endpoint is the Service of a collector of its protocol in the same file", () => {
  let checked = 0;
  for (const { file, cfg } of SIDECARS) {
    if (COLLECTOR_IMAGE[cfg.sink] === undefined) {
      assert.ok(
        !COLLECTOR_PODS.some((w) => w.file === file && kindOf(w) !== null),
        `${file}: a file with a collector ships to it`,
      );
      continue;
    }
    checked++;
    const { service } = serviceOf(file, cfg.endpoint);
    const behind = COLLECTOR_PODS.filter((w) => w.file === file && selects(service, w));
    assert.ok(behind.length > 0, `${file}: Service ${service.metadata.name} selects a collector pod`);
    for (const w of behind) {
      assert.equal(kindOf(w), cfg.sink, `${file}: LOGFERRY_SINK=${cfg.sink} matches ${w.name}'s protocol`);
    }
  }
  assert.ok(checked >= 3, 'the Loki, Elasticsearch and OTLP sidecars were checked');
  for (const w of COLLECTOR_PODS.filter((p) => kindOf(p) !== null)) {
    assert.ok(
      SIDECARS.some((s) => s.file === w.file && s.cfg.sink === kindOf(w)),
      `${w.file}: a logferry sidecar ships to ${w.name}`,
    );
  }
});

test('the credential logferry sends is one its collector side holds', () => {
  for (const { file, cfg } of SIDECARS) {
    const others = ALL_PODS.filter((w) => w.file === file && !hasLogferry(w));
    if (others.length === 0) continue; // an external collector (deployment.yaml)
    const sidecarSecrets = SIDECARS.filter((s) => s.file === file).flatMap((s) => [...secretsUsed(s.pod)]);
    const collectorSecrets = new Set(others.flatMap((w) => [...secretsUsed(w)]));
    assert.ok(
      sidecarSecrets.some((s) => collectorSecrets.has(s)),
      `${file}: the collector (or its setup Job) reads the Secret logferry's credential comes from`,
    );
    if (cfg.basicAuthUser === '') continue;
    // A gateway's htpasswd in the same Secret: logferry's user is in it, with logferry's password if plain.
    for (const secret of of(file, 'Secret').filter((s) => s.stringData?.htpasswd)) {
      const entries = new Map<string, string>(
        (secret.stringData.htpasswd as string)
          .split('\n')
          .filter((l) => l.includes(':'))
          .map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
      );
      assert.ok(entries.has(cfg.basicAuthUser), `${file}: htpasswd has the user ${cfg.basicAuthUser}`);
      const sidecar = SIDECARS.find((s) => s.file === file)!;
      const { name, key } = mountedFile(sidecar.pod, sidecar.container, cfg.basicAuthPasswordFile);
      const hash = entries.get(cfg.basicAuthUser)!;
      if (name === secret.metadata.name && hash.startsWith('{PLAIN}')) {
        assert.equal(hash.slice(7), secretValue(file, name, key), `${file}: htpasswd and ${key} agree`);
      }
    }
  }
});

test('ConfigMaps holding YAML or JSON configs parse', () => {
  let n = 0;
  for (const { file, doc } of DOCS.filter(({ doc }) => doc.kind === 'ConfigMap')) {
    for (const [key, text] of Object.entries<string>(doc.data ?? {})) {
      const where = `${file}: ConfigMap ${doc.metadata.name} key ${key}`;
      if (/\.ya?ml$/.test(key)) {
        const d = parseAllDocuments(text);
        const docs = Array.isArray(d) ? d : [d];
        for (const x of docs) assert.equal(x.errors.length, 0, `${where}: ${x.errors.join('; ')}`);
        const value = parse(text);
        assert.ok(
          value !== null && typeof value === 'object' && !Array.isArray(value),
          `${where}: a mapping`,
        );
        n++;
      } else if (key.endsWith('.json')) {
        assert.doesNotThrow(() => JSON.parse(text), where);
        n++;
      }
    }
  }
  assert.ok(n >= 4, 'the Loki, Grafana, collector and Elasticsearch role configs were parsed');
});

test('Loki: tenant, schema and the Grafana data source agree with the sidecar', () => {
  const lokiSidecars = SIDECARS.filter((s) => s.cfg.sink === 'loki');
  assert.ok(lokiSidecars.length > 0, 'a logferry sidecar ships to Loki');
  for (const { file, cfg } of lokiSidecars) {
    const loki = findConfig(file, (c) => c.schema_config !== undefined);
    assert.ok(loki, `${file}: a Loki config`);
    // Loki's default is multi-tenant; then every request needs X-Scope-OrgID.
    const multiTenant = loki.auth_enabled !== false;
    assert.equal(cfg.lokiTenant !== '', multiTenant, `${file}: LOGFERRY_LOKI_TENANT set iff auth_enabled`);
    if (cfg.lokiStructuredMetadata) {
      assert.ok(
        loki.schema_config.configs.some((c: Obj) => c.schema === 'v13' && c.store === 'tsdb'),
        `${file}: structured metadata needs a tsdb v13 schema`,
      );
      assert.notEqual(
        loki.limits_config?.allow_structured_metadata,
        false,
        `${file}: structured metadata on`,
      );
    }
    if (loki.limits_config?.retention_period) {
      assert.ok(
        loki.compactor?.delete_request_store,
        `${file}: retention needs compactor.delete_request_store`,
      );
    }
    // The Loki container reads this config file.
    const lokiPod = COLLECTOR_PODS.find((w) => w.file === file && kindOf(w) === 'loki')!;
    const lokiContainer = containersOf(lokiPod.spec).find((c) => COLLECTOR_IMAGE.loki!.test(c.image));
    const configArg = (lokiContainer.args ?? []).find((a: string) => a.startsWith('-config.file='));
    assert.ok(configArg, `${file}: Loki is started with -config.file`);
    mountedFile(lokiPod, lokiContainer, configArg.slice('-config.file='.length));
    // An nginx gateway's user file is mounted where its config says.
    for (const [key, text] of Object.entries<string>(
      of(file, 'ConfigMap').reduce((a, cm) => Object.assign(a, cm.data), {}),
    )) {
      const userFile = /auth_basic_user_file\s+([^;\s]+);/.exec(text)?.[1];
      if (!userFile || !key.endsWith('.conf')) continue;
      const gateway = containersOf(lokiPod.spec).find((c) => /nginx/.test(c.image));
      assert.ok(gateway, `${file}: the gateway container`);
      assert.equal(mountedFile(lokiPod, gateway, userFile).kind, 'Secret', `${file}: htpasswd is a Secret`);
    }

    const provisioning = findConfig(file, (c) => Array.isArray(c.datasources));
    assert.ok(provisioning, `${file}: a Grafana data source provisioning file`);
    const ds = provisioning.datasources.find((d: Obj) => d.type === 'loki');
    assert.ok(ds, `${file}: a Loki data source`);
    const { service } = serviceOf(file, new URL(ds.url));
    assert.ok(
      COLLECTOR_PODS.some((w) => w.file === file && kindOf(w) === 'loki' && selects(service, w)),
      `${file}: Grafana queries the Loki logferry writes to`,
    );
    assert.equal(
      serviceOf(file, cfg.endpoint).service.metadata.name,
      service.metadata.name,
      `${file}: the same Service`,
    );
    if (multiTenant) {
      const n = [1, 2, 3, 4, 5].find((i) => ds.jsonData?.[`httpHeaderName${i}`] === 'X-Scope-OrgID');
      assert.ok(n, `${file}: the data source sends X-Scope-OrgID`);
      assert.equal(
        ds.secureJsonData?.[`httpHeaderValue${n}`],
        cfg.lokiTenant,
        `${file}: Grafana reads the tenant`,
      );
    }
    const grafana = COLLECTOR_PODS.find((w) =>
      containersOf(w.spec).some((c) => w.file === file && /(^|\/)grafana:/.test(c.image)),
    );
    assert.ok(grafana, `${file}: Grafana`);
    const gc = containersOf(grafana.spec).find((c) => /(^|\/)grafana:/.test(c.image));
    const dsMount = gc.volumeMounts.find((m: Obj) => m.mountPath === '/etc/grafana/provisioning/datasources');
    const dsVolume = grafana.spec.volumes.find((v: Obj) => v.name === dsMount?.name);
    assert.ok(dsVolume?.configMap, `${file}: the data source file is mounted where Grafana provisions from`);
    const envNames = new Set((gc.env ?? []).map((e: Obj) => e.name));
    const referenced = JSON.stringify(provisioning).match(/\$\{?[A-Z_][A-Z0-9_]*/g) ?? [];
    for (const ref of referenced) {
      const name = ref.replace(/^\$\{?/, '');
      assert.ok(envNames.has(name), `${file}: Grafana has ${name} for the provisioning file's $${name}`);
    }
  }
});

test('OpenTelemetry Collector: OTLP/HTTP on the port logferry sends to, batch, debug, and the token it checks', () => {
  const otlpSidecars = SIDECARS.filter((s) => s.cfg.sink === 'otlp');
  assert.ok(otlpSidecars.length > 0, 'a logferry sidecar ships to OTLP');
  for (const { file, cfg, pod, container } of otlpSidecars) {
    const otel = findConfig(file, (c) => c.receivers !== undefined && c.service?.pipelines !== undefined);
    assert.ok(otel, `${file}: a collector config`);
    const collector = COLLECTOR_PODS.find((w) => w.file === file && kindOf(w) === 'otlp')!;
    const cc = containersOf(collector.spec).find((c) => COLLECTOR_IMAGE.otlp!.test(c.image));
    const configArg = (cc.args ?? []).find((a: string) => a.startsWith('--config='));
    assert.ok(configArg, `${file}: the collector is started with --config`);
    mountedFile(collector, cc, configArg.slice('--config='.length));

    const http = otel.receivers.otlp?.protocols?.http;
    assert.ok(http, `${file}: the otlp receiver speaks HTTP`);
    const receiverPort = Number(/:(\d+)$/.exec(http.endpoint ?? '')?.[1]);
    assert.equal(receiverPort, 4318, `${file}: OTLP/HTTP on 4318`);
    assert.ok(containerPort(collector.spec, receiverPort, cc), `${file}: 4318 is a container port`);
    const { port } = serviceOf(file, cfg.endpoint);
    assert.equal(
      containerPort(collector.spec, port.targetPort ?? port.port, cc),
      receiverPort,
      `${file}: routed`,
    );

    const logs = otel.service.pipelines.logs;
    assert.ok(logs, `${file}: a logs pipeline`);
    assert.ok(logs.receivers.includes('otlp'), `${file}: logs from the otlp receiver`);
    assert.ok(logs.processors?.includes('batch'), `${file}: a batch processor`);
    assert.ok(logs.exporters.includes('debug'), `${file}: the debug exporter`);
    for (const [section, names] of [
      ['receivers', logs.receivers],
      ['processors', logs.processors ?? []],
      ['exporters', logs.exporters],
      ['extensions', otel.service.extensions ?? []],
    ] as const) {
      for (const n of names) assert.ok(n in (otel[section] ?? {}), `${file}: ${section}.${n} is defined`);
    }
    const health = otel.extensions?.health_check;
    if (health) {
      const hp = Number(/:(\d+)$/.exec(health.endpoint ?? '')?.[1]);
      assert.equal(containerPort(collector.spec, cc.readinessProbe?.httpGet?.port, cc), hp, `${file}: probe`);
    }

    if (cfg.bearerTokenFile) {
      const auth = String(http.auth?.authenticator ?? '');
      assert.ok(auth.startsWith('bearertokenauth'), `${file}: the receiver checks a bearer token`);
      assert.ok(otel.service.extensions?.includes(auth), `${file}: ${auth} is enabled`);
      const expected = mountedFile(collector, cc, otel.extensions[auth].filename);
      const sent = mountedFile(pod, container, cfg.bearerTokenFile);
      assert.deepEqual(sent, expected, `${file}: logferry sends the token the collector checks`);
    }
  }
});

test('Elasticsearch: security on, and logferry logs in as a user whose role may write its index', () => {
  const esSidecars = SIDECARS.filter((s) => s.cfg.sink === 'elasticsearch');
  assert.ok(esSidecars.length > 0, 'a logferry sidecar ships to Elasticsearch');
  for (const { file, cfg, pod, container } of esSidecars) {
    const es = COLLECTOR_PODS.find((w) => w.file === file && kindOf(w) === 'elasticsearch')!;
    const ec = containersOf(es.spec).find((c) => COLLECTOR_IMAGE.elasticsearch!.test(c.image));
    const env = Object.fromEntries((ec.env ?? []).map((e: Obj) => [e.name, e]));
    assert.equal(env['xpack.security.enabled']?.value, 'true', `${file}: security on`);
    assert.ok(env.ELASTIC_PASSWORD?.valueFrom?.secretKeyRef, `${file}: the elastic password from a Secret`);
    assert.ok(cfg.basicAuthUser && cfg.basicAuthPasswordFile, `${file}: logferry logs in with basic auth`);
    assert.notEqual(cfg.basicAuthUser, 'elastic', `${file}: not as the superuser`);
    const password = mountedFile(pod, container, cfg.basicAuthPasswordFile);

    const job = ALL_PODS.find((w) => w.file === file && w.kind === 'Job');
    assert.ok(job, `${file}: a Job creates logferry's user`);
    const jc = job.spec.containers[0];
    const script = [...(jc.command ?? []), ...(jc.args ?? [])].join(' ');
    assert.match(
      script,
      new RegExp(`/_security/user/${cfg.basicAuthUser}\\b`),
      `${file}: the Job creates the user`,
    );
    const role = /\/_security\/role\/([\w-]+)/.exec(script)?.[1];
    assert.ok(role, `${file}: the Job creates a role`);
    assert.match(script, new RegExp(`"roles":\\["${role}"\\]`), `${file}: the user has the role`);
    const passwordFile = /\$\(cat ([^)]+)\)/.exec(script)?.[1];
    assert.ok(passwordFile, `${file}: the Job reads the user's password from a file`);
    assert.deepEqual(
      mountedFile(job, jc, passwordFile),
      password,
      `${file}: the Job sets logferry's password`,
    );
    const roleFile = /--data-binary @(\/\S+)/.exec(script)?.[1];
    assert.ok(roleFile, `${file}: the role comes from a file`);
    const roleRef = mountedFile(job, jc, roleFile);
    const roleJson = JSON.parse(configMapData(file, roleRef.name)![roleRef.key]!);
    // The index (with its date placeholders filled) is matched by an index pattern granting `create`.
    const index = cfg.esIndex.replace(/%Y/g, '2026').replace(/%[mdH]/g, '01');
    const grants = roleJson.indices.filter((i: Obj) =>
      i.names.some((p: string) =>
        new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(index),
      ),
    );
    assert.ok(grants.length > 0, `${file}: the role covers the index ${index}`);
    const privileges = new Set(grants.flatMap((g: Obj) => g.privileges));
    assert.ok(
      ['create_doc', 'create', 'index', 'write', 'all'].some((p) => privileges.has(p)),
      `${file}: the role may create documents`,
    );
    assert.ok(
      ['auto_configure', 'create_index', 'manage', 'all'].some((p) => privileges.has(p)),
      `${file}: the role may create the index or data stream on first write`,
    );
  }
});
