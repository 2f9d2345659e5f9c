// deploy/genesys/architect/, checked as files (offline): the substitutions
// of options.yaml against the flows' placeholders and the data actions, and
// the rules the blueprint promises (bounded loops, a Failure and a Timeout
// path on every data action, no disconnect in ID&V, the languages). The
// executor (lib/archy.mjs) also runs the flow: tests/genesys/flow.test.mjs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

import { checkFlow, refuseYamlExtras } from './lib/archy-format.mjs';
import { loadFlow, placeholders, substitute } from './lib/flowfile.mjs';
import { parseExpression } from './lib/expr.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const ARCHITECT = path.join(ROOT, 'deploy/genesys/architect');
const ACTIONS_DIR = path.join(ROOT, 'api-spec/genesys');
const OPTIONS = YAML.parse(fs.readFileSync(path.join(ARCHITECT, 'options.yaml'), 'utf8')).substitutions;
const FLOWS = ['authflow-inbound.yaml', 'authflow-verified.yaml'];
const README = fs.readFileSync(path.join(ROOT, 'deploy/genesys/README.md'), 'utf8');

/** Every action in a list, depth-first, as [kind, body]. */
function* actions(node) {
  if (Array.isArray(node)) {
    for (const x of node) yield* actions(x);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (v && typeof v === 'object' && !Array.isArray(v) && typeof v.name === 'string' && k !== 'task') yield [k, v];
      yield* actions(v);
    }
  }
}

describe('options.yaml and the flows', () => {
  test('every placeholder has a substitution, every substitution is used, the README table has them all', () => {
    const used = new Set(FLOWS.flatMap((f) => placeholders(fs.readFileSync(path.join(ARCHITECT, f), 'utf8'))));
    assert.deepEqual([...used].sort(), Object.keys(OPTIONS).sort());
    for (const k of Object.keys(OPTIONS)) assert.ok(README.includes(`| \`${k}\``), `README's substitution table has ${k}`);
  });

  test('Archy substitution is exact: an unknown name or a missing value is an error', () => {
    assert.equal(substitute('a {{x}} b {{x}}', { x: 1 }), 'a 1 b 1');
    assert.throws(() => substitute('{{y}}', { x: 1 }), /no substitution for \{\{y\}\}/);
  });

  test('the action names in options.yaml are the names in the *.custom.json files', () => {
    const names = fs.readdirSync(ACTIONS_DIR).filter((f) => f.endsWith('.custom.json'))
      .map((f) => JSON.parse(fs.readFileSync(path.join(ACTIONS_DIR, f), 'utf8')).name);
    for (const k of ['startActionName', 'identifierActionName', 'securityActionName', 'optOutActionName', 'statusActionName',
      'otpActionName', 'otpResendActionName']) {
      assert.ok(names.includes(OPTIONS[k]), `${k} = ${OPTIONS[k]} is an action`);
    }
  });

  test('the identifier bounds fit the service line\'s identifier type (authflow\'s defaults)', () => {
    // service/core/flow.c flow_identifier_default_lengths: customer_id 4..12
    assert.ok(OPTIONS.identifierMinDigits >= 4 && OPTIONS.identifierMaxDigits <= 12);
    assert.ok(OPTIONS.securityMinDigits >= 1 && OPTIONS.securityMaxDigits <= 32);
    assert.ok(OPTIONS.maxSteps >= 3 + 3 + OPTIONS.maxNoInput + 4, 'maxSteps covers the banking line (3 + 3 attempts)');
    assert.ok(OPTIONS.maxSteps >= 3 + 3 + OPTIONS.maxNoInput + 4 + 3, 'maxSteps covers a one-time code line (3 + 3 attempts, 3 sends)');
    assert.equal(OPTIONS.optOutKey, '*');
    // authflow's otp.length is OTP_LENGTH_MIN..OTP_LENGTH_MAX, 4..10 (service/config/config_otp.c).
    assert.ok(OPTIONS.otpMinDigits >= 4 && OPTIONS.otpMaxDigits <= 10 && OPTIONS.otpMinDigits <= OPTIONS.otpMaxDigits);
  });
});

