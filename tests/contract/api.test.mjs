// The live service against api-spec/openapi.yaml: every response this file
// provokes is checked against the spec (status documented, headers, body
// schema with ajv 2020-12). Any drift fails.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { SpecValidator } from './lib/spec.mjs';
import { call, convId, crmControl, env, waitReady } from './lib/stack.mjs';

const V = new SpecValidator();

/** Call authflow and check the answer against the spec. */
async function api(method, path, opts = {}) {
  const res = await call(method, path, opts);
  V.check(res, opts.body);
  return res;
}

const start = (conversationId, fields = {}, opts = {}) =>
  api('POST', '/v1/sessions', { body: { conversationId, serviceLine: 'banking', ...fields }, ...opts });
const step = (id, kind, body, opts = {}) =>
  api('POST', `/v1/sessions/${encodeURIComponent(id)}/${kind}`, { body, ...opts });
const get = (id, opts = {}) => api('GET', `/v1/sessions/${encodeURIComponent(id)}`, opts);

/** Assert a 200 session answer and some of its values. */
function session(res, want) {
  assert.equal(res.status, 200, `${res.method} ${res.path}: ${res.text}`);
  for (const [k, v] of Object.entries(want)) assert.deepEqual(res.json[k], v, `${k} in ${res.text}`);
  return res.json;
}

function error(res, status, code) {
  assert.equal(res.status, status, `${res.method} ${res.path}: ${res.text}`);
  assert.equal(res.json.error, code, res.text);
  return res.json;
}

before(async () => {
  await crmControl({ delayMs: 0, fault: 'none' });
  await waitReady(200);
});

after(async () => {
  await crmControl({ delayMs: 0, fault: 'none' }).catch(() => {});
});

describe('the spec itself', () => {
  test('every example in openapi.yaml matches its schema', () => {
    assert.ok(V.checkExamples() >= 15);
  });

  test('the session answer schema: 17 required keys, additionalProperties false, no null', () => {
    const s = V.spec.components.schemas.SessionAnswer;
    assert.equal(s.additionalProperties, false);
    assert.equal(s.required.length, 17);
    assert.deepEqual([...s.required].sort(), Object.keys(s.properties).sort());
    // No property may admit null: walk each one through its $refs.
    const resolve = (x) => (x.$ref ? resolve(V.spec.components.schemas[x.$ref.split('/').pop()]) : x);
    const admitsNull = (x) => {
      const r = resolve(x);
      const types = [].concat(r.type ?? []);
      return types.includes('null') || 'nullable' in r || (r.enum ?? []).includes(null) ||
        [...(r.anyOf ?? []), ...(r.oneOf ?? [])].some(admitsNull) || !r.type;
    };
    for (const [k, p] of Object.entries(s.properties)) assert.ok(!admitsNull(p), `${k} admits null`);
  });
});

