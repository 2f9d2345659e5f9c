// api-spec/openapi.yaml as a validator of live responses (ajv, JSON Schema 2020-12).
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SPEC_PATH = process.env.CONTRACT_SPEC || path.resolve(HERE, '../../../api-spec/openapi.yaml');
const SCHEMAS_ID = 'urn:authflow:openapi:schemas';

export function loadSpec(file = SPEC_PATH) {
  return YAML.parse(fs.readFileSync(file, 'utf8'));
}

/** Deep copy with component schema $refs pointed at the ajv registry. */
function rewriteRefs(node) {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
        out[k] = `${SCHEMAS_ID}#/$defs/${v.slice('#/components/schemas/'.length)}`;
      } else out[k] = rewriteRefs(v);
    }
    return out;
  }
  return node;
}

/** Resolve a local "#/components/..." $ref of a non-schema object (response, parameter, header). */
function deref(spec, obj) {
  let o = obj;
  for (let i = 0; o && o.$ref && i < 10; i++) {
    const parts = o.$ref.replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    o = parts.reduce((acc, p) => (acc == null ? acc : acc[p]), spec);
    if (!o) throw new Error(`unresolvable $ref ${obj.$ref}`);
  }
  return o;
}

export class SpecValidator {
  constructor(spec = loadSpec()) {
    this.spec = spec;
    this.ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(this.ajv); // the report schemas' date-time fields are checked, not ignored
    this.ajv.addSchema({ $id: SCHEMAS_ID, $defs: rewriteRefs(spec.components?.schemas ?? {}) });
    this.compiled = new Map();
    this.seen = new Set();
    this.routes = Object.keys(spec.paths).map((tpl) => ({
      tpl,
      re: new RegExp('^' + tpl.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '([^/]+)') + '$'),
    }));
  }

  validator(schema) {
    const key = JSON.stringify(schema);
    let v = this.compiled.get(key);
    if (!v) {
      v = this.ajv.compile(rewriteRefs(schema));
      this.compiled.set(key, v);
    }
    return v;
  }

  /** Validate `value` against `schema`; throws with ajv's errors on failure. */
  assertSchema(schema, value, where) {
    const v = this.validator(schema);
    if (!v(value)) {
      throw new Error(`${where}: does not match the spec: ${this.ajv.errorsText(v.errors, { separator: '; ' })}\n` +
        `value: ${JSON.stringify(value)}`);
    }
  }

  schemaOf(name) {
    return { $ref: `#/components/schemas/${name}` };
  }

  route(urlPath) {
    const p = urlPath.split('?')[0];
    for (const r of this.routes) if (r.re.test(p)) return r.tpl;
    return null;
  }

  /**
   * Check one live exchange against the spec. `res` is what stack.call()
   * returned; `reqBody` the JSON body sent (if any). Throws on any drift.
   */
  check(res, reqBody) {
    const where = `${res.method} ${res.path} -> ${res.status}`;
    const tpl = this.route(res.path);
    let response;
    if (!tpl) {
      // Unlisted paths: the spec promises 404 not_found with the Error body.
      if (res.status !== 404) throw new Error(`${where}: unlisted path answered ${res.status}, spec says 404`);
      response = deref(this.spec, { $ref: '#/components/responses/NotFound' });
      this.seen.add(`* (unlisted) 404`);
    } else {
      const item = this.spec.paths[tpl];
      const op = item[res.method.toLowerCase()];
      if (!op) {
        if (res.status !== 405) throw new Error(`${where}: method not in spec for ${tpl}, service answered ${res.status} (want 405)`);
        const ops = Object.keys(item).filter((k) => ['get', 'post', 'put', 'delete', 'patch'].includes(k));
        const allow = res.headers.get('allow') || '';
        const got = allow.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean).sort();
        if (JSON.stringify(got) !== JSON.stringify(ops.sort())) {
          throw new Error(`${where}: Allow "${allow}" differs from the spec's methods ${ops.join(', ')}`);
        }
        // Any operation's 405 describes the body.
        const anyOp = item[ops[0]];
        response = deref(this.spec, anyOp.responses['405']);
        if (!response) throw new Error(`${where}: the spec has no 405 for ${tpl}`);
        this.seen.add(`${res.method} ${tpl} 405`);
      } else {
        response = op.responses[String(res.status)];
        if (!response) {
          throw new Error(`${where}: status ${res.status} is not documented for ${res.method} ${tpl} ` +
            `(documented: ${Object.keys(op.responses).join(', ')}); body: ${res.text.slice(0, 300)}`);
        }
        response = deref(this.spec, response);
        this.seen.add(`${res.method} ${tpl} ${res.status}`);
        // A request the service accepted must be one the spec accepts.
        if (res.status >= 200 && res.status < 300 && reqBody !== undefined && op.requestBody) {
          const rb = deref(this.spec, op.requestBody);
          const media = rb.content?.['application/json'];
          if (media?.schema) this.assertSchema(media.schema, reqBody, `${where}: request body the service accepted`);
        }
      }
    }

    // Headers the spec marks required.
    for (const [name, h0] of Object.entries(response.headers ?? {})) {
      const h = deref(this.spec, h0);
      const v = res.headers.get(name);
      if (h.required && (v === null || v === undefined)) throw new Error(`${where}: required header ${name} missing`);
      if (v !== null && h.schema) this.assertSchema(h.schema, v, `${where}: header ${name}`);
    }

    // Body.
    const content = response.content;
    if (!content) {
      if (res.text.length) throw new Error(`${where}: the spec says no body, got ${res.text.slice(0, 200)}`);
      return;
    }
    const ct = (res.headers.get('content-type') || '').split(';')[0].trim().toLowerCase();
    const media = content[ct];
    if (!media) throw new Error(`${where}: Content-Type "${ct}" not in the spec (${Object.keys(content).join(', ')})`);
    let value = res.text;
    if (ct === 'application/json' || ct.endsWith('+json')) {
      try { value = JSON.parse(res.text); } catch (e) { throw new Error(`${where}: body is not JSON: ${e.message}`); }
    }
    if (media.schema) this.assertSchema(media.schema, value, `${where}: body`);
  }

  /** Every example in the spec (media-type examples) against its schema. */
  checkExamples() {
    let n = 0;
    const visit = (content, where) => {
      for (const [ct, media] of Object.entries(content ?? {})) {
        if (!media.schema) continue;
        const exs = [];
        if ('example' in media) exs.push(['example', media.example]);
        for (const [k, e] of Object.entries(media.examples ?? {})) exs.push([k, deref(this.spec, e).value]);
        for (const [k, v] of exs) {
          this.assertSchema(media.schema, v, `${where} ${ct} example ${k}`);
          n += 1;
        }
      }
    };
    for (const [tpl, item] of Object.entries(this.spec.paths)) {
      for (const [m, op] of Object.entries(item)) {
        if (!op || typeof op !== 'object' || !op.responses) continue;
        if (op.requestBody) visit(deref(this.spec, op.requestBody).content, `${m.toUpperCase()} ${tpl} request`);
        for (const [st, r] of Object.entries(op.responses)) visit(deref(this.spec, r).content, `${m.toUpperCase()} ${tpl} ${st}`);
      }
    }
    return n;
  }
}
