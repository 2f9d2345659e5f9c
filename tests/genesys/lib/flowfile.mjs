// Archy flow files as Archy reads them: substitutions first (every {{name}}
// replaced with its value, exactly; a name without a value is an error),
// then YAML. No dependency on the running service, so the offline checks
// (architect.test.mjs, terraform.test.mjs) can use it.
import fs from 'node:fs';
import YAML from 'yaml';

import { refuseYamlExtras } from './archy-format.mjs';

/** Apply Archy substitutions to a flow file's text. */
export function substitute(text, substitutions) {
  const out = text.replace(/\{\{([^{}]*)\}\}/g, (m, name) => {
    if (!(name in substitutions)) throw new Error(`no substitution for {{${name}}}`);
    return String(substitutions[name]);
  });
  return out;
}

/** The {{names}} a flow file uses (comments included, as Archy sees them). */
export function placeholders(text) {
  return [...new Set([...text.matchAll(/\{\{([^{}]*)\}\}/g)].map((m) => m[1]))].sort();
}

/** Load a flow file, substitute and parse it: {type, def, text}. */
export function loadFlow(file, substitutions) {
  const text = substitute(fs.readFileSync(file, 'utf8'), substitutions);
  const parsed = YAML.parseDocument(text);
  refuseYamlExtras(parsed, file);
  const doc = parsed.toJS();
  const types = Object.keys(doc);
  if (types.length !== 1 || types[0] !== 'inboundCall') throw new Error(`${file}: expected one inboundCall flow, got ${types}`);
  return { type: 'inboundCall', def: doc.inboundCall, text };
}

