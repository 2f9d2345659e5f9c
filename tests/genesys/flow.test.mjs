// The blueprint's Architect flow (deploy/genesys/architect/authflow-inbound.yaml)
// run end to end against the live service (real authflow, Redis, demo CRM),
// the way Architect runs it (lib/archy.mjs): data actions through their
// Velocity templates, translation maps and contracts, DTMF, loops, switch,
// participant data and transfers. Each call asserts where it ended, the
// participant data, and what the caller heard before verification. The
// last group breaks the flow on purpose and expects these checks to fail.
//
// Run through tests/genesys/run.sh (it starts the stack via tests/contract/run.sh).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

import { loadActions } from '../contract/lib/genesys.mjs';
import { convId, crmControl, env, smsMessages, waitReady } from '../contract/lib/stack.mjs';
import { loadFlow, runCall } from './lib/archy.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARCHITECT = path.resolve(HERE, '../../deploy/genesys/architect');
const INBOUND = path.join(ARCHITECT, 'authflow-inbound.yaml');
const OPTIONS = YAML.parse(fs.readFileSync(path.join(ARCHITECT, 'options.yaml'), 'utf8')).substitutions;
/** The fixture's service line that verifies with a one-time code (verificationMethod "otp"). */
const OTP = { ...OPTIONS, serviceLine: 'otp' };
const AUTH_KEYS = ['Auth.Status', 'Auth.CustomerId', 'Auth.CustomerName', 'Auth.Outcome', 'Auth.Method', 'Auth.Error'];

/** The org the flow is published into: the actions in their category, the queues and flows. */
function orgFor(subs) {
  const registry = { [subs.dataActionCategory]: {} };
  for (const a of Object.values(loadActions())) registry[subs.dataActionCategory][a.name] = a;
  return { registry, org: { queues: [subs.agentQueue, subs.verifiedQueue], flows: [subs.nextFlow, subs.flowName] } };
}

let deadUrl;
before(async () => {
  await crmControl({ delayMs: 0, fault: 'none' });
  await waitReady(200);
  // A loopback port with nothing listening: "authflow unreachable".
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  deadUrl = `http://127.0.0.1:${s.address().port}`;
  await new Promise((r) => s.close(r));
});
after(async () => { await crmControl({ delayMs: 0, fault: 'none' }).catch(() => {}); });

/** One call through `flow` (default: the shipped file with options.yaml). */
async function call({ flow, subs = OPTIONS, ani, caller = [], attributes, conversationId, baseUrl, faults, actionTimeoutMs } = {}) {
  const f = flow ?? loadFlow(INBOUND, subs);
  const { registry, org } = orgFor(subs);
  const r = await runCall(f, {
    call: { conversationId: conversationId ?? convId('bp'), ani, attributes },
    caller, registry, org,
    baseUrl: baseUrl ?? env.baseUrl,
    credentials: { apiKey: env.apiKey },
    deadUrl, faults, actionTimeoutMs,
  });
  r.heard = heard(r.events);
  return r;
}

/**
 * What the caller heard, in order, each with the promptId of the session
 * answer whose promptText it was, and whether the caller was verified yet
 * (by the latest data action answer).
 */
function heard(events) {
  let verified = false;
  let answers = [];
  const out = [];
  for (const e of events) {
    if (e.type === 'data' && e.path === 'success') {
      verified = e.output.verified;
      answers = [e.output];
    }
    if (e.type === 'audio') {
      const from = answers.find((o) => o.promptText === e.text);
      out.push({ text: e.text, promptId: from ? from.promptId : null, verified, language: e.language });
    }
  }
  return out;
}

/** The checks every call must pass, whatever the scenario. */
function invariants(r, secrets = []) {
  assert.notEqual(r.end.type, 'disconnect', `the flow disconnected the caller: ${JSON.stringify(r.end)}`);
  for (const k of AUTH_KEYS) assert.equal(typeof r.participantData[k], 'string', `${k} is set`);
  const pdSets = r.events.filter((e) => e.type === 'participantData');
  assert.ok(pdSets.length >= 1, 'Set Participant Data ran before the transfer');
  assert.deepEqual(r.callerKeysLeft, [], 'every key the caller was going to press was asked for');
  for (const s of secrets) {
    for (const [k, v] of Object.entries(r.participantData)) assert.ok(!v.includes(s), `${k} holds the secret`);
    for (const [k, v] of Object.entries(r.variables)) assert.ok(String(v) !== s, `${k} still holds the secret`);
  }
}

