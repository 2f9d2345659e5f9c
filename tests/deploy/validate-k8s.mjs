#!/usr/bin/env node
// Offline schema validation of Kubernetes manifests, plus the structural and
// cross-reference checks that a schema cannot express.
//
//   node validate-k8s.mjs FILE.yaml...
//
// Schemas: the `kubernetes-models` package ships the Kubernetes OpenAPI
// definitions compiled to ajv validators (types, required fields, enums,
// formats such as int32/quantities). Those schemas, like the API server's,
// allow unknown fields, so a misspelt key ("readinesProbe") would pass; this
// script also runs each validator over a Proxy that records which keys the
// validator looked at, and reports every key no schema knows (the API
// server's --validate=strict behaviour). Objects the schema treats as maps
// (labels, ConfigMap data, resource lists) are enumerated by the validator
// and so never reported.
//
// Exit status: 0 all valid, 1 problems found, 2 usage or missing tools.
import { readFileSync, readdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
let YAML;
try {
  YAML = (await import("yaml")).default;
} catch {
  console.error(`validate-k8s: run 'npm ci' in ${here} first`);
  process.exit(2);
}
const schemaDir = join(here, "node_modules", "kubernetes-models", "_schemas");

const problems = [];
const problem = (file, msg) => problems.push(`${file}: ${msg}`);

// apps/v1 Deployment -> IoK8sApiAppsV1Deployment
function schemaName(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/")
    ? apiVersion.split("/")
    : ["core", apiVersion];
  const g = group.split(".")[0];
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  return `IoK8sApi${cap(g)}${cap(version)}${kind}`;
}

// Wrap `root` so that every property read (and every enumeration) is
// recorded per object.
function tracked(root) {
  const seen = new WeakMap(); // target -> Set of keys read
  const enumerated = new WeakSet(); // targets whose keys were enumerated
  const proxies = new WeakMap();
  const wrap = (v) => {
    if (v === null || typeof v !== "object") return v;
    if (proxies.has(v)) return proxies.get(v);
    seen.set(v, new Set());
    const p = new Proxy(v, {
      get(t, k, r) {
        if (typeof k === "string") seen.get(t).add(k);
        return wrap(Reflect.get(t, k, r));
      },
      has(t, k) {
        if (typeof k === "string") seen.get(t).add(k);
        return Reflect.has(t, k);
      },
      ownKeys(t) {
        enumerated.add(t);
        return Reflect.ownKeys(t);
      },
    });
    proxies.set(v, p);
    return p;
  };
  const proxy = wrap(root);
  const unknown = () => {
    const out = [];
    const walk = (v, path) => {
      if (v === null || typeof v !== "object") return;
      if (Array.isArray(v)) {
        v.forEach((x, i) => walk(x, `${path}/${i}`));
        return;
      }
      const keys = seen.get(v);
      if (!keys) return; // the validator never reached it (a type error above)
      for (const k of Object.keys(v)) {
        if (!enumerated.has(v) && !keys.has(k)) out.push(`${path}/${k}`);
        walk(v[k], `${path}/${k}`);
      }
    };
    walk(root, "");
    return out;
  };
  return { proxy, unknown };
}

async function validateSchema(file, doc) {
  const name = schemaName(doc.apiVersion, doc.kind);
  let mod;
  try {
    mod = await import(pathToFileURL(join(schemaDir, `${name}.js`)).href);
  } catch {
    problem(file, `${doc.apiVersion} ${doc.kind}: no schema (${name}); unknown apiVersion/kind?`);
    return;
  }
  const { proxy, unknown } = tracked(doc);
  const ok = mod.validate(proxy);
  if (!ok) {
    for (const e of mod.validate.errors || []) {
      const why = e.params?.allowedValues ? `must be one of ${e.params.allowedValues.join(", ")}` : JSON.stringify(e.params);
      problem(file, `${doc.kind}/${doc.metadata?.name}: ${e.instancePath || "/"} ${e.keyword}: ${why}`);
    }
  }
  for (const p of unknown()) problem(file, `${doc.kind}/${doc.metadata?.name}: unknown field ${p}`);
}

// ---------------------------------------------------------------- loading
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: validate-k8s.mjs FILE.yaml...");
  process.exit(2);
}
const docs = []; // {file, doc}
let kustomization = null;
for (const file of files) {
  const text = readFileSync(file, "utf8");
  for (const d of YAML.parseAllDocuments(text, { uniqueKeys: true })) {
    if (d.errors.length) {
      for (const e of d.errors) problem(file, `YAML: ${e.message}`);
      continue;
    }
    const doc = d.toJS();
    if (doc === null) continue;
    if (typeof doc !== "object" || !doc.apiVersion || !doc.kind) {
      problem(file, "document without apiVersion/kind");
      continue;
    }
    if (doc.kind === "Kustomization") kustomization = { file, doc };
    else docs.push({ file, doc });
  }
}

