// The part of Archy's YAML format the blueprint's flows use, as one list of
// names: the flow-level keys, the actions with their properties and
// outputs, the variable and statement kinds. Each name is one seen in a
// published Archy flow (deploy/genesys/README.md, "Format notes", says
// where) unless the note beside it says otherwise. lib/archy.mjs runs only
// what is listed here and architect.test.mjs checks every action of the
// flow files against it offline, so a misspelt or invented name fails the
// tests instead of failing at `archy publish`.
import { Document, isAlias, visit } from 'yaml';

/** Keys of an inboundCall flow. */
export const FLOW_KEYS = ['name', 'description', 'division', 'startUpRef', 'defaultLanguage', 'supportedLanguages',
  'initialGreeting', 'settingsErrorHandling', 'variables', 'tasks'];

const COMMON = ['name'];
/** Action kind -> its allowed properties. */
export const ACTION_KEYS = {
  callData: [...COMMON, 'processingPrompt', 'timeout', 'category', 'outputs'],
  collectInput: [...COMMON, 'inputData', 'digits', 'interDigitTimeout', 'noEntryTimeout', 'inputAudio',
    'includeTerminatingDtmfInResultData', 'acceptJustStar', 'acceptJustPound', 'verificationType', 'outputs'],
  decision: [...COMMON, 'condition', 'outputs'],
  switch: [...COMMON, 'evaluate'],
  loop: [...COMMON, 'currentIndex', 'loopCount', 'outputs'],
  loopExit: COMMON,
  updateData: [...COMMON, 'statements'],
  setParticipantData: [...COMMON, 'attributes'],
  getParticipantData: [...COMMON, 'attributes'],
  playAudio: [...COMMON, 'audio'],
  transferToAcd: [...COMMON, 'targetQueue', 'priority', 'preferredAgents', 'languageSkill', 'failureOutputs',
    'outputs', 'preTransferAudio', 'failureTransferAudio'],
  transferToFlow: [...COMMON, 'targetFlow', 'failureOutputs', 'preTransferAudio', 'failureTransferAudio'],
  // Unconfirmed: no published flow with a plain Jump to Task action was
  // found; the name follows menuJumpToTask (targetTaskRef) and jumpToMenu.
  jumpToTask: [...COMMON, 'targetTaskRef'],
  disconnect: COMMON,
};
/** Action kind -> its output paths (each `{actions: [...]}`). */
export const OUTPUT_KEYS = {
  callData: ['success', 'failure', 'timeout'],
  collectInput: ['success', 'failure'],
  decision: ['yes', 'no'],
  loop: ['loop'],
  transferToAcd: ['failure'],
};
export const VARIABLE_KINDS = ['stringVariable', 'integerVariable', 'booleanVariable'];
export const STATEMENT_KINDS = ['string', 'integer', 'boolean'];
/** Collect Input's terminating key: `digit_<key>` (published: digit_*, digit_9). */
export const TERMINATING_DTMF = /^digit_([0-9*#])$/;
/**
 * settingsErrorHandling.errorHandling forms the executor runs. Unconfirmed:
 * published inbound call flows show `disconnect` and `queue`, not `jumpToTask`
 * (Architect's help names "Jump to Reusable Task" as an error handling choice).
 */
export const ERROR_HANDLING = ['jumpToTask'];

export function only(obj, allowed, where) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`${where}: expected a mapping`);
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw new Error(`${where}: unknown key ${k}`);
}

export function single(obj, where) {
  const keys = Object.keys(obj ?? {});
  if (keys.length !== 1) throw new Error(`${where}: expected exactly one key, got ${keys.join(', ')}`);
  return [keys[0], obj[keys[0]]];
}

/**
 * YAML text that Archy may not read the same way: anchors and aliases (no
 * published flow uses them), or more than one document. Throws.
 */
export function refuseYamlExtras(doc, where) {
  if (!(doc instanceof Document)) throw new Error(`${where}: expected a parsed YAML document`);
  if (doc.errors.length) throw doc.errors[0];
  visit(doc, (key, node) => {
    if (isAlias(node)) throw new Error(`${where}: YAML alias *${node.source}: write the mapping out`);
    if (node && typeof node === 'object' && node.anchor) throw new Error(`${where}: YAML anchor &${node.anchor}: write the mapping out`);
    return undefined;
  });
}