function ids(r) { return r.heard.map((h) => h.promptId); }

/**
 * The caller reading their phone: the code in the latest SMS the sink got
 * for `phone` after message number `since` (never from authflow's answers).
 */
async function codeFor(phone, since) {
  const sms = (await smsMessages()).slice(since).filter((m) => m.to === phone);
  assert.ok(sms.length > 0, `an SMS went to ${phone}`);
  assert.match(sms.at(-1).code ?? '', /^[0-9]{4,10}$/);
  return sms.at(-1).code;
}

/** A code of the same length that is not `code`. */
function wrongOf(code) { return [...code].map((d) => String((Number(d) + 1) % 10)).join(''); }

/** Neither the codes nor the customer's name are spoken before verification. */
function noCodeOrNameBeforeVerification(r, codes, name) {
  nothingPersonalBeforeVerification(r, name);
  for (const h of r.heard.filter((x) => !x.verified)) {
    for (const c of codes) assert.ok(!h.text.includes(c), `the code was spoken: ${h.text}`);
  }
}

/** Nothing that names the customer is spoken before verification. */
function nothingPersonalBeforeVerification(r, name) {
  for (const h of r.heard.filter((x) => !x.verified)) {
    assert.ok(!h.text.includes(name), `heard before verification: ${h.text}`);
    assert.ok(!h.text.includes(name.split(' ')[0]), `heard before verification: ${h.text}`);
  }
}