// ConfigMaps a kustomization generates are validated like written ones.
if (kustomization) {
  const dir = dirname(kustomization.file);
  for (const g of kustomization.doc.configMapGenerator || []) {
    const data = {};
    for (const entry of g.files || []) {
      const [key, path] = entry.includes("=") ? entry.split("=", 2) : [basename(entry), entry];
      try {
        data[key] = readFileSync(join(dir, path), "utf8");
      } catch (e) {
        problem(kustomization.file, `configMapGenerator ${g.name}: ${e.message}`);
      }
    }
    docs.push({
      file: `${kustomization.file} (configMapGenerator ${g.name})`,
      doc: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: g.name, labels: g.options?.labels }, data },
    });
  }
}

// ---------------------------------------------------------------- schemas
for (const { file, doc } of docs) await validateSchema(file, doc);

// ----------------------------------------------------- structural checks
const find = (kind) => docs.filter((x) => x.doc.kind === kind);
const one = (kind) => {
  const all = find(kind);
  if (all.length !== 1) problem("(manifests)", `expected exactly one ${kind}, found ${all.length}`);
  return all[0];
};
const matches = (selector, labels) =>
  selector && Object.entries(selector).every(([k, v]) => labels && labels[k] === v);
const check = (cond, file, msg) => { if (!cond) problem(file, msg); };

const dep = one("Deployment");
const svc = one("Service");
const cm = one("ConfigMap");
const sec = one("Secret");
const hpa = one("HorizontalPodAutoscaler");
const pdb = one("PodDisruptionBudget");
const np = one("NetworkPolicy");

if (dep) {
  const f = dep.file;
  const d = dep.doc;
  const podLabels = d.spec?.template?.metadata?.labels;
  const pod = d.spec?.template?.spec || {};
  const c = (pod.containers || []).find((x) => x.name === "authflow") || {};
  const sc = c.securityContext || {};
  const psc = pod.securityContext || {};
  check(d.spec?.replicas === 3, f, "Deployment: replicas must be 3");
  check(matches(d.spec?.selector?.matchLabels, podLabels), f, "Deployment: selector does not match the pod template labels");
  const http = (c.ports || []).find((p) => p.name === "http");
  check(http && http.containerPort === 8080, f, "container: needs port 8080 named http");
  for (const [probe, path] of [["readinessProbe", "/readyz"], ["livenessProbe", "/healthz"]]) {
    const g = c[probe]?.httpGet;
    check(g && g.path === path && (g.port === "http" || g.port === 8080), f, `container: ${probe} must GET ${path} on port http`);
  }
  check(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory, f, "container: cpu/memory requests and a memory limit are required");
  check(sc.runAsNonRoot === true || psc.runAsNonRoot === true, f, "runAsNonRoot must be true");
  check(sc.readOnlyRootFilesystem === true, f, "readOnlyRootFilesystem must be true");
  check(sc.allowPrivilegeEscalation === false, f, "allowPrivilegeEscalation must be false");
  check(JSON.stringify(sc.capabilities?.drop) === '["ALL"]', f, "capabilities.drop must be [ALL]");
  check((sc.seccompProfile || psc.seccompProfile)?.type === "RuntimeDefault", f, "seccompProfile must be RuntimeDefault");
  check((sc.runAsUser ?? psc.runAsUser) === 10001, f, "runAsUser must be the image's uid 10001");
  // Shutdown: preStop sleep, then SIGTERM and a drain of up to 10 s, then
  // some slack before SIGKILL.
  const cmd = c.lifecycle?.preStop?.exec?.command || [];
  const preStop = cmd[0] === "sleep" ? Number(cmd[1]) : (c.lifecycle?.preStop?.sleep?.seconds ?? 0);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  check(preStop > 0, f, "container: preStop must pause before SIGTERM so endpoints drop the pod first");
  check(grace >= preStop + 10 + 2, f, `terminationGracePeriodSeconds ${grace} < preStop ${preStop} + 10 s drain + 2 s slack`);
  check((pod.topologySpreadConstraints || []).length > 0, f, "topologySpreadConstraints missing");
  for (const t of pod.topologySpreadConstraints || [])
    check(matches(t.labelSelector?.matchLabels, podLabels), f, `topology spread on ${t.topologyKey} does not select the pods`);
  // every Secret/ConfigMap reference resolves
  for (const e of c.env || []) {
    const r = e.valueFrom?.secretKeyRef;
    if (r) {
      check(sec && r.name === sec.doc.metadata.name, f, `env ${e.name}: Secret ${r.name} is not the example Secret`);
      check(sec && sec.doc.stringData && r.key in sec.doc.stringData, f, `env ${e.name}: key ${r.key} not in the example Secret`);
    }
  }
  const envNames = (c.env || []).map((e) => e.name);
  for (const v of ["AUTHFLOW_API_KEYS", "AUTHFLOW_REDIS_URL", "AUTHFLOW_CRM_URL"])
    check(envNames.includes(v), f, `container: env ${v} missing`);
  const cfgVol = (pod.volumes || []).find((v) => v.configMap);
  check(cfgVol && cm && cfgVol.configMap.name === cm.doc.metadata.name, f, "config volume does not reference the ConfigMap");
  const mount = (c.volumeMounts || []).find((m) => cfgVol && m.name === cfgVol.name);
  const cfgEnv = (c.env || []).find((e) => e.name === "AUTHFLOW_CONFIG");
  check(mount && cfgEnv && cfgEnv.value === `${mount.mountPath}/config.json`, f, "AUTHFLOW_CONFIG must name config.json in the mounted ConfigMap");

  if (svc) {
    check(matches(svc.doc.spec?.selector, podLabels), svc.file, "Service selector does not match the pods");
    check((svc.doc.spec?.ports || []).some((p) => p.targetPort === "http" || p.targetPort === 8080), svc.file, "Service must target port http");
  }
  if (pdb) check(matches(pdb.doc.spec?.selector?.matchLabels, podLabels), pdb.file, "PDB selector does not match the pods");
  if (hpa) {
    const t = hpa.doc.spec?.scaleTargetRef || {};
    check(t.kind === "Deployment" && t.name === d.metadata.name, hpa.file, "HPA does not target the Deployment");
    check(hpa.doc.spec.minReplicas === d.spec.replicas, hpa.file, "HPA minReplicas differs from Deployment replicas");
    check(hpa.doc.spec.maxReplicas > hpa.doc.spec.minReplicas, hpa.file, "HPA maxReplicas must exceed minReplicas");
  }
  if (np) {
    const s = np.doc.spec || {};
    check(matches(s.podSelector?.matchLabels, podLabels), np.file, "NetworkPolicy does not select the pods");
    check(JSON.stringify([...(s.policyTypes || [])].sort()) === '["Egress","Ingress"]', np.file, "NetworkPolicy must cover Ingress and Egress");
    const inPorts = (s.ingress || []).flatMap((r) => (r.ports || []).map((p) => p.port));
    check(inPorts.length > 0 && inPorts.every((p) => p === 8080 || p === "http"), np.file, "ingress must allow port 8080 only");
    check((s.ingress || []).every((r) => (r.from || []).length > 0 && r.from.every((x) => x.namespaceSelector && !x.ipBlock)), np.file, "ingress must come only from labelled namespaces");
    const outPorts = new Set((s.egress || []).flatMap((r) => (r.ports || []).map((p) => `${p.protocol || "TCP"}/${p.port}`)));
    for (const p of ["TCP/6379", "TCP/443", "UDP/53", "TCP/53"])
      check(outPorts.has(p), np.file, `egress ${p} missing`);
    check((s.egress || []).every((r) => (r.ports || []).length > 0), np.file, "every egress rule must name its ports");
  }
}

