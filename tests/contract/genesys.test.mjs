// The Genesys data actions in api-spec/genesys/, checked as files and then
// run the way Genesys runs them (lib/genesys.mjs) against the live service.
// The calls below go through the data actions alone, as an Architect flow would.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import velocity from 'velocityjs';

import { ajv04, esc, loadActions, PLACEHOLDER_ORIGIN, runAction } from './lib/genesys.mjs';
import { loadSpec } from './lib/spec.mjs';
import { call, convId, crmControl, env, smsMessages, waitReady } from './lib/stack.mjs';

const FILES = {
  start: 'start-authentication.custom.json',
  identifier: 'submit-identifier.custom.json',
  security: 'submit-security-answer.custom.json',
  optOut: 'opt-out.custom.json',
  status: 'get-authentication-status.custom.json',
  handoff: 'redeem-handoff-code.custom.json',
  otp: 'submit-one-time-code.custom.json',
  resend: 'request-new-one-time-code.custom.json',
};
const actions = loadActions();
const A = Object.fromEntries(Object.entries(FILES).map(([k, f]) => [k, actions[f]]));
const spec = loadSpec();
const answerSchema = spec.components.schemas.SessionAnswer;

const creds = () => ({ apiKey: env.apiKey });

/** Run a data action; assert it took the Success path and return its flat output. */
async function ok(action, input, opts = {}) {
  const r = await runAction(action, input, { baseUrl: env.baseUrl, credentials: creds(), ...opts });
  assert.equal(r.path, 'success', `${action.name}: ${r.path} ${r.status ?? ''} ${r.reason ?? ''} ${r.raw ?? ''}`);
  return r;
}

function expectOutput(out, want) {
  for (const [k, v] of Object.entries(want)) assert.deepEqual(out[k], v, `${k} in ${JSON.stringify(out)}`);
}

before(async () => {
  await crmControl({ delayMs: 0, fault: 'none' });
  await waitReady(200);
});
after(async () => {
  await crmControl({ delayMs: 0, fault: 'none' }).catch(() => {});
});

