// The Kubernetes examples: native sidecar, shared emptyDir, Downward API, Secret, probes, resources, securityContext.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/config.js';

const DIR = new URL('../../examples/k8s/', import.meta.url);

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML.
type Obj = any;

function docs(): { file: string; doc: Obj }[] {
  const out: { file: string; doc: Obj }[] = [];
  for (const f of readdirSync(DIR).filter((n) => n.endsWith('.yaml'))) {
    for (const d of parseAllDocuments(readFileSync(new URL(f, DIR), 'utf8'))) {
      assert.equal(d.errors.length, 0, `${f}: ${d.errors.join('; ')}`);
      out.push({ file: f, doc: d.toJS() });
    }
  }
  return out;
}

function podSpecs(): { file: string; spec: Obj }[] {
  return docs()
    .filter(({ doc }) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Pod'].includes(doc?.kind))
    .map(({ file, doc }) => ({ file, spec: doc.kind === 'Pod' ? doc.spec : doc.spec.template.spec }));
}

test('every manifest parses and has apiVersion, kind and a name', () => {
  const all = docs();
  assert.ok(all.length >= 2);
  for (const { file, doc } of all) {
    assert.ok(doc.apiVersion, `${file}: apiVersion`);
    assert.ok(doc.kind, `${file}: kind`);
    assert.ok(doc.metadata?.name, `${file}: metadata.name`);
  }
});

test('logferry runs as a native sidecar sharing the app log volume', () => {
  const specs = podSpecs();
  assert.ok(specs.length >= 1);
  for (const { file, spec } of specs) {
    const sidecar = (spec.initContainers ?? []).find((c: Obj) => c.name === 'logferry');
    assert.ok(sidecar, `${file}: logferry is an init container`);
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
    const env = Object.fromEntries((sidecar.env ?? []).map((e: Obj) => [e.name, e]));
    for (const v of ['POD_NAME', 'POD_NAMESPACE', 'NODE_NAME']) {
      assert.ok(env[v]?.valueFrom?.fieldRef?.fieldPath, `${file}: ${v} from the Downward API`);
    }
    const stateDir = env.LOGFERRY_STATE_DIR?.value as string;
    const logMount = sidecar.volumeMounts.find((m: Obj) => shared.includes(m.name)).mountPath as string;
    assert.ok(
      stateDir?.startsWith(logMount),
      `${file}: checkpoints on the shared volume survive a sidecar restart`,
    );
    const plain = Object.fromEntries(
      (sidecar.env ?? []).filter((e: Obj) => typeof e.value === 'string').map((e: Obj) => [e.name, e.value]),
    );
    const cfg = loadConfig(plain);
    assert.deepEqual(cfg.unknownVariables, [], `${file}: every LOGFERRY_ variable is one the agent knows`);
    assert.equal(sidecar.livenessProbe?.httpGet?.path, '/healthz', `${file}: liveness probe`);
    assert.equal(sidecar.readinessProbe?.httpGet?.path, '/readyz', `${file}: readiness probe`);
    const port = Number(plain.LOGFERRY_HTTP_PORT ?? 9780);
    assert.ok(
      sidecar.ports?.some((p: Obj) => p.containerPort === port),
      `${file}: the probe port is LOGFERRY_HTTP_PORT`,
    );
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
    assert.ok(usesSecret, `${file}: the collector token comes from a Secret`);
    assert.ok(
      spec.terminationGracePeriodSeconds * 1000 > Number(plain.LOGFERRY_SHUTDOWN_TIMEOUT_MS ?? 10000),
      `${file}: the grace period leaves time for the shutdown flush`,
    );
  }
});
