// Runs an Archy YAML inbound call flow (deploy/genesys/architect/) the way
// Architect runs it, against the live authflow through the real data actions.
//
//   1. Substitutions first, as Archy does: every {{name}} is replaced with
//      its value, exactly; a name without a value is an error.
//   2. The YAML is parsed (anchors and aliases refused) and every action,
//      property and output is checked against lib/archy-format.mjs, the
//      names seen in published Archy flows; anything else throws, so the
//      tests fail rather than skip a part of the flow they do not
//      understand. Then the flow is walked action by action from startUpRef.
//   3. callData resolves the data action by category and name (as the org
//      has them), checks the inputs and successOutputs against the action's
//      contracts and runs it through lib/genesys.mjs (Velocity templates,
//      translation map, output contract): Success, Failure or Timeout.
//   4. collectInput plays its prompt and takes the caller's next keys
//      (e.g. "100244#", "*", "" for silence, or an async function that
//      returns them when asked) with Architect's rules: digits
//      up to max, the terminating key (terminatingDtmf: digit_#), a lone "*"
//      only with acceptJustStar,
//      fewer than min digits or no input is the Failure output.
//   5. loop needs a literal loopCount (a loop without a bound is refused);
//      loopExit leaves the innermost loop; switch takes the first true case.
//   6. setParticipantData / getParticipantData work on the call's attributes
//      (a callback carries its CreateCallbackCommand.data there).
//   7. transferToAcd / transferToFlow end the call when the org has the
//      queue or flow, else take their Failure output; disconnect ends it; a
//      task that runs off its end is an error (Architect refuses to publish).
//   8. A run-time expression error goes to settingsErrorHandling.
//
// The result: where the call ended, the participant data, the variables and
// a timeline of events (audio heard, keys collected, data actions run).
import { runAction } from '../../contract/lib/genesys.mjs';
import { ACTION_KEYS, checkFlow, only, OUTPUT_KEYS, single, TERMINATING_DTMF } from './archy-format.mjs';
import { evaluate, FlowError, NOT_SET, parseExpression } from './expr.mjs';

export { loadFlow, placeholders, substitute } from './flowfile.mjs';

class CallEnded { constructor(end) { this.end = end; } }
class ExitLoop {}
class Jump { constructor(ref) { this.ref = ref; } }

const VAR_TYPES = { stringVariable: 'string', integerVariable: 'number', booleanVariable: 'boolean' };
const STATEMENT_TYPES = { string: 'string', integer: 'number', boolean: 'boolean' };
const CONTRACT_TYPES = { string: 'string', integer: 'number', boolean: 'boolean' };
/** Architect's limit on one participant data value in bot flows; kept here as a sanity bound. */
const PARTICIPANT_VALUE_MAX = 256;

/**
 * Run one inbound call through `flow` (from loadFlow).
 *
 * opts:
 *   call        {conversationId, ani, attributes?}: the call as it arrives
 *   caller      array of key strings (or async functions returning them), one per Collect Input, in order
 *   registry    {category: {actionName: <*.custom.json object>}}: the org's data actions
 *   org         {queues: [names], flows: [names]}
 *   baseUrl, credentials   where and how the data actions reach authflow
 *   faults      optional fn(actionName, n) -> 'unreachable' | undefined: makes
 *               the nth execution of an action go to a dead port
 *   deadUrl     the dead base URL faults use
 *   maxSteps    bound on executed actions (a runaway flow fails the test)
 */