if (cm) {
  const text = cm.doc.data?.["config.json"];
  let cfg = null;
  try { cfg = JSON.parse(text); } catch (e) { problem(cm.file, `config.json is not JSON: ${e.message}`); }
  if (cfg) {
    check(cfg.serviceLines && Object.keys(cfg.serviceLines).length > 0, cm.file, "config.json has no serviceLines");
    check(!("apiKeys" in cfg), cm.file, "config.json must not hold apiKeys (they belong in the Secret)");
  }
}

if (sec) {
  for (const [k, v] of Object.entries(sec.doc.stringData || {}))
    check(/change-me/.test(v), sec.file, `example Secret ${k} must hold an obvious change-me placeholder`);
  check(!sec.doc.data, sec.file, "example Secret: use stringData placeholders, not data");
}

if (kustomization) {
  const k = kustomization.doc;
  const dir = dirname(kustomization.file);
  const res = k.resources || [];
  const manifests = readdirSync(dir).filter((n) => /\.ya?ml$/.test(n) && n !== basename(kustomization.file));
  for (const r of res) check(manifests.includes(r), kustomization.file, `resource ${r} does not exist`);
  for (const m of manifests)
    if (m !== "secret.example.yaml") check(res.includes(m), kustomization.file, `${m} is not listed in resources`);
  check(!res.includes("secret.example.yaml"), kustomization.file, "the example Secret must not be applied by kustomize");
  check((k.images || []).some((i) => i.name === dep?.doc.spec.template.spec.containers[0].image.split(":")[0]), kustomization.file, "images: does not retarget the Deployment's image");
}

if (problems.length) {
  for (const p of problems) console.log(`FAIL ${p}`);
  process.exit(1);
}
console.log(`ok: ${docs.length} manifest(s) valid against the Kubernetes schemas (kubernetes-models), no unknown fields, cross-references consistent`);