describe('the data action files', () => {
  test('all eight are present and nothing else', () => {
    assert.deepEqual(Object.keys(actions).sort(), Object.values(FILES).sort());
  });

  for (const [key, file] of Object.entries(FILES)) {
    const a = actions[file];
    test(`${file}: Genesys export format`, () => {
      assert.equal(typeof a.name, 'string');
      assert.ok(a.name.length > 0 && a.name.length <= 256);
      assert.equal(a.integrationType, 'custom-rest-actions');
      assert.equal(a.actionType, 'custom');
      assert.equal(a.secure, key === 'security' || key === 'otp',
        'only the security answer and one-time code actions are secure');
      const { request, response } = a.config;
      for (const k of ['requestUrlTemplate', 'requestType', 'headers', 'requestTemplate']) assert.ok(k in request, k);
      for (const k of ['translationMap', 'translationMapDefaults', 'successTemplate']) assert.ok(k in response, k);
      assert.ok(Number.isInteger(a.config.timeoutSeconds) && a.config.timeoutSeconds >= 1 && a.config.timeoutSeconds <= 60);
      assert.ok(request.requestUrlTemplate.startsWith(PLACEHOLDER_ORIGIN + '/v1/sessions'));
      assert.equal(request.headers['X-API-Key'], '${credentials.apiKey}');
      if (key !== 'start') {
        assert.ok(request.requestUrlTemplate.includes('/v1/sessions/${esc.url($input.conversationId)}'),
          'the conversation ID is URL-escaped in the path');
      }
      assert.equal(request.requestType, key === 'status' ? 'GET' : 'POST');
    });

    test(`${file}: input contract is flat, typed, draft-04; templates use exactly the declared inputs`, () => {
      const s = a.contract.input.inputSchema;
      assert.equal(s.$schema, 'http://json-schema.org/draft-04/schema#');
      assert.equal(s.type, 'object');
      ajv04.compile(s); // a valid draft-04 schema
      for (const [name, p] of Object.entries(s.properties)) {
        assert.ok(['string', 'integer', 'number', 'boolean'].includes(p.type), `${name} must be a flat scalar`);
      }
      assert.equal(s.properties.conversationId.type, 'string');
      assert.ok(s.required.includes('conversationId'));
      if (s.properties.ani) assert.equal(s.properties.ani.type, 'string');
      for (const r of s.required) assert.ok(r in s.properties, `required ${r} is declared`);

      const { request } = a.config;
      const text = [request.requestUrlTemplate, request.requestTemplate, ...Object.values(request.headers)].join('\n');
      const used = new Set([...text.matchAll(/\$input\.([A-Za-z0-9_]+)|\$!?\{input\.([A-Za-z0-9_]+)\}/g)]
        .map((m) => m[1] ?? m[2]).filter((n) => n !== 'rawRequest'));
      assert.deepEqual([...used].sort(), Object.keys(s.properties).sort(), 'inputs used = inputs declared');
      for (const name of Object.keys(s.properties)) {
        const optional = !s.required.includes(name);
        if (request.requestType === 'GET' || (name === 'conversationId' && key !== 'start')) continue;
        // In the JSON body every input is escaped for a JSON string...
        assert.ok(request.requestTemplate.includes(`esc.jsonString($input.${name})`), `${name} is JSON-escaped`);
        // ...and an optional one uses the silent form, so an unset input renders empty.
        if (optional) assert.ok(request.requestTemplate.includes(`"$!{esc.jsonString($input.${name})}"`), `${name} is silent`);
      }
      if (request.requestType === 'POST') {
        // The body is JSON however the inputs look.
        const weird = Object.fromEntries(Object.keys(s.properties).map((n) => [n, 'a"b\\c\n\u00e9}{$']));
        const body = JSON.parse(velocityRender(request.requestTemplate, { input: weird, esc }));
        for (const v of Object.values(body)) {
          assert.ok(v === 'a"b\\c\n\u00e9}{$' || v === undefined || (key === 'resend' && v === true));
        }
      }
    });

    test(`${file}: output contract = the OpenAPI SessionAnswer's 16 flat keys (typed, required)`, () => {
      const o = a.contract.output.successSchema;
      assert.equal(o.$schema, 'http://json-schema.org/draft-04/schema#');
      assert.equal(o.type, 'object');
      ajv04.compile(o);
      assert.deepEqual(Object.keys(o.properties).sort(), flatKeys(answerSchema.properties).sort());
      assert.deepEqual([...o.required].sort(), flatKeys(answerSchema.required).sort());
      const specType = (p) => (p.$ref ? spec.components.schemas[p.$ref.split('/').pop()].type : p.type);
      for (const [k, p] of Object.entries(o.properties)) {
        assert.equal(p.type, specType(answerSchema.properties[k]), `type of ${k}`);
      }
      const { translationMap, translationMapDefaults, successTemplate } = a.config.response;
      assert.deepEqual(Object.keys(translationMap).sort(), Object.keys(o.properties).sort());
      for (const [k, jp] of Object.entries(translationMap)) assert.equal(jp, `$.${k}`);
      const defaults = { string: '""', integer: '0', boolean: 'false' };
      for (const [k, p] of Object.entries(o.properties)) assert.equal(translationMapDefaults[k], defaults[p.type], `default of ${k}`);
      // With every value defaulted (an answer missing all keys) the template
      // still yields an object that satisfies the contract.
      const out = JSON.parse(velocityRender(successTemplate, translationMapDefaults));
      const v = ajv04.compile(o);
      assert.ok(v(out), ajv04.errorsText(v.errors));
      for (const k of Object.keys(o.properties)) assert.ok(successTemplate.includes(`"${k}": \${${k}}`), `${k} in successTemplate`);
    });
  }
});

/** The answer's keys a data action outputs: all but verificationMethods, a
 * list (the actions' outputs are flat scalars; the list is read with GET). */
function flatKeys(keys) {
  return (Array.isArray(keys) ? keys : Object.keys(keys)).filter((k) => k !== 'verificationMethods');
}

function velocityRender(t, ctx) {
  return velocity.render(t, ctx);
}