export async function runCall(flow, opts) {
  const def = flow.def;
  checkFlow(def); // every name is one Archy publishes (lib/archy-format.mjs)
  const events = [];
  const participantData = { ...(opts.call.attributes ?? {}) };
  const caller = [...(opts.caller ?? [])];
  const vars = new Map();
  const seen = new Map();
  const counts = {};
  let steps = 0;
  const maxSteps = opts.maxSteps ?? 2000;
  const tasks = new Map();
  for (const t of def.tasks ?? []) {
    only(t, ['task'], 'tasks[]');
    only(t.task, ['name', 'refId', 'variables', 'actions'], `task ${t.task.name}`);
    tasks.set(t.task.refId, t.task);
  }
  const builtins = {
    'call.conversationid': opts.call.conversationId,
    'call.ani': opts.call.ani,
    'call.language': String(def.defaultLanguage).toLowerCase(),
  };

  function declare(list, scope) {
    for (const entry of list ?? []) {
      const [kind, v] = single(entry, `${scope} variables`);
      if (!(kind in VAR_TYPES)) throw new Error(`unsupported variable kind ${kind}`);
      only(v, ['name', 'initialValue', 'description'], `variable ${v.name}`);
      if (!v.name.toLowerCase().startsWith(`${scope}.`)) throw new Error(`${v.name} is not a ${scope} variable`);
      let value = NOT_SET;
      if (v.initialValue && !v.initialValue.noValue) {
        value = valueOf(v.initialValue, `${v.name} initial value`);
        if (typeof value !== VAR_TYPES[kind]) throw new Error(`${v.name}: initial value is not ${VAR_TYPES[kind]}`);
      }
      const slot = { name: v.name, type: VAR_TYPES[kind], value };
      vars.set(v.name.toLowerCase(), slot);
      seen.set(`${scope}:${v.name.toLowerCase()}`, slot);
    }
  }
  function lookup(name) {
    const low = name.toLowerCase();
    if (low in builtins) return builtins[low] ?? NOT_SET;
    if (low.startsWith('call.')) throw new Error(`unsupported built-in ${name}`);
    const v = vars.get(low);
    if (!v) throw new Error(`undeclared variable ${name}`);
    return v.value;
  }
  function assign(name, value, where) {
    const v = vars.get(String(name).toLowerCase());
    if (!v) throw new Error(`${where}: undeclared variable ${name}`);
    if (value !== NOT_SET && typeof value !== v.type) throw new Error(`${where}: ${name} is ${v.type}, got ${typeof value}`);
    v.value = value;
  }
  const parsed = new Map();
  function expr(src) {
    if (!parsed.has(src)) parsed.set(src, parseExpression(String(src)));
    return evaluate(parsed.get(src), lookup);
  }
  function valueOf(spec, where) {
    if (spec === null || typeof spec !== 'object') throw new Error(`${where}: expected lit/exp/noValue`);
    const [k, v] = single(spec, where);
    if (k === 'lit') return v;
    if (k === 'exp') return expr(v);
    if (k === 'noValue') return NOT_SET;
    throw new Error(`${where}: unsupported value form ${k}`);
  }
  function audio(spec, where) {
    if (!spec) return;
    const [k, v] = single(spec, where);
    let a;
    if (k === 'tts') a = { tts: String(v) };
    else if (k === 'exp') a = expr(v);
    else throw new Error(`${where}: unsupported audio form ${k}`);
    if (a === NOT_SET || typeof a !== 'object') throw new FlowError(`${where}: not audio`);
    if (a.tts !== undefined) events.push({ type: 'audio', text: a.tts, language: builtins['call.language'], where });
  }
  function outputs(kind, a) {
    const o = a.outputs ?? {};
    only(o, OUTPUT_KEYS[kind], `${kind} ${a.name} outputs`);
    for (const [k, v] of Object.entries(o)) only(v ?? {}, ['actions'], `${kind} ${a.name} outputs.${k}`);
    return o;
  }

  async function runList(actions, where) {
    for (const entry of actions ?? []) await runAction1(entry, where);
  }

  async function runAction1(entry, where) {
    const [kind, a] = single(entry, `${where} action`);
    if (!(kind in ACTION_KEYS)) throw new Error(`${where}: unsupported action ${kind}`);
    only(a, ACTION_KEYS[kind], `${kind} ${a?.name ?? ''}`);
    if (++steps > maxSteps) throw new Error(`more than ${maxSteps} actions: the flow runs away`);
    const out = OUTPUT_KEYS[kind] ? outputs(kind, a) : {};
    const label = `${kind} "${a.name ?? ''}"`;
    switch (kind) {
      case 'updateData':
        for (const st of a.statements ?? []) {
          const [t, s] = single(st, `${label} statement`);
          if (!(t in STATEMENT_TYPES)) throw new Error(`${label}: unsupported statement ${t}`);
          only(s, ['variable', 'value'], `${label} statement`);
          const value = valueOf(s.value, label);
          if (value !== NOT_SET && typeof value !== STATEMENT_TYPES[t]) throw new FlowError(`${label}: ${s.variable} gets a ${typeof value}`);
          assign(s.variable, value, label);
        }
        return;
      case 'decision': {
        const c = valueOf(a.condition, label);
        if (typeof c !== 'boolean') throw new FlowError(`${label}: condition is not boolean`);
        return runList(out[c ? 'yes' : 'no']?.actions, label);
      }
      case 'switch': {
        const [how, body] = single(a.evaluate, `${label} evaluate`);
        if (how !== 'firstTrue') throw new Error(`${label}: unsupported evaluate ${how}`);
        only(body, ['cases', 'default'], label);
        for (const c of body.cases ?? []) {
          const [ck, cv] = single(c, `${label} case`);
          if (ck !== 'case') throw new Error(`${label}: expected case`);
          only(cv, ['value', 'actions'], `${label} case`);
          const v = valueOf(cv.value, `${label} case`);
          if (typeof v !== 'boolean') throw new FlowError(`${label}: case is not boolean`);
          if (v) return runList(cv.actions, label);
        }
        only(body.default ?? {}, ['actions'], `${label} default`);
        return runList(body.default?.actions, label);
      }
      case 'loop': {
        if (!a.loopCount) throw new Error(`${label}: a loop without loopCount has no bound`);
        const n = valueOf(a.loopCount, label);
        if (!Number.isInteger(n) || n < 1) throw new Error(`${label}: loopCount must be a positive integer, got ${String(n)}`);
        for (let i = 0; i < n; i++) {
          if (a.currentIndex) assign(a.currentIndex.var, i, label);
          try {
            await runList(out.loop?.actions, label);
          } catch (e) {
            if (e instanceof ExitLoop) { events.push({ type: 'loop', name: a.name, exit: 'loopExit', passes: i + 1 }); return; }
            throw e;
          }
        }
        events.push({ type: 'loop', name: a.name, exit: 'bound', passes: n });
        return;
      }
      case 'loopExit':
        throw new ExitLoop();
      case 'getParticipantData':
        for (const at of a.attributes ?? []) {
          only(at, ['attribute'], label);
          only(at.attribute, ['name', 'variable'], label);
          const name = valueOf(at.attribute.name, label);
          const v = Object.hasOwn(participantData, name) ? participantData[name] : NOT_SET;
          assign(at.attribute.variable, v, label);
        }
        return;
      case 'setParticipantData':
        for (const at of a.attributes ?? []) {
          only(at, ['attribute'], label);
          only(at.attribute, ['name', 'value'], label);
          const name = valueOf(at.attribute.name, label);
          const value = valueOf(at.attribute.value, label);
          if (typeof value !== 'string') throw new FlowError(`${label}: ${name} is not a string`);
          if (value.length > PARTICIPANT_VALUE_MAX) throw new FlowError(`${label}: ${name} longer than ${PARTICIPANT_VALUE_MAX}`);
          participantData[name] = value;
        }
        events.push({ type: 'participantData', name: a.name, data: { ...participantData } });
        return;
      case 'playAudio':
        return audio(a.audio, label);
      case 'collectInput':
        return collect(a, out, label);
      case 'callData':
        return callData(a, out, label);
      case 'transferToAcd': {
        const [k, q] = single(a.targetQueue, `${label} targetQueue`);
        if (k !== 'lit') throw new Error(`${label}: unsupported queue form ${k}`);
        audio(a.preTransferAudio, label);
        if ((opts.org?.queues ?? []).includes(q.name)) throw new CallEnded({ type: 'acd', queue: q.name });
        events.push({ type: 'transferFailed', to: q.name });
        return runList(out.failure?.actions, label);
      }
      case 'transferToFlow': {
        only(a.targetFlow, ['name'], `${label} targetFlow`);
        audio(a.preTransferAudio, label);
        if ((opts.org?.flows ?? []).includes(a.targetFlow.name)) throw new CallEnded({ type: 'flow', flow: a.targetFlow.name });
        events.push({ type: 'transferFailed', to: a.targetFlow.name });
        return runList(out.failure?.actions, label);
      }
      case 'jumpToTask':
        throw new Jump(a.targetTaskRef);
      case 'disconnect':
        throw new CallEnded({ type: 'disconnect' });
      default:
        throw new Error(`unsupported action ${kind}`);
    }
  }

  async function collect(a, out, label) {
    only(a.inputData, ['var'], `${label} inputData`);
    const [dk, dv] = single(a.digits, `${label} digits`);
    let min; let max; let term = null;
    if (dk === 'exact') { min = max = dv; } else if (dk === 'range') {
      only(dv, ['min', 'max', 'terminatingDtmf'], `${label} digits.range`);
      ({ min, max } = dv);
      if (dv.terminatingDtmf !== undefined) {
        const m = String(dv.terminatingDtmf).match(TERMINATING_DTMF);
        if (!m) throw new Error(`${label}: terminatingDtmf must be digit_<key>, got ${dv.terminatingDtmf}`);
        term = m[1];
      }
    } else throw new Error(`${label}: unsupported digits form ${dk}`);
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max < min) throw new Error(`${label}: bad digit bounds ${min}..${max}`);
    const justStar = valueOf(a.acceptJustStar ?? { lit: false }, label) === true;
    const justPound = valueOf(a.acceptJustPound ?? { lit: false }, label) === true;
    audio(a.inputAudio, label);
    // An entry may be a function: the caller reads their phone when asked
    // (a one-time code known only once the SMS arrived).
    let keys = caller.length ? caller.shift() : undefined;
    if (typeof keys === 'function') keys = await keys();
    let result = null;
    if (keys === '*' && justStar) result = '*';
    else if (keys === '#' && justPound) result = '#';
    else if (keys) {
      let digits = '';
      for (const c of keys) {
        if (c === term) { if (a.includeTerminatingDtmfInResultData === true) digits += c; break; }
        if (/[0-9]/.test(c)) { digits += c; if (digits.length === max) break; continue; }
        digits = null; // the other of * and # (or anything else) is the Failure path
        break;
      }
      if (digits !== null && digits.length >= min) result = digits;
    }
    events.push({ type: 'collect', name: a.name, keys, ok: result !== null, bounds: [min, max], terminator: term });
    if (result === null) return runList(out.failure?.actions, label);
    assign(a.inputData.var, result, label);
    return runList(out.success?.actions, label);
  }

  async function callData(a, out, label) {
    const [category, c] = single(a.category, `${label} category`);
    only(c, ['dataAction'], `${label} category`);
    const [actionName, d] = single(c.dataAction, `${label} dataAction`);
    only(d, ['inputs', 'successOutputs', 'failureOutputs'], `${label} dataAction`);
    const action = opts.registry?.[category]?.[actionName];
    if (!action) throw new Error(`${label}: no data action "${actionName}" in category "${category}" (Archy would not publish)`);
    const inSchema = action.contract.input.inputSchema;
    const outSchema = action.contract.output.successSchema;
    const input = {};
    for (const [k, spec] of Object.entries(d.inputs ?? {})) {
      if (!(k in inSchema.properties)) throw new Error(`${label}: ${actionName} has no input ${k}`);
      const v = valueOf(spec, `${label} input ${k}`);
      if (v === NOT_SET) continue; // an unset input is absent
      if (typeof v !== CONTRACT_TYPES[inSchema.properties[k].type]) throw new FlowError(`${label}: input ${k} is ${typeof v}`);
      input[k] = v;
    }
    for (const [k, spec] of Object.entries(d.successOutputs ?? {})) {
      only(spec, ['var'], `${label} successOutputs.${k}`);
      if (!(k in outSchema.properties)) throw new Error(`${label}: ${actionName} has no output ${k}`);
      const v = vars.get(spec.var.toLowerCase());
      if (!v) throw new Error(`${label}: undeclared variable ${spec.var}`);
      if (v.type !== CONTRACT_TYPES[outSchema.properties[k].type]) throw new Error(`${label}: ${spec.var} (${v.type}) cannot take ${k} (${outSchema.properties[k].type})`);
    }
    counts[actionName] = (counts[actionName] ?? 0) + 1;
    const fault = opts.faults?.(actionName, counts[actionName]);
    let r;
    try {
      r = await runAction(action, input, {
        baseUrl: fault === 'unreachable' ? opts.deadUrl : opts.baseUrl,
        credentials: opts.credentials,
        timeoutMs: opts.actionTimeoutMs,
      });
    } catch (e) {
      if (/inputSchema/.test(e.message)) throw e; // the flow passes what the contract refuses
      r = { path: 'failure', reason: e.message }; // connection refused, reset, ...
    }
    events.push({ type: 'data', action: actionName, path: r.path, status: r.status, output: r.output });
    if (r.path === 'success') {
      for (const [k, spec] of Object.entries(d.successOutputs ?? {})) assign(spec.var, r.output[k], label);
    }
    return runList(out[r.path]?.actions, label);
  }

  async function runTask(ref) {
    const task = tasks.get(ref);
    if (!task) throw new Error(`no task ${ref}`);
    // Task variables belong to their task: another task cannot read them.
    for (const k of [...vars.keys()]) if (k.startsWith('task.')) vars.delete(k);
    declare(task.variables, 'task');
    events.push({ type: 'task', name: task.name });
    try {
      await runList(task.actions, `task ${task.name}`);
    } catch (e) {
      if (e instanceof ExitLoop) throw new Error(`task ${task.name}: loopExit outside a loop`);
      throw e;
    }
    throw new Error(`task ${task.name} runs off its end without a transfer, jump or disconnect`);
  }

  function taskRef(path) {
    const m = String(path).match(/^\/inboundCall\/tasks\/task\[([^\]]+)\]$/);
    if (!m) throw new Error(`unsupported task reference ${path}`);
    return m[1];
  }

  declare(def.variables, 'flow');
  let ref = taskRef(def.startUpRef);
  let errors = 0;
  let end;
  audio(def.initialGreeting, 'initialGreeting');
  for (;;) {
    try {
      await runTask(ref);
    } catch (e) {
      if (e instanceof CallEnded) { end = e.end; break; }
      if (e instanceof Jump) { ref = taskRef(e.ref); continue; }
      if (e instanceof FlowError) {
        events.push({ type: 'error', message: e.message });
        const eh = def.settingsErrorHandling?.errorHandling;
        if (++errors > 1 || !eh?.jumpToTask) { end = { type: 'disconnect', reason: e.message }; break; }
        ref = taskRef(eh.jumpToTask.targetTaskRef);
        continue;
      }
      throw e;
    }
  }
  // Every variable the call touched, the ended tasks' ones included.
  const variables = Object.fromEntries([...seen.values()].map((v) => [v.name, v.value === NOT_SET ? 'NOT_SET' : v.value]));
  return { end, participantData, events, variables, callerKeysLeft: caller, actionCounts: counts };
}
