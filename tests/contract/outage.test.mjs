// Redis going away and coming back, checked against the spec. Runs last
// (run.sh orders it so): while Redis restarts, each service thread may
// still hold a connection to the old instance, which the other files must
// not see.
import assert from 'node:assert/strict';
import http from 'node:http';
import { before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { SpecValidator } from './lib/spec.mjs';
import { call, convId, env, startRedis, stopRedis, waitReady } from './lib/stack.mjs';

const V = new SpecValidator();

async function api(method, path, opts = {}) {
  const res = await call(method, path, opts);
  V.check(res, opts.body);
  return res;
}

function error(res, status, code) {
  assert.equal(res.status, status, `${res.method} ${res.path}: ${res.text}`);
  assert.equal(res.json.error, code, res.text);
}

/** GET on a new TCP connection (so the request may land on any server thread). */
function freshGet(path) {
  return new Promise((resolve, reject) => {
    const u = new URL(env.baseUrl + path);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, agent: false, timeout: 5000,
      headers: { 'X-API-Key': env.apiKey } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  await waitReady(200);
});

describe('Redis outage', () => {
  // A step that finds Redis away waits for it within its own budget (the
  // Genesys action timeout, 8 s here, less 0.5 s), so a restart costs no
  // caller a failed step; it answers 503 before Genesys would give up.
  // Once Redis has been away longer than that budget, every step is
  // answered 503 at once (never a hang).
  const STEP_BUDGET_MS = 7500;

  test('503 unavailable within the step budget, then fast, on every endpoint while Redis is stopped', async () => {
    const id = convId('redis');
    const s = await api('POST', '/v1/sessions', { body: { conversationId: id, serviceLine: 'banking' } });
    assert.equal(s.status, 200);
    await stopRedis();
    const down = Date.now();
    try {
      const t0 = Date.now();
      error(await api('POST', '/v1/sessions', { body: { conversationId: convId('down'), serviceLine: 'banking' } }), 503, 'unavailable');
      assert.ok(Date.now() - t0 < STEP_BUDGET_MS, 'a 503 before the step budget is spent');
      await sleep(Math.max(0, STEP_BUDGET_MS - (Date.now() - down)) + 300);
      const fast = async (res) => {
        const t = Date.now();
        const r = await res();
        assert.ok(Date.now() - t < 1500, `${r.method} ${r.path}: a 503 must be fast once the outage is older than the budget`);
        return r;
      };
      error(await fast(() => api('GET', `/v1/sessions/${id}`)), 503, 'unavailable');
      error(await fast(() => api('POST', `/v1/sessions/${id}/identifier`, { body: { identifier: '100234' } })), 503, 'unavailable');
      error(await fast(() => api('POST', `/v1/sessions/${id}/security`, { body: { answer: '1' } })), 503, 'unavailable');
      error(await fast(() => api('POST', `/v1/sessions/${id}/opt-out`, { body: {} })), 503, 'unavailable');
      error(await fast(() => api('POST', `/v1/sessions/${id}/handoff`, { body: { code: '0123456789' } })), 503, 'unavailable');
      error(await fast(() => api('POST', `/v1/sessions/${id}/otp`, { body: { code: '123456' } })), 503, 'unavailable');
      // Handoff creation runs on another thread with its own connection,
      // which first meets the outage now: it too answers within the budget.
      const t1 = Date.now();
      error(await api('POST', '/v1/handoffs', { body: { customerId: '100234', verified: true }, key: env.handoffKey }),
        503, 'unavailable');
      assert.ok(Date.now() - t1 < STEP_BUDGET_MS, 'a handoff 503 before the budget is spent');
      error(await fast(() => api('DELETE', `/v1/sessions/${id}`)), 503, 'unavailable');
      const r = await fast(() => api('GET', '/readyz', { auth: 'none' }));
      assert.equal(r.status, 503);
      assert.deepEqual(r.json, { status: 'unavailable', redis: 'unavailable' });
      assert.equal((await api('GET', '/healthz', { auth: 'none' })).status, 200);
      assert.equal((await api('GET', '/metrics')).status, 200);
    } finally {
      await startRedis();
    }
  });

  test('the service recovers by itself when Redis returns', async (t) => {
    await waitReady(200);
    // Every thread must come back: 20 answers in a row on new connections.
    const end = Date.now() + 10000;
    let streak = 0;
    let stale = 0;
    while (streak < 20) {
      assert.ok(Date.now() < end, `no recovery within 10 s (${stale} x 503 after /readyz was 200)`);
      const st = await freshGet(`/v1/sessions/${convId('probe')}`);
      if (st === 404) streak += 1;
      else if (st === 503) { stale += 1; streak = 0; } else assert.fail(`unexpected ${st}`);
    }
    t.diagnostic(`503 answers after /readyz was already 200 again: ${stale}`);
    const id = convId('back');
    const a = await api('POST', '/v1/sessions', { body: { conversationId: id, serviceLine: 'banking', ani: 'tel:+13175550116' } });
    assert.equal(a.status, 200);
    const b = await api('POST', `/v1/sessions/${id}/security`, { body: { answer: '1234' } });
    assert.equal(b.status, 200);
    assert.equal(b.json.outcome, 'verified');
  });

  test('every 503 the spec documents was provoked and checked', () => {
    const want = ['POST /v1/sessions 503', 'GET /v1/sessions/{conversationId} 503',
      'DELETE /v1/sessions/{conversationId} 503', 'POST /v1/sessions/{conversationId}/identifier 503',
      'POST /v1/sessions/{conversationId}/security 503', 'POST /v1/sessions/{conversationId}/opt-out 503',
      'POST /v1/sessions/{conversationId}/handoff 503', 'POST /v1/sessions/{conversationId}/otp 503',
      'POST /v1/handoffs 503', 'GET /readyz 503'];
    const missing = want.filter((w) => !V.seen.has(w));
    assert.deepEqual(missing, []);
  });
});
