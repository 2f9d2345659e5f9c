// Runs api-spec/genesys/*.custom.json the way Genesys Cloud runs a Web
// Services Data Action:
//   1. the input is checked against contract.input.inputSchema;
//   2. requestUrlTemplate, each header and requestTemplate are rendered with
//      Apache Velocity ($input, $credentials, $esc); inputs that were not
//      set are absent from $input, so "${input.x}" stays literal and
//      "$!{input.x}" renders empty, as in Velocity;
//   3. the request is sent; a non-2xx answer (or no answer in time) is the
//      action's Failure (Timeout) path, and its body is not available;
//   4. each translationMap entry is a JSONPath on the answer; its value is
//      JSON-serialised (a string comes out quoted) or, when the path finds
//      nothing, taken from translationMapDefaults (already JSON text);
//   5. successTemplate is rendered with those values, parsed as JSON and
//      checked against contract.output.successSchema (draft-04).
import AjvDraft04 from 'ajv-draft-04';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JSONPath } from 'jsonpath-plus';
import velocity from 'velocityjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ACTIONS_DIR = path.resolve(HERE, '../../../api-spec/genesys');
/** The placeholder origin the shipped files use; the README tells users to replace it. */
export const PLACEHOLDER_ORIGIN = 'https://authflow.example.com';

export function loadActions() {
  const out = {};
  for (const f of fs.readdirSync(ACTIONS_DIR).filter((x) => x.endsWith('.custom.json')).sort()) {
    out[f] = JSON.parse(fs.readFileSync(path.join(ACTIONS_DIR, f), 'utf8'));
  }
  return out;
}

/** Velocity EscapeTool as Genesys exposes it as $esc. */
export const esc = {
  // EscapeTool.url = java.net.URLEncoder.encode(s, "UTF-8"): space -> '+',
  // only [A-Za-z0-9.-*_] left as is.
  url: (s) => (s == null ? undefined : encodeURIComponent(String(s))
    .replace(/%20/g, '+')
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)),
  // RFC 3986 component encoding.
  uriEncode: (s) => (s == null ? undefined : encodeURIComponent(String(s))),
  // Escape for the inside of a JSON string literal.
  jsonString: (s) => (s == null ? undefined : JSON.stringify(String(s)).slice(1, -1)),
};

export const ajv04 = new AjvDraft04({ strict: false, allErrors: true });

function render(template, context) {
  return velocity.render(template, context);
}

/** Inputs as Genesys passes them: unset ones (undefined/null) are absent. */
function inputContext(input) {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined && v !== null));
}

/**
 * Run one data action against `baseUrl` (replacing the placeholder origin).
 * Returns {path: 'success'|'failure'|'timeout', status, output, request, raw}.
 */
export async function runAction(action, input, {
  baseUrl, credentials = {}, extraHeaders = {}, dropHeaders = [], timeoutMs,
} = {}) {
  const inputs = inputContext(input);
  const validateIn = ajv04.compile(action.contract.input.inputSchema);
  if (!validateIn(inputs)) {
    throw new Error(`input does not match ${action.name} inputSchema: ${ajv04.errorsText(validateIn.errors)}`);
  }
  const ctx = { input: inputs, credentials, esc };
  const req = action.config.request;

  let url = render(req.requestUrlTemplate, ctx);
  if (!url.startsWith(PLACEHOLDER_ORIGIN + '/')) throw new Error(`${action.name}: URL ${url} does not start with ${PLACEHOLDER_ORIGIN}`);
  url = baseUrl + url.slice(PLACEHOLDER_ORIGIN.length);

  const headers = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) {
    if (!dropHeaders.includes(k)) headers[k] = render(v, ctx);
  }
  Object.assign(headers, extraHeaders);
  // Genesys sends a correlation ID with every data action request.
  headers['ININ-Correlation-Id'] = `contract-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

  let body;
  if (req.requestType !== 'GET' && req.requestType !== 'DELETE') {
    body = render(req.requestTemplate, { ...ctx, input: { rawRequest: JSON.stringify(inputs), ...inputs } });
  }
  const request = { method: req.requestType, url, headers, body };

  const ms = timeoutMs ?? (action.config.timeoutSeconds ?? 60) * 1000;
  let res;
  try {
    res = await fetch(url, { method: req.requestType, headers, body, signal: AbortSignal.timeout(ms) });
  } catch (e) {
    if (e.name === 'TimeoutError') return { path: 'timeout', request };
    throw e;
  }
  const text = await res.text();
  if (res.status < 200 || res.status > 299) return { path: 'failure', status: res.status, request, raw: text };

  const raw = JSON.parse(text);
  const resp = action.config.response;
  const translated = {};
  for (const [name, jsonPath] of Object.entries(resp.translationMap ?? {})) {
    const found = JSONPath({ path: jsonPath, json: raw, wrap: false });
    if (found === undefined || found === null) {
      if (!(name in (resp.translationMapDefaults ?? {}))) {
        return { path: 'failure', status: res.status, request, raw: text, reason: `no value and no default for ${name}` };
      }
      translated[name] = resp.translationMapDefaults[name];
    } else {
      translated[name] = JSON.stringify(found);
    }
  }
  const rendered = render(resp.successTemplate, { ...translated, rawResult: text, input: inputs });
  let output;
  try {
    output = JSON.parse(rendered);
  } catch (e) {
    return { path: 'failure', status: res.status, request, raw: text, reason: `successTemplate is not JSON: ${e.message}: ${rendered}` };
  }
  const validateOut = ajv04.compile(action.contract.output.successSchema);
  if (!validateOut(output)) {
    return { path: 'failure', status: res.status, request, raw: text, reason: `output contract: ${ajv04.errorsText(validateOut.errors)}` };
  }
  return { path: 'success', status: res.status, output, request, raw: text, rendered };
}