// ---------------------------------------------------------------- scenarios
// Each is a function of the flow so the mutation tests below can run it
// against a broken flow and expect it to fail.
const SCENARIOS = {
  async knownNumberRightPin(flow) {
    const r = await call({ flow, ani: 'tel:+13175550116', caller: ['1234#'] });
    invariants(r, ['1234']);
    assert.deepEqual(r.end, { type: 'flow', flow: OPTIONS.nextFlow });
    nothingPersonalBeforeVerification(r, 'Ana García');
    assert.deepEqual(ids(r), ['ask_security', 'welcome_verified'], 'only authflow\'s prompts are spoken');
    assert.ok(r.heard[1].verified && r.heard[1].text.includes('Ana'), 'greeted by name once verified');
    assert.deepEqual(pick(r.participantData), {
      'Auth.Status': 'identified_verified', 'Auth.CustomerId': '100234', 'Auth.CustomerName': 'Ana García',
      'Auth.Outcome': 'verified', 'Auth.Method': 'ani', 'Auth.Error': '',
    });
    assert.equal(r.variables['Task.securityDigits'], '', 'the PIN is cleared right after use');
    return r;
  },
  async withheldNumberIdentifierPin(flow) {
    const r = await call({ flow, ani: 'anonymous', caller: ['100244#', '4444#'] });
    invariants(r, ['4444']);
    assert.deepEqual(r.end, { type: 'flow', flow: OPTIONS.nextFlow });
    nothingPersonalBeforeVerification(r, 'Lee Chen');
    assert.deepEqual(ids(r), ['ask_identifier', 'ask_security', 'welcome_verified']);
    assert.deepEqual(pick(r.participantData), {
      'Auth.Status': 'identified_verified', 'Auth.CustomerId': '100244', 'Auth.CustomerName': 'Lee Chen',
      'Auth.Outcome': 'verified', 'Auth.Method': 'identifier', 'Auth.Error': '',
    });
    return r;
  },
  async threeWrongIdentifiers(flow) {
    const r = await call({ flow, ani: 'sip:anonymous@anonymous.invalid', caller: ['555555#', '777777#', '888888#'] });
    invariants(r);
    assert.deepEqual(r.end, { type: 'acd', queue: OPTIONS.agentQueue });
    assert.deepEqual(ids(r), ['ask_identifier', 'ask_identifier_retry', 'ask_identifier_retry', 'transfer_to_agent']);
    assert.deepEqual(pick(r.participantData), {
      'Auth.Status': 'not_identified', 'Auth.CustomerId': '', 'Auth.CustomerName': '',
      'Auth.Outcome': 'identify_failed', 'Auth.Method': 'none', 'Auth.Error': '',
    });
    return r;
  },
  async optOut(flow) {
    const r = await call({ flow, ani: 'anonymous', caller: [OPTIONS.optOutKey] });
    invariants(r);
    assert.deepEqual(r.end, { type: 'acd', queue: OPTIONS.agentQueue });
    assert.deepEqual(ids(r), ['ask_identifier', 'opted_out']);
    assert.deepEqual(r.events.filter((e) => e.type === 'data').map((e) => e.action),
      [OPTIONS.startActionName, OPTIONS.optOutActionName]);
    assert.deepEqual(pick(r.participantData), {
      'Auth.Status': 'not_identified', 'Auth.CustomerId': '', 'Auth.CustomerName': '',
      'Auth.Outcome': 'opted_out', 'Auth.Method': 'none', 'Auth.Error': '',
    });
    return r;
  },
  async authflowUnreachable(flow) {
    const r = await call({ flow, ani: 'tel:+13175550116', baseUrl: deadUrl });
    invariants(r);
    assert.deepEqual(r.end, { type: 'acd', queue: OPTIONS.agentQueue });
    assert.deepEqual(r.heard, [], 'nothing to say without authflow');
    assert.deepEqual(r.events.filter((e) => e.type === 'data').map((e) => e.path), ['failure', 'failure'], 'Start tried twice');
    assert.equal(r.participantData['Auth.Status'], 'error');
    assert.equal(r.participantData['Auth.Error'], 'start:failure');
    return r;
  },
  async otpRightCode(flow) {
    const phone = '+13175550116';
    const since = (await smsMessages()).length;
    const codes = [];
    const r = await call({ flow, subs: OTP, ani: `tel:${phone}`,
      caller: [async () => { codes.push(await codeFor(phone, since)); return `${codes[0]}#`; }] });
    invariants(r, codes);
    assert.deepEqual(r.end, { type: 'flow', flow: OTP.nextFlow });
    assert.deepEqual(ids(r), ['ask_otp', 'welcome_verified']);
    assert.match(r.heard[0].text, /ending in 16\b/, 'the prompt names the last two digits only');
    assert.ok(!r.heard[0].text.includes('5550116'), 'the full number is not spoken');
    noCodeOrNameBeforeVerification(r, codes, 'Ana García');
    assert.deepEqual(r.events.filter((e) => e.type === 'data').map((e) => e.action),
      [OTP.startActionName, OTP.otpActionName]);
    assert.deepEqual(pick(r.participantData), {
      'Auth.Status': 'identified_verified', 'Auth.CustomerId': '100234', 'Auth.CustomerName': 'Ana García',
      'Auth.Outcome': 'verified', 'Auth.Method': 'ani', 'Auth.Error': '',
    });
    assert.equal(r.variables['Task.otpDigits'], '', 'the code is cleared right after use');
    return r;
  },
};

function pick(pd) { return Object.fromEntries(AUTH_KEYS.map((k) => [k, pd[k]])); }