describe('Archy names (lib/archy-format.mjs, README "Format notes")', () => {
  test('every action, property and output of both flows is a name seen in published Archy flows', () => {
    for (const file of FLOWS) {
      const n = checkFlow(loadFlow(path.join(ARCHITECT, file), OPTIONS).def);
      assert.ok(n >= 3, `${file}: ${n} actions checked`);
    }
  });

  test('the names written from memory are refused: exitLoop, a bare "#" terminator, anchors', () => {
    const flow = loadFlow(path.join(ARCHITECT, 'authflow-inbound.yaml'), OPTIONS);
    const mutate = (change) => { const d = structuredClone(flow.def); change(d); return () => checkFlow(d); };
    const firstTask = (d) => d.tasks[0].task;
    assert.throws(mutate((d) => firstTask(d).actions.push({ exitLoop: { name: 'x' } })), /unknown action exitLoop/);
    const collect = findCollect;
    assert.throws(mutate((d) => { collect(d).digits.range.terminatingDtmf = '#'; }), /terminatingDtmf # is not digit_<key>/);
    assert.throws(mutate((d) => { collect(d).includeTerminatingDtmfInResultData = { lit: false }; }), /plain boolean/);
    assert.throws(mutate((d) => { collect(d).terminatingDtmf = 'digit_#'; }), /unknown key terminatingDtmf/);
    assert.throws(mutate((d) => { d.settingsErrorHandling.errorHandling = { goToTask: { targetTaskRef: 'x' } }; }), /unknown errorHandling/);
    assert.throws(mutate((d) => { firstTask(d).actions.push({ transferToFlow: { name: 'x', targetFlow: { name: 'y' }, outputs: {} } }); }),
      /unknown key outputs/);
    assert.throws(() => refuseYamlExtras(YAML.parseDocument('a: &x {b: 1}\nc: *x\n'), 'f'), /YAML (anchor|alias)/);
    // A plain "&" inside a name is text, not an anchor.
    refuseYamlExtras(YAML.parseDocument('name: authflow ID&V\n'), 'f');
  });
});

/** The first collectInput in a flow definition. */
function findCollect(node) {
  if (Array.isArray(node)) {
    for (const x of node) { const f = findCollect(x); if (f) return f; }
  } else if (node && typeof node === 'object') {
    if (node.collectInput) return node.collectInput;
    for (const v of Object.values(node)) { const f = findCollect(v); if (f) return f; }
  }
  return null;
}

describe('the reusable piece: the "authflow ID&V" task', () => {
  const flow = loadFlow(path.join(ARCHITECT, 'authflow-inbound.yaml'), OPTIONS);
  const idv = flow.def.tasks.find((t) => t.task.refId === 'authflow_idv').task;
  const text = JSON.stringify(idv);

  test('it uses only its own Task variables, Call built-ins and the documented Flow.Auth* outputs', () => {
    const declared = new Set(idv.variables.map((v) => Object.values(v)[0].name));
    const names = new Set([...text.matchAll(/\b(Task|Flow|Call)\.[A-Za-z0-9_]+/g)].map((m) => m[0]));
    const outputs = flow.def.variables.map((v) => Object.values(v)[0].name);
    assert.deepEqual(outputs, ['Flow.AuthVerified', 'Flow.AuthStatus', 'Flow.AuthCustomerId', 'Flow.AuthCustomerName',
      'Flow.AuthOutcome', 'Flow.AuthMethod', 'Flow.AuthError']);
    for (const n of names) {
      if (n.startsWith('Task.')) assert.ok(declared.has(n), `${n} is declared in the task`);
      else if (n.startsWith('Flow.')) assert.ok(outputs.includes(n), `${n} is one of the documented outputs`);
      else assert.ok(['Call.ConversationId', 'Call.Ani', 'Call.Language'].includes(n), `${n} is a documented input`);
      assert.ok(README.includes(n.startsWith('Task.') ? 'authflow ID&V' : n), `README documents ${n}`);
    }
  });

  test('its single exit: Set Participant Data, then one Jump to Task as the last action', () => {
    const kinds = idv.actions.map((a) => Object.keys(a)[0]);
    assert.equal(kinds.at(-1), 'jumpToTask');
    assert.equal(idv.actions.at(-1).jumpToTask.targetTaskRef, '/inboundCall/tasks/task[route]');
    assert.equal((text.match(/"jumpToTask"/g) ?? []).length, 1, 'no other jump out of the task');
    assert.equal((text.match(/"setParticipantData"/g) ?? []).length, 1, 'participant data set in one place');
    assert.ok(kinds.indexOf('setParticipantData') < kinds.indexOf('jumpToTask'));
    assert.ok(!/"transferTo|"disconnect"/.test(text), 'the task itself never transfers or disconnects');
  });
});

for (const file of FLOWS) {
  describe(file, () => {
    const flow = loadFlow(path.join(ARCHITECT, file), OPTIONS);
    const all = [...actions(flow.def.tasks)];

    test('an inboundCall with en-us, es-es and ko-kr and error handling that keeps the caller', () => {
      assert.deepEqual(Object.keys(flow.def.supportedLanguages).sort(), ['en-us', 'es-es', 'ko-kr']);
      assert.ok(flow.def.settingsErrorHandling.errorHandling.jumpToTask, 'errors jump to a task, not a disconnect');
    });

    test('every loop has a literal bound; every expression parses', () => {
      for (const [k, a] of all) {
        if (k === 'loop') assert.ok(Number.isInteger(a.loopCount?.lit) && a.loopCount.lit <= 50, `${a.name}: literal loopCount`);
      }
      const exps = JSON.stringify(flow.def).match(/"exp":"((?:[^"\\]|\\.)*)"/g) ?? [];
      assert.ok(exps.length > 0 || file !== 'authflow-inbound.yaml');
      for (const e of exps) parseExpression(JSON.parse(`{${e}}`).exp);
    });

    test('every Call Data Action has a Failure and a Timeout path and maps every output; every transfer is followed by another way out', () => {
      const contracts = Object.fromEntries(fs.readdirSync(ACTIONS_DIR).filter((f) => f.endsWith('.custom.json'))
        .map((f) => JSON.parse(fs.readFileSync(path.join(ACTIONS_DIR, f), 'utf8')))
        .map((j) => [j.name, j.contract.output.successSchema]));
      for (const [k, a] of all) {
        if (k === 'callData') {
          for (const o of ['failure', 'timeout']) assert.ok(a.outputs?.[o]?.actions?.length, `${a.name}: ${o} path`);
          const [[, c]] = Object.entries(a.category);
          const [[actionName, d]] = Object.entries(c.dataAction);
          assert.deepEqual(Object.keys(d.successOutputs).sort(), Object.keys(contracts[actionName].properties).sort(),
            `${a.name}: every output of ${actionName} is mapped`);
        }
      }
      for (const t of flow.def.tasks) {
        const list = t.task.actions;
        const last = Object.keys(list.at(-1))[0];
        assert.ok(['jumpToTask', 'disconnect'].includes(last), `task ${t.task.name} ends with a jump or the final disconnect`);
        if (last === 'disconnect') {
          assert.equal(Object.keys(list.at(-2))[0], 'transferToAcd', `task ${t.task.name}: disconnect only after a failed transfer`);
        }
      }
    });

    test('no disconnect except the last resort after the agent queue', () => {
      const disconnects = all.filter(([k]) => k === 'disconnect');
      assert.equal(disconnects.length, 1);
    });
  });
}