describe('operations endpoints', () => {
  test('GET /healthz and /readyz need no key', async () => {
    assert.deepEqual((await api('GET', '/healthz', { auth: 'none' })).json, { status: 'ok' });
    assert.deepEqual((await api('GET', '/readyz', { auth: 'none' })).json, { status: 'ready', redis: 'ok' });
  });

  test('GET /metrics is Prometheus text and needs a key', async () => {
    const r = await api('GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.text, /^# (HELP|TYPE) /m);
    assert.match(r.text, /authflow_http_requests_total\{/);
    error(await api('GET', '/metrics', { auth: 'none' }), 401, 'unauthorized');
  });
});

describe('authentication schemes', () => {
  for (const auth of ['x-api-key', 'bearer', 'basic']) {
    test(`${auth} with a valid key is accepted`, async () => {
      const id = convId(`auth-${auth}`);
      session(await start(id, { ani: 'anonymous' }, { auth }), { state: 'awaiting_identifier' });
      session(await get(id, { auth }), { conversationId: id });
    });
  }

  test('a second configured key is accepted too (rotation)', async () => {
    session(await start(convId('rot'), {}, { key: 'contract-second-key' }), { state: 'awaiting_identifier' });
  });

  test('missing or wrong keys are 401 on every /v1 endpoint', async () => {
    const id = convId('unauth');
    error(await start(id, {}, { auth: 'none' }), 401, 'unauthorized');
    error(await start(id, {}, { key: 'wrong-key-123' }), 401, 'unauthorized');
    error(await start(id, {}, { auth: 'bearer', key: 'wrong-key-123' }), 401, 'unauthorized');
    error(await start(id, {}, { auth: 'basic', key: 'wrong-key-123' }), 401, 'unauthorized');
    error(await get(id, { auth: 'none' }), 401, 'unauthorized');
    error(await api('DELETE', `/v1/sessions/${id}`, { auth: 'none' }), 401, 'unauthorized');
    error(await step(id, 'identifier', { identifier: '1' }, { auth: 'none' }), 401, 'unauthorized');
    error(await step(id, 'security', { answer: '1' }, { auth: 'none' }), 401, 'unauthorized');
    error(await step(id, 'opt-out', {}, { auth: 'none' }), 401, 'unauthorized');
  });
});

describe('the flow, every state, every outcome (all 200)', () => {
  test('ANI match -> awaiting_security -> wrong answer -> verified; start again keeps the state', async () => {
    const id = convId('ani-verified');
    let s = session(await start(id, { ani: 'tel:+13175550116', language: 'en-US' }), {
      state: 'awaiting_security', nextAction: 'ask_security', authStatus: 'identified', identified: true,
      verified: false, identificationMethod: 'ani', outcome: 'pending', lastResult: 'match',
      attemptsRemaining: 3, promptId: 'ask_security', customerId: '100234', customerName: 'Ana García',
    });
    session(await get(id), s);
    session(await step(id, 'security', { answer: '0000' }), {
      state: 'awaiting_security', lastResult: 'wrong_answer', attemptsRemaining: 2, promptId: 'ask_security_retry',
    });
    s = session(await step(id, 'security', { answer: '1234' }), {
      state: 'completed', nextAction: 'continue', authStatus: 'identified_verified', verified: true,
      outcome: 'verified', lastResult: 'match', attemptsRemaining: 0, promptId: 'welcome_verified',
    });
    session(await get(id), s);
    // A transferred call starting again gets the kept state.
    session(await start(id, { ani: 'tel:+13175550120' }), s);
  });

  for (const ani of ['tel:+13175550116', 'tel: +1 317 555 0116', 'sip:+13175550116@10.1.2.3', '+13175550116',
    'sip:+13175550116@edge.example.net;user=phone']) {
    test(`ANI form ${JSON.stringify(ani)} identifies the caller`, async () => {
      session(await start(convId('ani-form'), { ani }), { identificationMethod: 'ani', customerId: '100234' });
    });
  }

  for (const ani of ['anonymous', 'Anonymous', 'sip:anonymous@anonymous.invalid', '', 'withheld', '${input.ani}']) {
    test(`ANI ${JSON.stringify(ani)} means no ANI: ask for an identifier`, async () => {
      const id = convId('no-ani');
      const s = session(await start(id, { ani }), {
        state: 'awaiting_identifier', nextAction: 'ask_identifier', authStatus: 'not_identified',
        identified: false, identificationMethod: 'none', lastResult: 'none', attemptsRemaining: 3,
        promptId: 'ask_identifier', customerId: '', customerName: '',
      });
      session(await get(id), s);
    });
  }

  test('no ANI -> no_match, invalid_input -> identify_failed, transfer to agent', async () => {
    const id = convId('identify-failed');
    session(await start(id), { state: 'awaiting_identifier' });
    session(await step(id, 'identifier', { identifier: '999999' }), {
      state: 'awaiting_identifier', lastResult: 'no_match', attemptsRemaining: 2, promptId: 'ask_identifier_retry',
    });
    session(await step(id, 'identifier', { identifier: '12ab' }), {
      state: 'awaiting_identifier', lastResult: 'invalid_input', attemptsRemaining: 1,
    });
    const s = session(await step(id, 'identifier', { identifier: '' }), {
      state: 'completed', nextAction: 'transfer_to_agent', authStatus: 'not_identified', outcome: 'identify_failed',
      attemptsRemaining: 0, promptId: 'transfer_to_agent', customerId: '',
    });
    session(await get(id), s);
  });

  test('identifier -> security -> verified (method identifier), identifierType and unknown fields', async () => {
    const id = convId('by-identifier');
    session(await start(id, { ani: 'anonymous', extra: { ignored: true } }), { state: 'awaiting_identifier' });
    session(await step(id, 'identifier', { identifier: '82345678', identifierType: 'account_number', note: 'x' }), {
      state: 'awaiting_security', identificationMethod: 'identifier', customerId: '100241', customerName: 'Oliver Smith',
    });
    session(await step(id, 'security', { answer: '9999' }), { outcome: 'verified', authStatus: 'identified_verified' });
  });

  test('several customers share the ANI -> multiple_matches, ask for an identifier', async () => {
    session(await start(convId('multi'), { ani: 'tel:+13175550199' }), {
      state: 'awaiting_identifier', lastResult: 'multiple_matches', identified: false,
    });
  });

  test('verification not required: identified_only (identifier line, es-ES, unfilled optionals)', async () => {
    const id = convId('parcels');
    session(await start(id, { serviceLine: 'parcels', ani: '${input.ani}', language: '${input.language}' }), {
      state: 'awaiting_identifier', language: 'es-ES', identificationMethod: 'none',
    });
    session(await step(id, 'identifier', { identifier: '40000000001', identifierType: '$!{input.identifierType}' }), {
      state: 'completed', nextAction: 'continue', authStatus: 'identified', outcome: 'identified_only',
      promptId: 'welcome_identified', customerId: '100234',
    });
  });

  test('verification not required and ANI match: completed at start', async () => {
    const id = convId('retail');
    const s = session(await start(id, { serviceLine: 'retail', ani: 'tel:+13175550116', language: 'ko-KR' }), {
      state: 'completed', nextAction: 'continue', outcome: 'identified_only', language: 'ko-KR',
      identificationMethod: 'ani',
    });
    session(await get(id), s);
  });

  test('opt-out while awaiting an identifier (empty body) and while awaiting security ({})', async () => {
    const a = convId('optout-id');
    session(await start(a), { state: 'awaiting_identifier' });
    session(await api('POST', `/v1/sessions/${a}/opt-out`), {
      state: 'completed', nextAction: 'continue', outcome: 'opted_out', authStatus: 'not_identified', promptId: 'opted_out',
    });
    const b = convId('optout-sec');
    session(await start(b, { ani: 'tel:+13175550116' }), { state: 'awaiting_security' });
    session(await step(b, 'opt-out', {}), {
      state: 'completed', outcome: 'opted_out', authStatus: 'identified', identified: true, verified: false,
    });
  });

  test('wrong answers -> verify_failed; the next call of that customer -> locked', async () => {
    const id = convId('verify-failed');
    session(await start(id, { ani: 'tel:+13175550120' }), { state: 'awaiting_security', customerId: '100235' });
    session(await step(id, 'security', { answer: '1' }), { lastResult: 'wrong_answer', attemptsRemaining: 2 });
    session(await step(id, 'security', { answer: '2' }), { lastResult: 'wrong_answer', attemptsRemaining: 1 });
    session(await step(id, 'security', { answer: '3' }), {
      state: 'completed', nextAction: 'transfer_to_agent', outcome: 'verify_failed', authStatus: 'identified',
      promptId: 'transfer_to_agent', attemptsRemaining: 0,
    });
    // lockout.maxFailures is 3 in fixtures/authflow.contract.json.
    const again = convId('locked');
    session(await start(again, { ani: 'tel:+13175550120' }), {
      state: 'completed', nextAction: 'transfer_to_agent', outcome: 'locked', promptId: 'transfer_locked',
    });
  });

  test('CRM failures: at start crm_error (no attempt spent); during a submission crm_unavailable', async () => {
    const id = convId('crm');
    try {
      await crmControl({ fault: 'error' });
      session(await start(id, { ani: 'tel:+13175550116' }), {
        state: 'awaiting_identifier', lastResult: 'crm_error', attemptsRemaining: 3, identified: false,
      });
      session(await step(id, 'identifier', { identifier: '100234' }), {
        state: 'completed', nextAction: 'transfer_to_agent', outcome: 'crm_unavailable',
        promptId: 'transfer_crm_unavailable', lastResult: 'crm_error',
      });
      const g = convId('crm-garbage');
      await crmControl({ fault: 'none' });
      session(await start(g, { ani: 'tel:+13175550116' }), { state: 'awaiting_security' });
      await crmControl({ fault: 'garbage' });
      session(await step(g, 'security', { answer: '1234' }), {
        outcome: 'crm_unavailable', identified: true, verified: false, customerId: '100234',
      });
    } finally {
      await crmControl({ fault: 'none' });
    }
  });

  test('DELETE -> 204, then 404', async () => {
    const id = convId('delete');
    session(await start(id), {});
    const d = await api('DELETE', `/v1/sessions/${id}`);
    assert.equal(d.status, 204);
    error(await get(id), 404, 'not_found');
    error(await api('DELETE', `/v1/sessions/${id}`), 404, 'not_found');
  });

  test('X-Request-Id and ININ-Correlation-Id are echoed', async () => {
    const a = await api('GET', '/healthz', { auth: 'none', headers: { 'X-Request-Id': 'req-abc-123' } });
    assert.equal(a.headers.get('x-request-id'), 'req-abc-123');
    const b = await api('GET', '/healthz', { auth: 'none', headers: { 'ININ-Correlation-Id': 'inin-456' } });
    assert.equal(b.headers.get('x-request-id'), 'inin-456');
  });
});

describe('faults (non-2xx)', () => {
  test('400 invalid_json and invalid_request (the message names the field)', async () => {
    const J = { 'Content-Type': 'application/json' };
    error(await api('POST', '/v1/sessions', { raw: '{', headers: J }), 400, 'invalid_json');
    error(await api('POST', '/v1/sessions', { raw: '', headers: J }), 400, 'invalid_json');
    error(await api('POST', '/v1/sessions', { raw: '{"conversationId":"a","conversationId":"b","serviceLine":"banking"}', headers: J }), 400, 'invalid_json');
    error(await api('POST', '/v1/sessions', { raw: '[]', headers: J }), 400, 'invalid_request');
    let e = error(await api('POST', '/v1/sessions', { body: { conversationId: convId('x') } }), 400, 'invalid_request');
    assert.match(e.message, /serviceLine/);
    e = error(await api('POST', '/v1/sessions', { body: { conversationId: 5, serviceLine: 'banking' } }), 400, 'invalid_request');
    assert.match(e.message, /conversationId/);
    e = error(await api('POST', '/v1/sessions', { body: { conversationId: '${input.conversationId}', serviceLine: 'banking' } }), 400, 'invalid_request');
    assert.match(e.message, /conversationId/);
    e = error(await start(convId('x'), { serviceLine: 'no-such-line' }), 400, 'invalid_request');
    assert.match(e.message, /serviceLine/);
    e = error(await start(convId('x'), { ani: 13175550116 }), 400, 'invalid_request');
    assert.match(e.message, /ani/);
    error(await start('x'.repeat(129)), 400, 'invalid_request');
    error(await start('bad/id'), 400, 'invalid_request');
    error(await api('GET', '/v1/sessions/a%2Fb'), 400, 'invalid_request');
    error(await api('GET', `/v1/sessions/${'y'.repeat(129)}`), 400, 'invalid_request');

    const id = convId('bad-steps');
    session(await start(id), {});
    e = error(await step(id, 'identifier', {}), 400, 'invalid_request');
    assert.match(e.message, /identifier/);
    e = error(await step(id, 'identifier', { identifier: 100234 }), 400, 'invalid_request');
    assert.match(e.message, /identifier/);
    e = error(await step(id, 'identifier', { identifier: '1', identifierType: 'passport' }), 400, 'invalid_request');
    assert.match(e.message, /identifierType/);
    e = error(await step(id, 'security', { answer: null }), 400, 'invalid_request');
    assert.match(e.message, /answer/);
    error(await api('POST', `/v1/sessions/${id}/opt-out`, { raw: 'nope', headers: J }), 400, 'invalid_json');
    // None of that spent an attempt.
    session(await get(id), { attemptsRemaining: 3, state: 'awaiting_identifier' });
  });

  test('404 not_found: unknown session, unknown endpoint', async () => {
    const id = convId('missing');
    error(await get(id), 404, 'not_found');
    error(await step(id, 'identifier', { identifier: '1' }), 404, 'not_found');
    error(await step(id, 'security', { answer: '1' }), 404, 'not_found');
    error(await step(id, 'opt-out', {}), 404, 'not_found');
    error(await api('GET', '/v2/sessions'), 404, 'not_found');
    error(await api('GET', '/v1/sessions/x/unknown-step'), 404, 'not_found');
  });

  test('405 method_not_allowed with Allow', async () => {
    const id = convId('m');
    for (const [m, p] of [['GET', '/v1/sessions'], ['PUT', `/v1/sessions/${id}`], ['GET', `/v1/sessions/${id}/identifier`],
      ['DELETE', `/v1/sessions/${id}/security`], ['PATCH', `/v1/sessions/${id}/opt-out`], ['POST', '/healthz'],
      ['DELETE', '/readyz'], ['POST', '/metrics']]) {
      error(await api(m, p), 405, 'method_not_allowed');
    }
  });

  test('409 wrong_state carries the state', async () => {
    const id = convId('wrong-state');
    session(await start(id), { state: 'awaiting_identifier' });
    let e = error(await step(id, 'security', { answer: '1234' }), 409, 'wrong_state');
    assert.equal(e.state, 'awaiting_identifier');
    session(await step(id, 'opt-out', {}), { state: 'completed' });
    e = error(await step(id, 'identifier', { identifier: '100234' }), 409, 'wrong_state');
    assert.equal(e.state, 'completed');
    e = error(await step(id, 'opt-out', {}), 409, 'wrong_state');
    assert.equal(e.state, 'completed');
    const s = convId('wrong-state-sec');
    session(await start(s, { ani: 'tel:+13175550116' }), { state: 'awaiting_security' });
    e = error(await step(s, 'identifier', { identifier: '100234' }), 409, 'wrong_state');
    assert.equal(e.state, 'awaiting_security');
  });

  test('409 busy while another step of the session waits on the CRM', async () => {
    const id = convId('busy');
    session(await start(id), { state: 'awaiting_identifier' });
    try {
      await crmControl({ delayMs: 1500 });
      const slow = step(id, 'identifier', { identifier: '100241' });
      await sleep(400);
      error(await step(id, 'identifier', { identifier: '100241' }), 409, 'busy');
      error(await step(id, 'opt-out', {}), 409, 'busy');
      session(await slow, { state: 'awaiting_security', customerId: '100241' });
    } finally {
      await crmControl({ delayMs: 0 });
    }
  });

  test('413 payload_too_large over 16 KiB', async () => {
    const big = JSON.stringify({ conversationId: convId('big'), serviceLine: 'banking', pad: 'x'.repeat(17000) });
    const J = { 'Content-Type': 'application/json' };
    error(await api('POST', '/v1/sessions', { raw: big, headers: J }), 413, 'payload_too_large');
    error(await api('POST', `/v1/sessions/${convId('big')}/security`, { raw: big, headers: J }), 413, 'payload_too_large');
  });

  test('413 payload_too_large for a chunked body over 16 KiB (no Content-Length)', async () => {
    const u = new URL(env.baseUrl);
    const res = await new Promise((resolve, reject) => {
      const req = http.request({
        host: u.hostname, port: u.port, path: '/v1/sessions', method: 'POST', agent: false, timeout: 8000,
        headers: { 'X-API-Key': env.apiKey, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      }, (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (d) => { text += d; });
        r.on('end', () => resolve({
          method: 'POST', path: '/v1/sessions', status: r.statusCode, text,
          headers: new Headers(Object.entries(r.headers).map(([k, v]) => [k, String(v)])),
          json: text ? JSON.parse(text) : undefined,
        }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.write(`{"conversationId":"${convId('chunked')}","serviceLine":"banking","pad":"`);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(2000));
      req.end('"}');
    });
    V.check(res);
    error(res, 413, 'payload_too_large');
  });

  test('415 unsupported_media_type for a Content-Type that is not JSON', async () => {
    const body = JSON.stringify({ conversationId: convId('ct'), serviceLine: 'banking' });
    error(await api('POST', '/v1/sessions', { raw: body, headers: { 'Content-Type': 'text/plain' } }), 415, 'unsupported_media_type');
    error(await api('POST', '/v1/sessions', { raw: 'a=b', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    error(await api('GET', `/v1/sessions/${convId('ct')}`, { headers: { 'Content-Type': 'text/xml' } }), 415, 'unsupported_media_type');
    // JSON with parameters or a +json suffix is fine.
    session(await api('POST', '/v1/sessions', { raw: body, headers: { 'Content-Type': 'application/json; charset=utf-8' } }), {});
  });
});

/** POST /v1/handoffs with the handoff key; asserts the 201 and returns the code. */
async function createHandoff(body) {
  const r = await api('POST', '/v1/handoffs', { body, key: env.handoffKey });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(Object.keys(r.json).sort(), ['code', 'expiresInSeconds']);
  assert.match(r.json.code, /^[0-9]{10}$/);
  assert.equal(r.json.expiresInSeconds, 300);
  return r.json.code;
}

describe('context across channels', () => {
  test('linked: a verified conversation carries to a callback with no security question', async () => {
    const first = convId('link-a');
    session(await start(first, { ani: 'tel:+13175550116' }), { state: 'awaiting_security' });
    session(await step(first, 'security', { answer: '1234' }), { outcome: 'verified' });
    const cb = convId('link-b');
    // From the same number: a link carries the verification to that number only.
    const s = session(await start(cb, { ani: 'tel:+13175550116', linkedConversationId: first, channel: 'callback' }), {
      state: 'completed', nextAction: 'continue', outcome: 'verified', authStatus: 'identified_verified',
      identified: true, verified: true, identificationMethod: 'linked', customerId: '100234',
      customerName: 'Ana García', promptId: 'welcome_verified',
    });
    session(await get(cb), s);
    // The linked session itself is not changed.
    session(await get(first), { identificationMethod: 'ani', outcome: 'verified' });
  });

  test('linked: identified only -> the new line asks only the security answer', async () => {
    const first = convId('link-io');
    session(await start(first, { serviceLine: 'parcels' }), { state: 'awaiting_identifier' });
    session(await step(first, 'identifier', { identifier: '40000000001' }), { outcome: 'identified_only', customerId: '100234' });
    const next = convId('link-io-b');
    session(await start(next, { linkedConversationId: first, channel: 'voice' }), {
      state: 'awaiting_security', nextAction: 'ask_security', identificationMethod: 'linked',
      customerId: '100234', verified: false, attemptsRemaining: 3,
    });
    session(await step(next, 'security', { answer: '1234' }), { outcome: 'verified', identificationMethod: 'linked' });
  });

  test('linked: an unusable link is ignored; unset forms are absent; malformed values are 400', async () => {
    session(await start(convId('link-unknown'), { ani: 'anonymous', linkedConversationId: convId('never-was') }), {
      state: 'awaiting_identifier', identificationMethod: 'none', attemptsRemaining: 3,
    });
    const pending = convId('link-pending');
    session(await start(pending), { state: 'awaiting_identifier' });
    session(await start(convId('link-to-pending'), { ani: 'tel:+13175550116', linkedConversationId: pending }), {
      state: 'awaiting_security', identificationMethod: 'ani',
    });
    for (const unset of ['', '${input.linkedConversationId}', null]) {
      session(await start(convId('link-unset'), { linkedConversationId: unset, channel: unset === null ? null : '' }), {
        state: 'awaiting_identifier', identificationMethod: 'none',
      });
    }
    let e = error(await start(convId('x'), { linkedConversationId: 'a/b' }), 400, 'invalid_request');
    assert.match(e.message, /linkedConversationId/);
    e = error(await start(convId('x'), { linkedConversationId: 42 }), 400, 'invalid_request');
    assert.match(e.message, /linkedConversationId/);
    for (const channel of ['Voice', 'web-chat', 'x'.repeat(33), 7]) {
      e = error(await start(convId('x'), { channel }), 400, 'invalid_request');
      assert.match(e.message, /channel/);
    }
  });

  test('handoff: created by the back end, redeemed once by the IVR', async () => {
    const code = await createHandoff({ customerId: '100244', customerName: 'Lee Chen', verified: true, channel: 'app' });
    const id = convId('handoff');
    session(await start(id, { ani: 'anonymous' }), { state: 'awaiting_identifier' });
    session(await step(id, 'handoff', { code: `${code.slice(0, 3)} ${code.slice(3, 6)}-${code.slice(6)}` }), {
      state: 'completed', nextAction: 'continue', outcome: 'verified', authStatus: 'identified_verified',
      identificationMethod: 'handoff', customerId: '100244', customerName: 'Lee Chen', lastResult: 'match',
    });
    // Used up: the same code on another call is a failed identify attempt.
    const again = convId('handoff-again');
    session(await start(again, { ani: 'anonymous' }), { attemptsRemaining: 3 });
    session(await step(again, 'handoff', { code }), {
      state: 'awaiting_identifier', lastResult: 'no_match', attemptsRemaining: 2, identified: false,
    });
    session(await step(again, 'handoff', { code: '12' }), { lastResult: 'invalid_input', attemptsRemaining: 1 });
    // A completed session takes no code; an unknown one is 404; a body without one is 400.
    error(await step(id, 'handoff', { code }), 409, 'wrong_state');
    error(await step(convId('handoff-none'), 'handoff', { code }), 404, 'not_found');
    const e = error(await step(again, 'handoff', {}), 400, 'invalid_request');
    assert.match(e.message, /code/);
  });

  test('handoff: not verified -> the security answer is still asked; redeemable while awaiting it', async () => {
    const code = await createHandoff({ customerId: '100234', verified: false });
    const id = convId('handoff-unverified');
    session(await start(id, { ani: 'anonymous' }), { state: 'awaiting_identifier' });
    session(await step(id, 'handoff', { code }), {
      state: 'awaiting_security', identificationMethod: 'handoff', customerId: '100234', verified: false,
    });
    session(await step(id, 'security', { answer: '1234' }), { outcome: 'verified', identificationMethod: 'handoff' });
    const code2 = await createHandoff({ customerId: '100234', verified: true, serviceLine: 'banking', phone: '+13175550116' });
    const sec = convId('handoff-in-security');
    session(await start(sec, { ani: 'tel:+13175550116' }), { state: 'awaiting_security' });
    session(await step(sec, 'handoff', { code: code2 }), { outcome: 'verified', identificationMethod: 'handoff' });
  });

  test('handoff creation: 400 naming the field', async () => {
    for (const [body, field] of [[{ verified: true }, 'customerId'], [{ customerId: '1' }, 'verified'],
      [{ customerId: '1', verified: 'yes' }, 'verified'], [{ customerId: '1', verified: true, channel: 'App' }, 'channel'],
      [{ customerId: '1', verified: true, serviceLine: 'no-such-line' }, 'serviceLine'],
      [{ customerId: '1', verified: true, phone: 'call me' }, 'phone']]) {
      const e = error(await api('POST', '/v1/handoffs', { body, key: env.handoffKey }), 400, 'invalid_request');
      assert.match(e.message, new RegExp(field));
    }
    const J = { 'Content-Type': 'application/json' };
    error(await api('POST', '/v1/handoffs', { raw: '{', headers: J, key: env.handoffKey }), 400, 'invalid_json');
    error(await api('POST', '/v1/handoffs', { raw: '{}', headers: { 'Content-Type': 'text/plain' }, key: env.handoffKey }),
      415, 'unsupported_media_type');
    error(await api('POST', '/v1/handoffs', { raw: JSON.stringify({ customerId: '1', verified: true, pad: 'x'.repeat(17000) }),
      headers: J, key: env.handoffKey }), 413, 'payload_too_large');
    error(await api('GET', '/v1/handoffs', { key: env.handoffKey }), 405, 'method_not_allowed');
    error(await step(convId('h413'), 'handoff', undefined, { raw: JSON.stringify({ code: 'x'.repeat(17000) }), headers: J }),
      413, 'payload_too_large');
    error(await step(convId('h415'), 'handoff', undefined, { raw: '{}', headers: { 'Content-Type': 'text/plain' } }),
      415, 'unsupported_media_type');
  });

  test('key scopes: a valid key outside its scope is 403 forbidden, an unknown one 401', async () => {
    const id = convId('scopes');
    session(await start(id), { state: 'awaiting_identifier' });
    const body = { customerId: '100234', verified: true };
    // Only handoff keys create handoffs.
    error(await api('POST', '/v1/handoffs', { body }), 403, 'forbidden');
    error(await api('POST', '/v1/handoffs', { body, key: env.reportKey }), 403, 'forbidden');
    error(await api('POST', '/v1/handoffs', { body, auth: 'none' }), 401, 'unauthorized');
    error(await api('POST', '/v1/handoffs', { body, key: 'not-a-key-000' }), 401, 'unauthorized');
    // A handoff key opens nothing else; a report key only the reports.
    const elsewhere = [
      ['POST', '/v1/sessions', { conversationId: convId('scoped'), serviceLine: 'banking' }],
      ['GET', `/v1/sessions/${id}`], ['DELETE', `/v1/sessions/${id}`],
      ['POST', `/v1/sessions/${id}/identifier`, { identifier: '100234' }],
      ['POST', `/v1/sessions/${id}/security`, { answer: '1234' }],
      ['POST', `/v1/sessions/${id}/opt-out`, {}],
      ['POST', `/v1/sessions/${id}/handoff`, { code: '0123456789' }],
      ['GET', '/metrics'],
    ];
    for (const [m, p, b] of elsewhere) {
      for (const auth of ['x-api-key', 'bearer', 'basic']) {
        error(await api(m, p, { body: b, key: env.handoffKey, auth }), 403, 'forbidden');
      }
      error(await api(m, p, { body: b, key: env.reportKey }), 403, 'forbidden');
    }
    for (const p of ['/v1/reports/summary', '/v1/reports/interactions']) {
      error(await api('GET', p, { key: env.handoffKey }), 403, 'forbidden');
      assert.equal((await api('GET', p, { key: env.reportKey })).status, 200);
    }
    // None of that touched the session.
    session(await get(id), { state: 'awaiting_identifier', attemptsRemaining: 3 });
  });
});

/** A GET carrying a body (fetch refuses one), through node:http. */
function rawGet(path, headers, body) {
  const u = new URL(env.baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname, port: u.port, path, method: 'GET', agent: false, timeout: 8000,
      headers: { 'X-API-Key': env.apiKey, 'Content-Length': Buffer.byteLength(body), ...headers },
    }, (r) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (d) => { text += d; });
      r.on('end', () => resolve({
        method: 'GET', path, status: r.statusCode, text,
        headers: new Headers(Object.entries(r.headers).map(([k, v]) => [k, String(v)])),
        json: text && String(r.headers['content-type']).startsWith('application/json') ? JSON.parse(text) : undefined,
      }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('report endpoints and the dashboard', () => {
  test('200 JSON and CSV, 400, 401; every answer is no-store', async () => {
    const id = convId('rep');
    session(await start(id), {});
    session(await step(id, 'opt-out', {}), { outcome: 'opted_out' });
    const s = await api('GET', '/v1/reports/summary?bucket=day');
    assert.equal(s.status, 200, s.text);
    assert.ok(s.json.total.completed >= 1);
    const c = await api('GET', '/v1/reports/interactions?format=csv');
    assert.equal(c.status, 200);
    assert.match(c.text, /^id,time,/);
    // An explicit end past this second (the default end is covered in test_reporting.py).
    const to = Math.floor(Date.now() / 1000) + 2;
    const i = await api('GET', `/v1/reports/interactions?limit=5&to=${to}`);
    assert.equal(i.status, 200);
    assert.ok(i.json.items.some((x) => x.conversationId === id), i.text);
    error(await api('GET', '/v1/reports/summary?bucket=week'), 400, 'invalid_request');
    for (const p of ['summary', 'interactions']) {
      const e = error(await api('GET', `/v1/reports/${p}?channel=Voice`), 400, 'invalid_request');
      assert.match(e.message, /channel/);
    }
    error(await api('GET', '/v1/reports/interactions?limit=0'), 400, 'invalid_request');
    error(await api('GET', '/v1/reports/summary', { auth: 'none' }), 401, 'unauthorized');
    error(await api('GET', '/v1/reports/interactions', { key: 'not-a-key-000' }), 401, 'unauthorized');
    const d = await api('GET', '/dashboard', { auth: 'none' });
    assert.equal(d.status, 200);
    for (const r of [s, c, i, d]) assert.equal(r.headers.get('cache-control'), 'no-store');
  });

  test('schedules: a run on demand takes report keys only; the deliveries list', async () => {
    const run = '/v1/reports/schedules/daily-summary/run';
    error(await api('POST', run), 403, 'forbidden'); // the session key Genesys holds
    error(await api('POST', run, { key: env.handoffKey }), 403, 'forbidden');
    error(await api('POST', '/v1/reports/schedules/nope/run', { key: env.reportKey }), 404, 'not_found');
    const r = await api('POST', run, { key: env.reportKey });
    assert.equal(r.status, 202, r.text);
    // No mail server listens (smtp.maxAttempts 1): the record says failed.
    let d;
    for (let i = 0; i < 100; i++) {
      d = await api('GET', '/v1/reports/deliveries', { key: env.reportKey });
      if (d.json.deliveries.length) break;
      await sleep(100);
    }
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.schedules[0].name, 'daily-summary');
    assert.deepEqual([d.json.deliveries[0].trigger, d.json.deliveries[0].result], ['manual', 'failed']);
    assert.equal((await api('GET', '/v1/reports/deliveries?limit=1')).status, 200);
    error(await api('GET', '/v1/reports/deliveries?limit=0'), 400, 'invalid_request');
    error(await api('GET', '/v1/reports/deliveries', { key: env.handoffKey }), 403, 'forbidden');
  });

  test('by channel: channel filter, byChannel, contextReused and the channel of each interaction', async () => {
    const first = convId('rep-ch-a');
    session(await start(first, { ani: 'tel:+13175550116', channel: 'chat' }), { state: 'awaiting_security' });
    session(await step(first, 'security', { answer: '1234' }), { outcome: 'verified' });
    const cb = convId('rep-ch-b');
    session(await start(cb, { ani: 'tel:+13175550116', linkedConversationId: first, channel: 'callback' }), { identificationMethod: 'linked', outcome: 'verified' });
    const to = Math.floor(Date.now() / 1000) + 2;
    const all = await api('GET', `/v1/reports/summary?to=${to}`);
    assert.equal(all.status, 200, all.text);
    assert.equal(all.json.channel, 'all');
    const names = all.json.byChannel.map((c) => c.channel);
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('chat') && names.includes('callback'), all.text);
    assert.ok(all.json.total.contextReused >= 1);
    const only = await api('GET', `/v1/reports/summary?channel=callback&to=${to}`);
    assert.equal(only.json.channel, 'callback');
    assert.ok(only.json.total.contextReused >= 1 && only.json.total.contextReused <= only.json.total.completed);
    assert.equal(only.json.total.contextReuseRate, only.json.total.contextReused / only.json.total.completed);
    const items = await api('GET', `/v1/reports/interactions?channel=callback&to=${to}`);
    assert.ok(items.json.items.some((i) => i.conversationId === cb && i.identificationMethod === 'linked'), items.text);
    assert.ok(items.json.items.every((i) => i.channel === 'callback'));
    const csv = await api('GET', `/v1/reports/summary?format=csv&channel=chat&to=${to}`);
    assert.match(csv.text.split('\r\n')[0], /^scope,start,end,serviceLine,channel,.*,contextReused,.*,contextReuseRate,/);
  });

  test('413 and 415 on the report endpoints and the dashboard', async () => {
    for (const p of ['/v1/reports/summary', '/v1/reports/interactions', '/dashboard']) {
      error(await api('GET', p, { headers: { 'Content-Type': 'text/xml' } }), 415, 'unsupported_media_type');
      const res = await rawGet(p, { 'Content-Type': 'application/json' }, 'x'.repeat(17000));
      V.check(res);
      error(res, 413, 'payload_too_large');
    }
  });
});

describe('coverage', () => {
  test('every status the service produces was provoked and checked', () => {
    const want = [
      'POST /v1/sessions 200', 'POST /v1/sessions 400', 'POST /v1/sessions 401', 'POST /v1/sessions 413',
      'POST /v1/sessions 415', 'GET /v1/sessions 405',
      'GET /v1/sessions/{conversationId} 200', 'GET /v1/sessions/{conversationId} 400',
      'GET /v1/sessions/{conversationId} 401', 'GET /v1/sessions/{conversationId} 404',
      'GET /v1/sessions/{conversationId} 415', 'PUT /v1/sessions/{conversationId} 405',
      'DELETE /v1/sessions/{conversationId} 204', 'DELETE /v1/sessions/{conversationId} 404',
      'POST /v1/sessions/{conversationId}/identifier 200', 'POST /v1/sessions/{conversationId}/identifier 400',
      'POST /v1/sessions/{conversationId}/identifier 404', 'POST /v1/sessions/{conversationId}/identifier 409',
      'POST /v1/sessions/{conversationId}/security 200', 'POST /v1/sessions/{conversationId}/security 400',
      'POST /v1/sessions/{conversationId}/security 409', 'POST /v1/sessions/{conversationId}/security 413',
      'POST /v1/sessions/{conversationId}/opt-out 200', 'POST /v1/sessions/{conversationId}/opt-out 409',
      'POST /v1/sessions/{conversationId}/opt-out 400', 'POST /v1/sessions/{conversationId}/opt-out 401',
      'GET /healthz 200', 'POST /healthz 405', 'GET /readyz 200', 'DELETE /readyz 405',
      'GET /metrics 200', 'GET /metrics 401', 'GET /metrics 403', 'POST /metrics 405', '* (unlisted) 404',
      'POST /v1/sessions 403', 'GET /v1/sessions/{conversationId} 403', 'DELETE /v1/sessions/{conversationId} 403',
      'POST /v1/sessions/{conversationId}/identifier 403', 'POST /v1/sessions/{conversationId}/security 403',
      'POST /v1/sessions/{conversationId}/opt-out 403',
      'POST /v1/sessions/{conversationId}/handoff 200', 'POST /v1/sessions/{conversationId}/handoff 400',
      'POST /v1/sessions/{conversationId}/handoff 403', 'POST /v1/sessions/{conversationId}/handoff 404',
      'POST /v1/sessions/{conversationId}/handoff 409', 'POST /v1/sessions/{conversationId}/handoff 413',
      'POST /v1/sessions/{conversationId}/handoff 415',
      'POST /v1/handoffs 201', 'POST /v1/handoffs 400', 'POST /v1/handoffs 401', 'POST /v1/handoffs 403',
      'POST /v1/handoffs 413', 'POST /v1/handoffs 415', 'GET /v1/handoffs 405',
      'GET /v1/reports/summary 403', 'GET /v1/reports/interactions 403',
      'GET /v1/reports/summary 200', 'GET /v1/reports/summary 400', 'GET /v1/reports/summary 401',
      'GET /v1/reports/summary 413', 'GET /v1/reports/summary 415',
      'GET /v1/reports/interactions 200', 'GET /v1/reports/interactions 400',
      'GET /v1/reports/interactions 401', 'GET /v1/reports/interactions 413',
      'GET /v1/reports/interactions 415', 'GET /dashboard 200', 'GET /dashboard 413', 'GET /dashboard 415',
    ];
    // The 503s are provoked and checked in outage.test.mjs (it runs last).
    const missing = want.filter((w) => !V.seen.has(w));
    assert.deepEqual(missing, [], `not exercised: ${missing.join(', ')}`);
  });
});