/** Check one action list, depth-first; returns how many actions it saw. */
function checkActions(list, where) {
  if (list === undefined) return 0;
  if (!Array.isArray(list)) throw new Error(`${where}: actions must be a list`);
  let n = 0;
  for (const entry of list) {
    const [kind, a] = single(entry, `${where} action`);
    if (!(kind in ACTION_KEYS)) throw new Error(`${where}: unknown action ${kind}`);
    only(a, ACTION_KEYS[kind], `${kind} "${a?.name ?? ''}"`);
    const label = `${kind} "${a.name ?? ''}"`;
    n++;
    if (a.outputs !== undefined) {
      only(a.outputs, OUTPUT_KEYS[kind] ?? [], `${label} outputs`);
      for (const [k, v] of Object.entries(a.outputs)) {
        only(v ?? {}, ['actions'], `${label} outputs.${k}`);
        n += checkActions(v?.actions, `${label} outputs.${k}`);
      }
    }
    if (kind === 'switch') {
      const [how, body] = single(a.evaluate, `${label} evaluate`);
      if (how !== 'firstTrue') throw new Error(`${label}: unknown evaluate ${how}`);
      only(body, ['cases', 'default'], `${label} firstTrue`);
      for (const c of body.cases ?? []) {
        const [ck, cv] = single(c, `${label} case`);
        if (ck !== 'case') throw new Error(`${label}: expected case, got ${ck}`);
        only(cv, ['value', 'actions'], `${label} case`);
        n += checkActions(cv.actions, `${label} case`);
      }
      only(body.default ?? {}, ['actions'], `${label} default`);
      n += checkActions(body.default?.actions, `${label} default`);
    }
    if (kind === 'collectInput') {
      const [dk, dv] = single(a.digits, `${label} digits`);
      if (dk === 'range') {
        only(dv, ['min', 'max', 'terminatingDtmf'], `${label} digits.range`);
        if (dv.terminatingDtmf !== undefined && !TERMINATING_DTMF.test(String(dv.terminatingDtmf))) {
          throw new Error(`${label}: terminatingDtmf ${dv.terminatingDtmf} is not digit_<key>`);
        }
      } else if (dk !== 'exact') throw new Error(`${label}: unknown digits form ${dk}`);
      if (a.includeTerminatingDtmfInResultData !== undefined && typeof a.includeTerminatingDtmfInResultData !== 'boolean') {
        throw new Error(`${label}: includeTerminatingDtmfInResultData is a plain boolean`);
      }
    }
    if (kind === 'updateData') {
      for (const st of a.statements ?? []) {
        const [t] = single(st, `${label} statement`);
        if (!STATEMENT_KINDS.includes(t)) throw new Error(`${label}: unknown statement ${t}`);
      }
    }
  }
  return n;
}

function checkVariables(list, where) {
  for (const entry of list ?? []) {
    const [kind, v] = single(entry, `${where} variables`);
    if (!VARIABLE_KINDS.includes(kind)) throw new Error(`${where}: unknown variable kind ${kind}`);
    only(v, ['name', 'initialValue', 'description'], `variable ${v?.name}`);
  }
}

/**
 * Check an inboundCall definition (the mapping under `inboundCall:`) against
 * the names above, without running it. Returns the number of actions seen.
 */
export function checkFlow(def) {
  only(def, FLOW_KEYS, 'inboundCall');
  const eh = def.settingsErrorHandling;
  if (eh !== undefined) {
    only(eh, ['errorHandling'], 'settingsErrorHandling');
    const [how, body] = single(eh.errorHandling, 'settingsErrorHandling.errorHandling');
    if (!ERROR_HANDLING.includes(how)) throw new Error(`settingsErrorHandling: unknown errorHandling ${how}`);
    only(body, ['targetTaskRef'], `settingsErrorHandling.errorHandling.${how}`);
  }
  checkVariables(def.variables, 'flow');
  let n = 0;
  for (const t of def.tasks ?? []) {
    only(t, ['task'], 'tasks[]');
    only(t.task, ['name', 'refId', 'variables', 'actions'], `task ${t.task?.name}`);
    checkVariables(t.task.variables, `task ${t.task.name}`);
    n += checkActions(t.task.actions, `task ${t.task.name}`);
  }
  return n;
}