describe('the blueprint flow against the live service', () => {
  test('known number, then the right PIN: verified, to the next flow', () => SCENARIOS.knownNumberRightPin());
  test('withheld number, identifier, PIN: verified, to the next flow', () => SCENARIOS.withheldNumberIdentifierPin());
  test('three wrong identifiers: to the agent queue, not identified', () => SCENARIOS.threeWrongIdentifiers());
  test('the opt-out key: Opt Out, to the agent queue', () => SCENARIOS.optOut());
  test('authflow unreachable: Start twice, then the agent queue with Auth.Status "error"', () => SCENARIOS.authflowUnreachable());

  test('one-time code: the code from the SMS, verified, to the next flow', () => SCENARIOS.otpRightCode());

  test('one-time code: star asks for a new code, the new one verifies; the old one is void', async () => {
    const phone = '+13175550116';
    const since = (await smsMessages()).length;
    const codes = [];
    const r = await call({ subs: OTP, ani: `tel:${phone}`, caller: [
      async () => { codes.push(await codeFor(phone, since)); return '*'; },
      async () => {
        const c = await codeFor(phone, since);
        assert.equal((await smsMessages()).slice(since).filter((m) => m.to === phone).length, 2, 'a second SMS went');
        codes.push(c);
        return `${c}#`;
      },
    ] });
    invariants(r, codes);
    assert.deepEqual(r.end, { type: 'flow', flow: OTP.nextFlow });
    assert.deepEqual(ids(r), ['ask_otp', 'ask_otp_resent', 'welcome_verified']);
    assert.deepEqual(r.events.filter((e) => e.type === 'data').map((e) => e.action),
      [OTP.startActionName, OTP.otpResendActionName, OTP.otpActionName]);
    noCodeOrNameBeforeVerification(r, codes, 'Ana García');
    assert.equal(r.participantData['Auth.Status'], 'identified_verified');
    assert.equal(r.participantData['Auth.Method'], 'ani');
    assert.equal(r.variables['Task.otpDigits'], '');
  });

  test('one-time code wrong to the limit: identified only, to the agent queue', async () => {
    // A customer no other scenario uses: three wrong codes count toward the lockout.
    const phone = '+34912345678';
    const since = (await smsMessages()).length;
    const codes = [];
    const wrong = async () => { const c = await codeFor(phone, since); codes.push(c, wrongOf(c)); return `${wrongOf(c)}#`; };
    const r = await call({ subs: OTP, ani: `tel:${phone}`, caller: [wrong, wrong, wrong] });
    invariants(r, codes);
    assert.deepEqual(r.end, { type: 'acd', queue: OTP.agentQueue });
    assert.deepEqual(ids(r), ['ask_otp', 'ask_otp_retry', 'ask_otp_retry', 'transfer_to_agent']);
    noCodeOrNameBeforeVerification(r, codes, 'María José Fernández');
    assert.deepEqual(pick(r.participantData), {
      'Auth.Status': 'identified', 'Auth.CustomerId': '100236', 'Auth.CustomerName': 'María José Fernández',
      'Auth.Outcome': 'verify_failed', 'Auth.Method': 'ani', 'Auth.Error': '',
    });
    assert.equal(r.variables['Task.otpDigits'], '');
  });

  test('one-time code: silence maxNoInput times, then an agent, identified only', async () => {
    const r = await call({ subs: OTP, ani: 'tel:+13175550116', caller: Array(OTP.maxNoInput).fill('') });
    invariants(r);
    assert.deepEqual(r.end, { type: 'acd', queue: OTP.agentQueue });
    assert.deepEqual(ids(r), Array(OTP.maxNoInput).fill('ask_otp'));
    assert.equal(r.participantData['Auth.Status'], 'identified');
    assert.equal(r.participantData['Auth.Error'], '');
  });

  test('one-time code: Submit One-Time Code fails, Get Authentication Status recovers, the caller is asked again', async () => {
    const phone = '+13175550116';
    const since = (await smsMessages()).length;
    const codes = [];
    const right = async () => { codes.push(await codeFor(phone, since)); return `${codes.at(-1)}#`; };
    const r = await call({ subs: OTP, ani: `tel:${phone}`, caller: [right, right],
      faults: (name, n) => (name === OTP.otpActionName && n === 1 ? 'unreachable' : undefined) });
    invariants(r, codes);
    assert.deepEqual(r.end, { type: 'flow', flow: OTP.nextFlow });
    const steps = r.events.filter((e) => e.type === 'data').map((e) => `${e.action}:${e.path}`);
    assert.deepEqual(steps, [`${OTP.startActionName}:success`, `${OTP.otpActionName}:failure`,
      `${OTP.statusActionName}:success`, `${OTP.otpActionName}:success`]);
    assert.equal(r.participantData['Auth.Error'], '');
  });

  test('one-time code expired: silence asks for a new code (as the wiring guide says), the new one verifies', async () => {
    // A stand-in for authflow whose first code has expired (the live service's
    // otp.ttlSeconds is minutes): Start answers ask_otp_expired.
    const base = {
      conversationId: 'x', serviceLine: 'otp', language: 'en-US', state: 'awaiting_otp', nextAction: 'ask_otp',
      authStatus: 'identified', identified: true, verified: false, identificationMethod: 'ani', outcome: 'pending',
      lastResult: 'code_expired', attemptsRemaining: 3, customerId: '100234', customerName: '',
    };
    const requests = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        requests.push(`${req.method} ${req.url.replace(/sessions\/[^/]+/, 'sessions/{id}')} ${body.includes('"resend"') ? 'resend' : ''}`.trim());
        let answer = { ...base, promptId: 'ask_otp_expired', promptText: 'That code has expired. Press star.' };
        if (req.url.endsWith('/otp') && body.includes('"resend"')) {
          answer = { ...base, lastResult: 'code_sent', promptId: 'ask_otp_resent', promptText: 'We have sent a new code.' };
        } else if (req.url.endsWith('/otp')) {
          answer = { ...base, state: 'completed', nextAction: 'continue', authStatus: 'identified_verified', verified: true,
            outcome: 'verified', lastResult: 'match', customerName: 'Ana García', promptId: 'welcome_verified', promptText: 'Thank you, Ana.' };
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    try {
      const r = await call({ subs: OTP, ani: 'tel:+13175550116', caller: ['', '123456#'], baseUrl: `http://127.0.0.1:${server.address().port}` });
      invariants(r, ['123456']);
      assert.deepEqual(r.end, { type: 'flow', flow: OTP.nextFlow });
      assert.deepEqual(ids(r), ['ask_otp_expired', 'ask_otp_resent', 'welcome_verified']);
      assert.deepEqual(requests, ['POST /v1/sessions', 'POST /v1/sessions/{id}/otp resend', 'POST /v1/sessions/{id}/otp']);
      assert.equal(r.participantData['Auth.Status'], 'identified_verified');
      assert.equal(r.variables['Task.otpDigits'], '');
    } finally {
      server.close();
    }
  });

  test('PIN wrong to the limit: identified only, to the agent queue', async () => {
    const r = await call({ ani: 'tel:+13175550120', caller: ['0000#', '1111#', '9999#'] });
    invariants(r, ['0000', '1111', '9999']);
    assert.deepEqual(r.end, { type: 'acd', queue: OPTIONS.agentQueue });
    nothingPersonalBeforeVerification(r, 'Daniel Okafor');
    assert.deepEqual(ids(r), ['ask_security', 'ask_security_retry', 'ask_security_retry', 'transfer_to_agent']);
    assert.deepEqual(pick(r.participantData), {
      'Auth.Status': 'identified', 'Auth.CustomerId': '100235', 'Auth.CustomerName': 'Daniel Okafor',
      'Auth.Outcome': 'verify_failed', 'Auth.Method': 'ani', 'Auth.Error': '',
    });
  });

  test('a callback carries the earlier conversation: verified again without a question', async () => {
    const first = convId('bp-first');
    let r = await call({ conversationId: first, ani: 'tel:+13175550143', caller: ['4343#'] });
    assert.equal(r.participantData['Auth.Status'], 'identified_verified');
    // The callback is a new conversation with the customer's own number;
    // its participant data carries the first conversation's ID.
    r = await call({ ani: 'tel:+13175550143', attributes: { [OPTIONS.linkAttribute]: first } });
    invariants(r);
    assert.deepEqual(r.end, { type: 'flow', flow: OPTIONS.nextFlow });
    assert.deepEqual(ids(r), ['welcome_verified'], 'no question at all');
    assert.equal(r.events.filter((e) => e.type === 'collect').length, 0);
    assert.deepEqual(pick(r.participantData), {
      'Auth.Status': 'identified_verified', 'Auth.CustomerId': '100243', 'Auth.CustomerName': 'Kim Park',
      'Auth.Outcome': 'verified', 'Auth.Method': 'linked', 'Auth.Error': '',
    });
  });

  test('a callback from another number carries the identification only: the PIN is asked', async () => {
    const first = convId('bp-first-other');
    let r = await call({ conversationId: first, ani: 'tel:+13175550143', caller: ['4343#'] });
    assert.equal(r.participantData['Auth.Status'], 'identified_verified');
    // A withheld number cannot prove it is the same caller: authflow
    // carries who the customer is, not that they were verified.
    r = await call({ ani: 'anonymous', attributes: { [OPTIONS.linkAttribute]: first }, caller: ['4343#'] });
    invariants(r, ['4343']);
    assert.deepEqual(r.end, { type: 'flow', flow: OPTIONS.nextFlow });
    assert.equal(ids(r)[0], 'ask_security');
    nothingPersonalBeforeVerification(r, 'Kim Park');
    assert.deepEqual(pick(r.participantData), {
      'Auth.Status': 'identified_verified', 'Auth.CustomerId': '100243', 'Auth.CustomerName': 'Kim Park',
      'Auth.Outcome': 'verified', 'Auth.Method': 'linked', 'Auth.Error': '',
    });
  });

  test('no callback data: linkedConversationId goes out empty and the ANI is used', async () => {
    const r = await call({ ani: 'tel:+13175550142', caller: ['4242#'] });
    invariants(r);
    assert.equal(r.participantData['Auth.Method'], 'ani');
    assert.equal(r.participantData['Auth.Status'], 'identified_verified');
  });

  test('too few digits and silence are re-asked; silence twice on the identifier opts out', async () => {
    let r = await call({ ani: 'anonymous', caller: ['12#', '100244#', '4444#'] });
    invariants(r);
    assert.deepEqual(r.events.filter((e) => e.type === 'collect').map((e) => e.ok), [false, true, true]);
    assert.deepEqual(ids(r), ['ask_identifier', 'ask_identifier', 'ask_security', 'welcome_verified'], '"12" never reached authflow');
    assert.equal(r.participantData['Auth.Status'], 'identified_verified');
    r = await call({ ani: 'anonymous', caller: ['', ''] });
    invariants(r);
    assert.deepEqual(r.end, { type: 'acd', queue: OPTIONS.agentQueue });
    assert.equal(r.participantData['Auth.Outcome'], 'opted_out');
  });

  test('silence at the PIN question: asked maxNoInput times, then an agent, identified only', async () => {
    const r = await call({ ani: 'tel:+13175550116', caller: Array(OPTIONS.maxNoInput).fill('') });
    invariants(r);
    assert.deepEqual(r.end, { type: 'acd', queue: OPTIONS.agentQueue });
    assert.deepEqual(ids(r), Array(OPTIONS.maxNoInput).fill('ask_security'), 'no closing words after the question');
    nothingPersonalBeforeVerification(r, 'Ana García');
    assert.equal(r.participantData['Auth.Status'], 'identified');
    assert.equal(r.participantData['Auth.CustomerId'], '100234');
    assert.equal(r.participantData['Auth.Error'], '');
  });

  test('Spanish and Korean: the flow\'s language reaches authflow, the caller hears its prompts', async () => {
    const en = await call({ ani: 'anonymous', caller: [OPTIONS.optOutKey] });
    for (const language of ['es-es', 'ko-kr']) {
      const r = await call({ subs: { ...OPTIONS, language }, ani: 'anonymous', caller: [OPTIONS.optOutKey] });
      invariants(r);
      assert.deepEqual(ids(r), ['ask_identifier', 'opted_out']);
      for (const [i, h] of r.heard.entries()) {
        assert.equal(h.language, language);
        assert.notEqual(h.text, en.heard[i].text, `${language} prompt ${h.promptId} is not the English one`);
      }
    }
  });

  test('authflow fails mid-call: Get Authentication Status fails too, the agent queue with Auth.Error', async () => {
    const r = await call({ ani: 'anonymous', caller: ['100244#'],
      faults: (name) => (name === OPTIONS.identifierActionName || name === OPTIONS.statusActionName ? 'unreachable' : undefined) });
    invariants(r);
    assert.deepEqual(r.end, { type: 'acd', queue: OPTIONS.agentQueue });
    assert.equal(r.participantData['Auth.Status'], 'error');
    assert.equal(r.participantData['Auth.Error'], 'submit_identifier:failure');
  });

  test('a slow CRM: Submit Identifier takes its Timeout path, twice in a row is an error', async () => {
    await crmControl({ delayMs: 1500 });
    try {
      const r = await call({ ani: 'anonymous', caller: ['100244#', '100244#'], actionTimeoutMs: 400 });
      invariants(r);
      assert.deepEqual(r.end, { type: 'acd', queue: OPTIONS.agentQueue });
      const steps = r.events.filter((e) => e.type === 'data').map((e) => `${e.action}:${e.path}`);
      assert.equal(steps[1], `${OPTIONS.identifierActionName}:timeout`);
      assert.equal(steps[2], `${OPTIONS.statusActionName}:success`, 'the state is read again after the timeout');
      assert.equal(r.participantData['Auth.Status'], 'error');
      // The second try times out too, or finds the first still running (409 busy).
      assert.match(r.participantData['Auth.Error'], /^submit_identifier:(timeout|failure)$/);
    } finally {
      await crmControl({ delayMs: 0 });
    }
  });

  test('one failed step is recovered through Get Authentication Status and the call goes on', async () => {
    const r = await call({ ani: 'anonymous', caller: ['100244#', '100244#', '4444#'],
      faults: (name, n) => (name === OPTIONS.identifierActionName && n === 1 ? 'unreachable' : undefined) });
    invariants(r);
    assert.deepEqual(r.end, { type: 'flow', flow: OPTIONS.nextFlow });
    assert.equal(r.participantData['Auth.Status'], 'identified_verified');
    assert.equal(r.participantData['Auth.Error'], '');
    assert.deepEqual(ids(r), ['ask_identifier', 'ask_identifier', 'ask_security', 'welcome_verified'],
      'the caller is asked again after the failure');
  });

  test('a service that always asks again: the loop bound ends the call in the agent queue', async () => {
    // A stand-in for a misbehaving authflow: every step answers 200 "ask_identifier".
    const answer = {
      conversationId: 'x', serviceLine: OPTIONS.serviceLine, language: 'en-US', state: 'awaiting_identifier',
      nextAction: 'ask_identifier', authStatus: 'not_identified', identified: false, verified: false,
      identificationMethod: 'none', outcome: 'pending', lastResult: 'no_match', attemptsRemaining: 3,
      promptId: 'ask_identifier_retry', promptText: 'Again, please.', customerId: '', customerName: '',
    };
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(answer)); });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    try {
      const caller = Array(OPTIONS.maxSteps).fill('100244#');
      const r = await call({ ani: 'anonymous', caller, baseUrl: `http://127.0.0.1:${server.address().port}` });
      invariants(r);
      assert.deepEqual(r.end, { type: 'acd', queue: OPTIONS.agentQueue });
      assert.equal(r.participantData['Auth.Status'], 'error');
      assert.equal(r.participantData['Auth.Error'], 'loop:exhausted');
      const loop = r.events.find((e) => e.type === 'loop' && e.exit === 'bound');
      assert.equal(loop.passes, OPTIONS.maxSteps);
    } finally {
      server.close();
    }
  });
});