describe('whole calls through the data actions alone', () => {
  test('ANI "tel:+1…" match -> ask_security -> wrong, then right answer -> verified; agent script reads it', async () => {
    const conversationId = convId('g-verified');
    let r = await ok(A.start, { conversationId, ani: 'tel:+13175550116', serviceLine: 'banking', language: 'en-US' });
    expectOutput(r.output, { nextAction: 'ask_security', promptId: 'ask_security', identified: true, identificationMethod: 'ani', customerId: '100234', customerName: 'Ana García', attemptsRemaining: 3 });
    r = await ok(A.security, { conversationId, answer: '0000' });
    expectOutput(r.output, { nextAction: 'ask_security', promptId: 'ask_security_retry', lastResult: 'wrong_answer', attemptsRemaining: 2 });
    r = await ok(A.security, { conversationId, answer: '1234' });
    expectOutput(r.output, { nextAction: 'continue', outcome: 'verified', authStatus: 'identified_verified', verified: true });
    r = await ok(A.status, { conversationId });
    expectOutput(r.output, { conversationId, authStatus: 'identified_verified', customerId: '100234', customerName: 'Ana García' });
    assert.equal(r.request.body, undefined, 'GET sends no body');
    // Start again (the call was transferred to another flow): same state.
    r = await ok(A.start, { conversationId, ani: 'tel:+13175550116', serviceLine: 'banking' });
    expectOutput(r.output, { outcome: 'verified', nextAction: 'continue' });
  });

  for (const ani of ['tel: +1 317 555 0116', 'sip:+13175550116@edge.mycompany.net', 'sip:+13175550116@10.0.0.5;user=phone']) {
    test(`ANI ${JSON.stringify(ani)} is normalised and matched`, async () => {
      const r = await ok(A.start, { conversationId: convId('g-ani'), ani, serviceLine: 'banking' });
      expectOutput(r.output, { identificationMethod: 'ani', customerId: '100234', nextAction: 'ask_security' });
    });
  }

  test('anonymous ANI -> identifier retries -> transfer to agent (identify_failed)', async () => {
    const conversationId = convId('g-retries');
    let r = await ok(A.start, { conversationId, ani: 'sip:anonymous@anonymous.invalid', serviceLine: 'banking' });
    expectOutput(r.output, { nextAction: 'ask_identifier', promptId: 'ask_identifier', attemptsRemaining: 3, customerId: '', customerName: '', identified: false });
    r = await ok(A.identifier, { conversationId, identifier: '555555' });
    expectOutput(r.output, { nextAction: 'ask_identifier', promptId: 'ask_identifier_retry', lastResult: 'no_match', attemptsRemaining: 2 });
    r = await ok(A.identifier, { conversationId, identifier: '12"3\\4' }); // escaped, so 200 invalid_input, not 400
    expectOutput(r.output, { nextAction: 'ask_identifier', lastResult: 'invalid_input', attemptsRemaining: 1 });
    r = await ok(A.identifier, { conversationId, identifier: '777777' });
    expectOutput(r.output, { nextAction: 'transfer_to_agent', outcome: 'identify_failed', authStatus: 'not_identified', promptId: 'transfer_to_agent', attemptsRemaining: 0 });
    r = await ok(A.status, { conversationId });
    expectOutput(r.output, { authStatus: 'not_identified', customerId: '', customerName: '' });
  });

  test('anonymous ANI -> identifier -> security -> verified', async () => {
    const conversationId = convId('g-ident');
    await ok(A.start, { conversationId, ani: 'anonymous', serviceLine: 'banking' });
    let r = await ok(A.identifier, { conversationId, identifier: '100244', identifierType: 'customer_id' });
    expectOutput(r.output, { nextAction: 'ask_security', identificationMethod: 'identifier', customerName: 'Lee Chen' });
    r = await ok(A.security, { conversationId, answer: '4444' });
    expectOutput(r.output, { nextAction: 'continue', outcome: 'verified' });
  });

  test('one-time code: ANI match -> ask_otp (SMS to the phone on file) -> wrong -> new code -> verified', async () => {
    const conversationId = convId('g-otp');
    const before = (await smsMessages()).length;
    let r = await ok(A.start, { conversationId, ani: 'tel:+13175550116', serviceLine: 'otp' });
    expectOutput(r.output, { nextAction: 'ask_otp', state: 'awaiting_otp', promptId: 'ask_otp', identified: true, verified: false, attemptsRemaining: 3 });
    assert.match(r.output.promptText, /ending in 16/);
    let sms = await smsMessages();
    assert.equal(sms.length, before + 1);
    assert.equal(sms.at(-1).to, '+13175550116');
    const first = sms.at(-1).code;
    assert.ok(!JSON.stringify(r.output).includes(first), 'the code is never in an answer');
    const wrong = String((Number(first) + 1) % 1000000).padStart(6, '0');
    r = await ok(A.otp, { conversationId, code: wrong });
    expectOutput(r.output, { nextAction: 'ask_otp', lastResult: 'wrong_code', promptId: 'ask_otp_retry', attemptsRemaining: 2 });
    r = await ok(A.resend, { conversationId });
    assert.equal(r.request.body, '{"resend": true}');
    expectOutput(r.output, { nextAction: 'ask_otp', lastResult: 'code_sent', promptId: 'ask_otp_resent' });
    sms = await smsMessages();
    const second = sms.at(-1).code;
    r = await ok(A.otp, { conversationId, code: second });
    expectOutput(r.output, { nextAction: 'continue', outcome: 'verified', verified: true });
    r = await ok(A.status, { conversationId });
    expectOutput(r.output, { authStatus: 'identified_verified' });
    const got = await call('GET', `/v1/sessions/${conversationId}`);
    assert.deepEqual(got.json.verificationMethods, ['otp']);
  });

  test('opt-out: the call continues unauthenticated', async () => {
    const conversationId = convId('g-optout');
    await ok(A.start, { conversationId, ani: 'anonymous', serviceLine: 'banking' });
    const r = await ok(A.optOut, { conversationId });
    assert.equal(r.request.body, '{}');
    expectOutput(r.output, { nextAction: 'continue', outcome: 'opted_out', promptId: 'opted_out', authStatus: 'not_identified' });
  });

  test('optional inputs left unset, silent form: they render empty and mean "absent"', async () => {
    const conversationId = convId('g-unset');
    // no ani, no language, no linkedConversationId, no channel
    let r = await ok(A.start, { conversationId, serviceLine: 'parcels' });
    const sent = JSON.parse(r.request.body);
    assert.equal(sent.ani, '');
    assert.equal(sent.language, '');
    assert.equal(sent.linkedConversationId, '');
    assert.equal(sent.channel, '');
    expectOutput(r.output, { language: 'es-ES', nextAction: 'ask_identifier', identificationMethod: 'none' });
    r = await ok(A.identifier, { conversationId, identifier: '40000000003' }); // no identifierType
    assert.equal(JSON.parse(r.request.body).identifierType, '');
    expectOutput(r.output, { nextAction: 'continue', outcome: 'identified_only', customerName: 'María José Fernández' });
  });

  test('optional inputs left unset, literal form: "${input.x}" reaches the service and means "absent"', async () => {
    // The same actions with the non-silent references Genesys leaves literal.
    const loud = (a) => {
      const b = structuredClone(a);
      b.config.request.requestTemplate = b.config.request.requestTemplate
        .replace(/\$!\{esc\.jsonString\(\$input\.([A-Za-z]+)\)\}/g, '${input.$1}');
      return b;
    };
    const conversationId = convId('g-literal');
    let r = await ok(loud(A.start), { conversationId, serviceLine: 'banking' });
    const sent = JSON.parse(r.request.body);
    assert.equal(sent.ani, '${input.ani}');
    assert.equal(sent.language, '${input.language}');
    assert.equal(sent.linkedConversationId, '${input.linkedConversationId}');
    assert.equal(sent.channel, '${input.channel}');
    expectOutput(r.output, { language: 'en-US', nextAction: 'ask_identifier', identificationMethod: 'none' });
    r = await ok(loud(A.identifier), { conversationId, identifier: '100244' });
    assert.equal(JSON.parse(r.request.body).identifierType, '${input.identifierType}');
    expectOutput(r.output, { nextAction: 'ask_security', customerId: '100244' });
  });

  test('a callback: a new conversation passes the earlier one as linkedConversationId -> verified, no question', async () => {
    // The first call: verified by ANI and PIN.
    const first = convId('g-first');
    await ok(A.start, { conversationId: first, ani: 'tel:+13175550116', serviceLine: 'banking' });
    let r = await ok(A.security, { conversationId: first, answer: '1234' });
    expectOutput(r.output, { outcome: 'verified' });
    // The callback is a NEW conversation; its flow reads the first ID from the callback data.
    const callback = convId('g-callback');
    r = await ok(A.start, { conversationId: callback, ani: 'tel:+13175550116', serviceLine: 'banking',
      linkedConversationId: first, channel: 'callback' });
    const sent = JSON.parse(r.request.body);
    assert.equal(sent.linkedConversationId, first);
    assert.equal(sent.channel, 'callback');
    expectOutput(r.output, { conversationId: callback, nextAction: 'continue', outcome: 'verified',
      identificationMethod: 'linked', customerId: '100234', customerName: 'Ana García', authStatus: 'identified_verified' });
    r = await ok(A.status, { conversationId: callback });
    expectOutput(r.output, { identificationMethod: 'linked', verified: true });
  });

  test('an app handoff: the back end creates a code, the IVR redeems it once through the action', async () => {
    const made = await call('POST', '/v1/handoffs', { key: env.handoffKey,
      body: { customerId: '100244', customerName: 'Lee Chen', verified: true, channel: 'app' } });
    assert.equal(made.status, 201, made.text);
    const { code } = made.json;
    const conversationId = convId('g-handoff');
    let r = await ok(A.start, { conversationId, ani: 'anonymous', serviceLine: 'banking' });
    expectOutput(r.output, { nextAction: 'ask_identifier' });
    r = await ok(A.handoff, { conversationId, code: `${code.slice(0, 5)} ${code.slice(5)}` });
    assert.ok(r.request.url.endsWith(`/v1/sessions/${encodeURIComponent(conversationId)}/handoff`));
    expectOutput(r.output, { nextAction: 'continue', outcome: 'verified', identificationMethod: 'handoff',
      customerId: '100244', customerName: 'Lee Chen', authStatus: 'identified_verified' });
    // A used code, and digits that cannot be a code: 200, a spent identify attempt each.
    const other = convId('g-handoff-used');
    await ok(A.start, { conversationId: other, ani: 'anonymous', serviceLine: 'banking' });
    r = await ok(A.handoff, { conversationId: other, code });
    expectOutput(r.output, { nextAction: 'ask_identifier', lastResult: 'no_match', attemptsRemaining: 2, identified: false });
    r = await ok(A.handoff, { conversationId: other, code: '12"3\\4' });
    expectOutput(r.output, { nextAction: 'ask_identifier', lastResult: 'invalid_input', attemptsRemaining: 1 });
    // The Failure path: a completed session (409), an unknown one (404), a wrong key (401).
    r = await runAction(A.handoff, { conversationId, code }, { baseUrl: env.baseUrl, credentials: creds() });
    assert.deepEqual([r.path, r.status], ['failure', 409]);
    r = await runAction(A.handoff, { conversationId: convId('g-none'), code }, { baseUrl: env.baseUrl, credentials: creds() });
    assert.deepEqual([r.path, r.status], ['failure', 404]);
    r = await runAction(A.handoff, { conversationId: other, code }, { baseUrl: env.baseUrl, credentials: { apiKey: 'not-the-key' } });
    assert.deepEqual([r.path, r.status], ['failure', 401]);
    // The handoff key is the back end's, never Genesys': on an action it is 403, the Failure path.
    r = await runAction(A.handoff, { conversationId: other, code }, { baseUrl: env.baseUrl, credentials: { apiKey: env.handoffKey } });
    assert.deepEqual([r.path, r.status], ['failure', 403]);
  });

  test('verification not required, ANI match: continue at once', async () => {
    const r = await ok(A.start, { conversationId: convId('g-retail'), ani: 'tel:+13175550116', serviceLine: 'retail' });
    expectOutput(r.output, { nextAction: 'continue', outcome: 'identified_only', state: 'completed' });
  });

  test('strings needing JSON escaping survive the translationMap round trip', async () => {
    // Customer 100242's name holds quotes, a backslash and non-ASCII letters;
    // the conversation ID holds ':' which $esc.url encodes in the path.
    const conversationId = `genesys:${convId('g-esc')}`;
    let r = await ok(A.start, { conversationId, ani: 'tel:+13175550142', serviceLine: 'banking' });
    expectOutput(r.output, { conversationId, customerName: 'Zoë "Zo" O\'Brien \\ Ünal', customerId: '100242' });
    const { verificationMethods, ...flat } = JSON.parse(r.raw);
    assert.deepEqual(verificationMethods, []);
    assert.deepEqual(r.output, flat, 'the flat output equals the service answer (less the list)');
    r = await ok(A.status, { conversationId });
    assert.ok(r.request.url.includes(`/v1/sessions/${encodeURIComponent(conversationId)}`));
    expectOutput(r.output, { conversationId, customerName: 'Zoë "Zo" O\'Brien \\ Ünal' });
    r = await ok(A.security, { conversationId, answer: '4242' });
    expectOutput(r.output, { outcome: 'verified' });
  });

  test('a Basic Auth credential works instead of the User Defined one', async () => {
    const basic = { Authorization: `Basic ${Buffer.from(`genesys:${env.apiKey}`).toString('base64')}` };
    const conversationId = convId('g-basic');
    // With the X-API-Key header removed from the action (as the README says)...
    let r = await ok(A.start, { conversationId, ani: 'anonymous', serviceLine: 'banking' },
      { credentials: {}, dropHeaders: ['X-API-Key'], extraHeaders: basic });
    assert.equal(r.request.headers['X-API-Key'], undefined);
    // ...and even with it left in place, rendering literally.
    r = await ok(A.status, { conversationId }, { credentials: {}, extraHeaders: basic });
    assert.equal(r.request.headers['X-API-Key'], '${credentials.apiKey}');
    expectOutput(r.output, { conversationId });
  });

  test('faults take the Failure path: wrong key, unknown session, wrong state', async () => {
    const conversationId = convId('g-fail');
    let r = await runAction(A.start, { conversationId, serviceLine: 'banking' }, { baseUrl: env.baseUrl, credentials: { apiKey: 'not-the-key' } });
    assert.deepEqual([r.path, r.status], ['failure', 401]);
    r = await runAction(A.security, { conversationId, answer: '1' }, { baseUrl: env.baseUrl, credentials: creds() });
    assert.deepEqual([r.path, r.status], ['failure', 404]);
    r = await runAction(A.start, { conversationId, serviceLine: 'no-such-line' }, { baseUrl: env.baseUrl, credentials: creds() });
    assert.deepEqual([r.path, r.status], ['failure', 400]);
    await ok(A.start, { conversationId, ani: 'anonymous', serviceLine: 'banking' });
    r = await runAction(A.security, { conversationId, answer: '1' }, { baseUrl: env.baseUrl, credentials: creds() });
    assert.deepEqual([r.path, r.status], ['failure', 409]);
  });

  test('a slow answer takes the Timeout path', async () => {
    const conversationId = convId('g-timeout');
    await ok(A.start, { conversationId, ani: 'anonymous', serviceLine: 'banking' });
    try {
      await crmControl({ delayMs: 1200 });
      const r = await runAction(A.identifier, { conversationId, identifier: '100234' },
        { baseUrl: env.baseUrl, credentials: creds(), timeoutMs: 300 });
      assert.equal(r.path, 'timeout');
    } finally {
      await crmControl({ delayMs: 0 });
    }
  });

  test('the input contract refuses what Genesys would refuse', async () => {
    await assert.rejects(runAction(A.start, { serviceLine: 'banking' }, { baseUrl: env.baseUrl, credentials: creds() }), /inputSchema/);
    await assert.rejects(runAction(A.identifier, { conversationId: 'x', identifier: 5 }, { baseUrl: env.baseUrl, credentials: creds() }), /inputSchema/);
    await assert.rejects(runAction(A.handoff, { conversationId: 'x' }, { baseUrl: env.baseUrl, credentials: creds() }), /inputSchema/);
    await assert.rejects(runAction(A.start, { conversationId: 'x', serviceLine: 'banking', channel: 3 }, { baseUrl: env.baseUrl, credentials: creds() }), /inputSchema/);
  });
});
