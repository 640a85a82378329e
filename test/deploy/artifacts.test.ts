// The deployment files, validated without Docker or Kubernetes (these machines
// run neither): the Compose files through compose-go, the loader `docker compose
// config` is built on; the Kubernetes manifests with kubeconform against the
// Kubernetes 1.33 JSON schemas; the Dockerfile with hadolint. The validators are
// installed by `npm run setup` (tools/setup/steps.ts; `npm test` checks it ran
// first); a missing one fails the test, it is never skipped. The last suite
// runs the migrate one-shot against CHUTE_DATABASE_URL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { platformTopicSpecs } from '@chute/log';
import { repoRoot } from '@chute/testing';

const TOOLS = path.join(repoRoot, '.cache/deploy-tools');
const SERVICES = ['gateway', 'scheduler', 'projector', 'worker', 'demo-app'] as const;
/** Where each service answers /healthz (the gateway and demo on their HTTP port, the others on CHUTE_PROBE_PORT). */
const HEALTH_PORT: Record<(typeof SERVICES)[number], number> = { gateway: 8080, scheduler: 8091, projector: 8092, worker: 8093, 'demo-app': 8000 };
const AUTH_SECRET = 'k1:0123456789abcdef0123456789abcdef0123456789abcdef';

function tool(relative: string): string {
  const file = path.join(TOOLS, relative);
  assert.ok(existsSync(file), `${file} is missing: install the validators with \`npm run setup\``);
  return file;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  // The validators must not depend on the caller's Compose variables.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CHUTE_')));
  return new Promise((resolve) => {
    execFile(file, args, { cwd: repoRoot, env: { ...base, ...env }, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

function scratch(name: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'chute-deploy-')), name);
  writeFileSync(file, text);
  return file;
}

type Json = Record<string, any>;

describe('Compose files (compose-go, as `docker compose config`)', () => {
  const composeConfig = (args: string[], env: NodeJS.ProcessEnv = {}) => run(tool('bin/compose-config'), args, env);
  const platformFile = 'infra/docker-compose.platform.yml';

  test('the platform file resolves, with every service at 2 replicas behind a /healthz health check', async () => {
    const { code, stdout, stderr } = await composeConfig(['-format', 'json', '-f', platformFile], { CHUTE_AUTH_SECRET: AUTH_SECRET });
    assert.equal(code, 0, stderr);
    const services = (JSON.parse(stdout) as Json)['services'] as Json;
    for (const name of ['redpanda', 'console', 'postgres', 'topics', 'migrate']) assert.ok(services[name], `no ${name} service`);
    for (const name of SERVICES) {
      const service = services[name] as Json;
      assert.equal(service['deploy']?.['replicas'], 2, `${name} replicas`);
      assert.equal(service['build']?.['target'], name, `${name} builds its own Dockerfile target`);
      const check = (service['healthcheck']?.['test'] as string[]).join(' ');
      assert.match(check, new RegExp(`127\\.0\\.0\\.1:${HEALTH_PORT[name]}/healthz`), `${name} health check`);
    }
    // One-shot steps run to completion before the services that need them.
    for (const name of ['gateway', 'scheduler', 'projector', 'worker']) {
      const after = services[name]['depends_on'] as Json;
      assert.equal(after['topics']?.['condition'], 'service_completed_successfully', `${name} waits for topics`);
      assert.equal(after['migrate']?.['condition'], 'service_completed_successfully', `${name} waits for migrate`);
    }
    assert.deepEqual(services['migrate']['command'], ['node', 'dist/services/projector/main.js', 'migrate']);
    // The topics one-shot creates the topics the services would create themselves.
    const created = [...(services['topics']['command'] as string[]).join('\n').matchAll(/create "\$CHUTE_TOPIC_PREFIX\.([a-z-]+)"/g)].map((m) => `chute.${m[1]}`);
    const expected = platformTopicSpecs({ prefix: 'chute', runEventsPartitions: 6, streamPartitions: 6, workerEventsPartitions: 1 }).map((t) => t.name);
    assert.deepEqual(created.sort(), expected.sort());
    assert.equal(services['gateway']['environment']['CHUTE_AUTH_SECRET'], AUTH_SECRET);
  });

  test('the platform file refuses to resolve without CHUTE_AUTH_SECRET, and says so', async () => {
    const { code, stderr } = await composeConfig(['-q', '-f', platformFile]);
    assert.equal(code, 1);
    assert.match(stderr, /CHUTE_AUTH_SECRET/);
  });

  test('infra/docker-compose.yml (npm run infra:up) still resolves and holds the infrastructure only', async () => {
    const { code, stdout, stderr } = await composeConfig(['-format', 'json', '-f', 'infra/docker-compose.yml']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(Object.keys((JSON.parse(stdout) as Json)['services'] as Json).sort(), ['console', 'postgres', 'redpanda']);
  });

  test('infra/docker-compose.cluster.yml resolves to three Redpanda nodes that seed each other, each on a host port of its own', async () => {
    const { code, stdout, stderr } = await composeConfig(['-format', 'json', '-f', 'infra/docker-compose.cluster.yml']);
    assert.equal(code, 0, stderr);
    const services = (JSON.parse(stdout) as Json)['services'] as Record<string, Json>;
    assert.deepEqual(Object.keys(services).sort(), ['console', 'redpanda-1', 'redpanda-2', 'redpanda-3']);
    const published = ['redpanda-1', 'redpanda-2', 'redpanda-3'].map((name) => ((services[name]!['ports'] as Json[])[0]!['published'] as string));
    assert.deepEqual(published, ['19092', '29092', '39092']);
    for (const name of ['redpanda-1', 'redpanda-2', 'redpanda-3']) {
      assert.ok((services[name]!['command'] as string[]).includes('--seeds redpanda-1:33145,redpanda-2:33145,redpanda-3:33145'), `${name} names every seed`);
    }
  });

  test('the validator rejects a file that breaks the Compose schema', async () => {
    const broken = scratch('compose.yml', 'services:\n  gateway:\n    image: chute/gateway\n    deploy:\n      replicas: two\n');
    const { code, stderr } = await composeConfig(['-q', '-f', broken]);
    assert.equal(code, 1);
    assert.match(stderr, /replicas/);
  });
});

describe('Kubernetes manifests (kubeconform, Kubernetes 1.33 schemas)', () => {
  const kubeconform = (target: string) =>
    run(tool('bin/kubeconform'), ['-strict', '-summary', '-output', 'json', '-kubernetes-version', '1.33.0', '-schema-location', path.join(TOOLS, 'schemas'), '-skip', 'Kustomization', target]);
  /** Every document of a YAML file, through the validators' own PyYAML. */
  async function documents(file: string): Promise<Json[]> {
    const { code, stdout, stderr } = await run(tool('venv/bin/python'), ['-c', 'import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))', file]);
    assert.equal(code, 0, stderr);
    return JSON.parse(stdout) as Json[];
  }

  test('every manifest is valid, strictly (no unknown fields), and none lacks a schema', async () => {
    const { code, stdout, stderr } = await kubeconform('infra/k8s');
    assert.equal(code, 0, stdout + stderr);
    const summary = (JSON.parse(stdout) as Json)['summary'] as Json;
    // 5 Deployments, 5 Services, the ConfigMap and the Secret; the Kustomization has no schema.
    assert.deepEqual(summary, { valid: 12, invalid: 0, errors: 0, skipped: 1 });
  });

  test('kubeconform rejects an unknown field, so the schemas are really applied', async () => {
    const broken = scratch('broken.yaml', readFileSync(path.join(repoRoot, 'infra/k8s/worker.yaml'), 'utf8').replace('readinessProbe:', 'readinessProbes:'));
    const { code, stdout } = await kubeconform(broken);
    assert.equal(code, 1);
    assert.match(stdout, /readinessProbes/);
  });

  test('each service has a Deployment (probes, resources, ConfigMap, Secrets) and a Service that reaches it', async () => {
    const kustomization = (await documents('infra/k8s/kustomization.yaml'))[0]!;
    const all = (await Promise.all((kustomization['resources'] as string[]).map((file) => documents(path.join('infra/k8s', file))))).flat();
    const secret = all.find((d) => d['kind'] === 'Secret')!;
    const configMap = all.find((d) => d['kind'] === 'ConfigMap')!;
    for (const name of SERVICES) {
      const deployment = all.find((d) => d['kind'] === 'Deployment' && d['metadata']['name'] === `chute-${name}`);
      const service = all.find((d) => d['kind'] === 'Service' && d['metadata']['name'] === `chute-${name}`);
      assert.ok(deployment && service, `chute-${name} needs a Deployment and a Service`);
      const pod = deployment['spec']['template'] as Json;
      const container = pod['spec']['containers'][0] as Json;
      const port = HEALTH_PORT[name];
      // The demo app has no /readyz: it is ready when it answers.
      assert.deepEqual(container['readinessProbe']['httpGet'], { path: name === 'demo-app' ? '/healthz' : '/readyz', port });
      assert.deepEqual(container['livenessProbe']['httpGet'], { path: '/healthz', port });
      assert.ok(container['resources']['requests']['memory'] && container['resources']['limits']['memory'], `${name} resources`);
      assert.equal(pod['spec']['securityContext']['runAsNonRoot'], true);
      assert.deepEqual(container['envFrom'], [{ configMapRef: { name: configMap['metadata']['name'] } }]);
      for (const env of [...(container['env'] ?? []), ...(pod['spec']['initContainers']?.[0]?.['env'] ?? [])] as Json[]) {
        const ref = env['valueFrom']?.['secretKeyRef'] as Json | undefined;
        if (ref) assert.ok(ref['name'] === secret['metadata']['name'] && ref['key'] in secret['stringData'], `${name}: ${env['name']} from a key the Secret has`);
      }
      for (const [key, value] of Object.entries(service['spec']['selector'] as Json)) assert.equal(pod['metadata']['labels'][key], value, `${name} Service selects its pods`);
      const named = new Set((container['ports'] as Json[]).map((p) => p['name']));
      for (const p of service['spec']['ports'] as Json[]) assert.ok(named.has(p['targetPort']), `${name} Service targets a container port`);
    }
    assert.equal(configMap['data']['CHUTE_PROBE_HOST'], '0.0.0.0', 'probes reachable from the kubelet');
  });
});

describe('Dockerfile (hadolint)', () => {
  const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');

  test('hadolint finds nothing, infos included', async () => {
    const { code, stdout, stderr } = await run(tool('venv/bin/hadolint'), ['--no-color', 'Dockerfile']);
    assert.equal(code, 0, stdout + stderr);
  });

  test('one target per service on a non-root runtime stage with production dependencies only', () => {
    const stages = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(stages, ['base', 'build', 'runtime', ...SERVICES]);
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'), dockerfile.indexOf('AS gateway'));
    assert.match(runtime, /npm ci --omit=dev/);
    assert.match(runtime, /^USER 1000:1000$/m);
    for (const name of SERVICES) assert.match(dockerfile, new RegExp(`CMD \\["node", "dist/services/${name}/main\\.js"\\]`));
  });
});

describe('the migrate one-shot (`node dist/services/projector/main.js migrate`)', () => {
  const migrate = (url: string) => run(process.execPath, [path.join(repoRoot, 'dist/services/projector/main.js'), 'migrate'], { CHUTE_DATABASE_URL: url });

  test('migrates the read model and exits 0, and again with nothing left to apply', async () => {
    const url = process.env['CHUTE_DATABASE_URL'];
    assert.ok(url, 'CHUTE_DATABASE_URL must point at PostgreSQL (npm test sets it)');
    await migrate(url);
    const { code, stdout, stderr } = await migrate(url);
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout.trim()), { level: 'info', service: 'projector', msg: 'read model migrated', applied: [] });
  });

  test('exits 1 with one line naming the variable when the database URL is malformed', async () => {
    const { code, stderr } = await migrate('mysql://nope');
    assert.equal(code, 1);
    assert.match(stderr.trim(), /^chute-projector: migrate failed: .*CHUTE_DATABASE_URL/);
    assert.equal(stderr.trim().split('\n').length, 1);
  });
});