// ----------------------------------------------------- breaking the flow
/** The inner mapping of the first action of `kind` named `name` (depth-first). */
function findAction(node, kind, name) {
  if (Array.isArray(node)) {
    for (const x of node) { const f = findAction(x, kind, name); if (f) return f; }
  } else if (node && typeof node === 'object') {
    if (node[kind] && node[kind].name === name) return node[kind];
    for (const v of Object.values(node)) { const f = findAction(v, kind, name); if (f) return f; }
  }
  return null;
}

/** A fresh copy of the shipped flow, changed by `change(def)`. */
function broken(change, subs = OPTIONS) {
  const f = loadFlow(INBOUND, subs);
  f.def = structuredClone(f.def);
  change(f.def);
  return f;
}

describe('the checks fail when the flow is wrong', () => {
  test('the shipped flow passes the scenarios the mutations break', async () => {
    for (const s of Object.values(SCENARIOS)) await s();
  });

  test('a Start Authentication without its Failure path', async () => {
    const f = broken((d) => { delete findAction(d, 'callData', 'authflow Start Authentication').outputs.failure; });
    await assert.rejects(SCENARIOS.authflowUnreachable(f), /Auth\.Error|start:failure/);
  });

  test('the ID&V loop without its bound', async () => {
    const f = broken((d) => { delete findAction(d, 'loop', 'ID&V steps (bounded)').loopCount; });
    await assert.rejects(SCENARIOS.withheldNumberIdentifierPin(f), /no bound/);
  });

  test('Set Participant Data removed from the exit', async () => {
    const f = broken((d) => {
      const idv = d.tasks[0].task;
      idv.actions = idv.actions.filter((a) => !a.setParticipantData);
    });
    await assert.rejects(SCENARIOS.optOut(f), /Auth\.Status is set|Set Participant Data/);
  });

  test('the customer\'s name spoken with the PIN question', async () => {
    const f = broken((d) => {
      findAction(d, 'collectInput', 'Collect the security answer').inputAudio = { exp: 'ToAudioTTS(Task.promptText + " " + Task.customerName)' };
    });
    await assert.rejects(SCENARIOS.knownNumberRightPin(f), /heard before verification/);
  });

  test('the opt-out decision removed: "*" goes to Submit Identifier', async () => {
    const f = broken((d) => {
      const c = findAction(d, 'collectInput', 'Collect the identifier');
      c.outputs.success.actions = findAction(d, 'decision', 'Opt-out key?').outputs.no.actions;
    });
    await assert.rejects(SCENARIOS.optOut(f), /opted_out|ask_identifier_retry|expected|Auth\./);
  });

  test('the agent queue misspelt: the transfer fails and the call is disconnected', async () => {
    const f = broken((d) => {
      const route = d.tasks.find((t) => t.task.refId === 'route').task;
      for (const a of route.actions) if (a.transferToAcd) a.transferToAcd.targetQueue.lit.name = 'No Such Queue';
    });
    await assert.rejects(SCENARIOS.threeWrongIdentifiers(f), /disconnected/);
  });

  test('a name written from memory: exitLoop instead of Archy\'s loopExit', async () => {
    const f = broken((d) => {
      const rename = (node) => {
        if (Array.isArray(node)) { for (const x of node) rename(x); return; }
        if (!node || typeof node !== 'object') return;
        if (node.loopExit) { node.exitLoop = node.loopExit; delete node.loopExit; }
        for (const v of Object.values(node)) rename(v);
      };
      rename(d);
    });
    await assert.rejects(SCENARIOS.knownNumberRightPin(f), /unknown action exitLoop/);
  });

  test('a bare "#" as the terminating key (Archy writes digit_#)', async () => {
    const f = broken((d) => { findAction(d, 'collectInput', 'Collect the identifier').digits.range.terminatingDtmf = '#'; });
    await assert.rejects(SCENARIOS.withheldNumberIdentifierPin(f), /terminatingDtmf/);
  });

  test('the ask_otp case removed: a one-time code line goes to an agent unverified', async () => {
    const f = broken((d) => {
      const sw = findAction(d, 'switch', 'What authflow asks for (nextAction)');
      sw.evaluate.firstTrue.cases = sw.evaluate.firstTrue.cases.filter((c) => !/ask_otp/.test(c.case.value.exp));
    }, OTP);
    // The switch's default sends the caller to an agent before the code is asked for.
    await assert.rejects(SCENARIOS.otpRightCode(f), /every key the caller was going to press was asked for/);
  });

  test('the code submitted through the wrong data action (Submit Security Answer)', async () => {
    const f = broken((d) => {
      const c = findAction(d, 'callData', 'authflow Submit One-Time Code');
      const da = c.category[OTP.dataActionCategory].dataAction;
      const spec = da[OTP.otpActionName];
      spec.inputs = { conversationId: spec.inputs.conversationId, answer: spec.inputs.code };
      c.category[OTP.dataActionCategory].dataAction = { [OTP.securityActionName]: spec };
    }, OTP);
    await assert.rejects(SCENARIOS.otpRightCode(f), /strictly deep-equal/);
  });

  test('a data action name that the org does not have', async () => {
    await assert.rejects(SCENARIOS.optOut(loadFlow(INBOUND, { ...OPTIONS, optOutActionName: 'authflow Opt-Out' })), /no data action/);
  });
});
