// deploy/genesys/terraform/, checked offline (the terraform CLI and the
// provider registry are not needed):
//   - every *.tf parses (HCL2, @cdktf/hcl2json) and so does example.tfvars;
//   - the provider is mypurecloud/genesyscloud pinned to the version whose
//     documented schema is provider-schema.json, with no credentials in code;
//   - every resource, data source, attribute and block is one that version
//     documents; required attributes are set, read-only ones are not;
//   - every reference (var., local., resources, data sources) resolves;
//   - the data actions come from the api-spec/genesys/*.custom.json files
//     themselves, every field of the files reaches the action, and the
//     flows' substitutions are exactly the placeholders of the YAML files
//     and the names of architect/options.yaml, with the same defaults.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import YAML from 'yaml';

import { placeholders } from './lib/flowfile.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const TF = path.join(ROOT, 'deploy/genesys/terraform');
const ARCHITECT = path.join(ROOT, 'deploy/genesys/architect');
const ACTIONS_DIR = path.join(ROOT, 'api-spec/genesys');
const SCHEMA = JSON.parse(fs.readFileSync(path.join(HERE, 'provider-schema.json'), 'utf8'));
const OPTIONS = YAML.parse(fs.readFileSync(path.join(ARCHITECT, 'options.yaml'), 'utf8')).substitutions;
const META = ['count', 'for_each', 'depends_on', 'lifecycle', 'provider'];

/** Every .tf file parsed and merged: {resource, data, variable, locals, ...}. */
let tf;
let files;
before(async () => {
  files = fs.readdirSync(TF).filter((f) => f.endsWith('.tf')).sort();
  tf = { resource: {}, data: {}, variable: {}, locals: {}, output: {}, terraform: [], provider: {} };
  for (const f of files) {
    const j = await parse(f, fs.readFileSync(path.join(TF, f), 'utf8'));
    for (const [k, v] of Object.entries(j)) {
      if (k === 'terraform') tf.terraform.push(...v);
      else if (k === 'locals') for (const l of v) Object.assign(tf.locals, l);
      else if (k === 'resource' || k === 'data') {
        for (const [type, byName] of Object.entries(v)) {
          tf[k][type] ??= {};
          for (const [name, bodies] of Object.entries(byName)) {
            assert.ok(!(name in tf[k][type]), `${type}.${name} declared twice`);
            tf[k][type][name] = bodies[0];
          }
        }
      } else if (k in tf) Object.assign(tf[k], v);
      else assert.fail(`${f}: unexpected top-level ${k}`);
    }
  }
});

/** Every string in a parsed body, with ${...} expressions in it. */
function strings(node, out = []) {
  if (typeof node === 'string') out.push(node);
  else if (Array.isArray(node)) node.forEach((n) => strings(n, out));
  else if (node && typeof node === 'object') Object.values(node).forEach((n) => strings(n, out));
  return out;
}
const allText = () => strings([tf.resource, tf.data, tf.locals, tf.output, tf.variable]).join('\n');

/** Check a resource body against a documented block schema (recursively). */
function checkBody(kind, type, where, body, schema, blockPath = '') {
  const block = schema[blockPath];
  assert.ok(block, `${type}: no documented block ${blockPath}`);
  for (const [k, v] of Object.entries(body)) {
    if (blockPath === '' && META.includes(k)) continue;
    const attr = block[k];
    assert.ok(attr, `${where}: ${k} is not an attribute of ${type}${blockPath ? ` block ${blockPath}` : ''} in provider ${SCHEMA.version}`);
    assert.ok(!attr.readOnly, `${where}: ${k} is read-only in ${type}`);
    if (attr.block) {
      assert.ok(Array.isArray(v), `${where}: ${k} is a block, write it as a block`);
      for (const b of v) checkBody(kind, type, `${where}.${k}`, b, schema, blockPath ? `${blockPath}.${k}` : k);
    } else {
      assert.ok(!Array.isArray(v) || /^(Set|List) of/.test(attr.type) || typeof v[0] !== 'object', `${where}: ${k} is an attribute, not a block`);
    }
  }
  for (const [k, attr] of Object.entries(block)) {
    if (attr.required) assert.ok(k in body, `${where}: required ${k} is missing`);
  }
}

describe('the Terraform parses and uses only what the pinned provider documents', () => {
  test('every .tf file and example.tfvars parse as HCL2', async () => {
    assert.deepEqual(files, ['flow.tf', 'main.tf', 'outputs.tf', 'variables.tf', 'versions.tf']);
    const vars = await parse('example.tfvars', fs.readFileSync(path.join(TF, 'example.tfvars'), 'utf8'));
    for (const k of Object.keys(vars)) assert.ok(k in tf.variable, `example.tfvars sets unknown variable ${k}`);
    assert.ok(!('authflow_api_key' in vars), 'the API key stays out of files');
    assert.ok(vars.authflow_base_url.startsWith('https://'));
  });

  test('provider mypurecloud/genesyscloud, pinned; credentials from the environment only', () => {
    const rp = tf.terraform.flatMap((t) => t.required_providers ?? []);
    assert.equal(rp.length, 1);
    assert.deepEqual(Object.keys(rp[0]), ['genesyscloud']);
    assert.equal(rp[0].genesyscloud.source, 'mypurecloud/genesyscloud');
    assert.equal(rp[0].genesyscloud.version, SCHEMA.version, 'pinned to exactly the documented version');
    assert.deepEqual(tf.provider.genesyscloud, [{}], 'no credentials or region in code');
    const readme = fs.readFileSync(path.join(ROOT, 'deploy/genesys/README.md'), 'utf8');
    for (const v of ['GENESYSCLOUD_OAUTHCLIENT_ID', 'GENESYSCLOUD_OAUTHCLIENT_SECRET', 'GENESYSCLOUD_REGION']) {
      assert.ok(readme.includes(v), `README names ${v}`);
    }
  });

  test('every resource and data source, attribute and block is documented by the provider', () => {
    const used = [];
    for (const [kind, table] of [['resource', SCHEMA.resources], ['data', SCHEMA.dataSources]]) {
      for (const [type, byName] of Object.entries(tf[kind])) {
        assert.ok(type in table, `${kind} ${type} is not in provider-schema.json`);
        for (const [name, body] of Object.entries(byName)) {
          checkBody(kind, type, `${type}.${name}`, body, table[type]);
          used.push(type);
        }
      }
    }
    for (const t of ['genesyscloud_integration', 'genesyscloud_integration_credential', 'genesyscloud_integration_action',
      'genesyscloud_routing_queue', 'genesyscloud_flow']) assert.ok(used.includes(t), `${t} is part of the blueprint`);
  });

  test('the checker itself refuses a misspelt attribute and a read-only one', () => {
    const s = SCHEMA.resources.genesyscloud_flow;
    assert.throws(() => checkBody('resource', 'genesyscloud_flow', 'x', { filepath: 'f', substitution: {} }, s), /substitution is not an attribute/);
    assert.throws(() => checkBody('resource', 'genesyscloud_flow', 'x', { filepath: 'f', file_content_hash: 'h' }, s), /read-only/);
    assert.throws(() => checkBody('resource', 'genesyscloud_flow', 'x', { substitutions: {} }, s), /required filepath/);
    const a = SCHEMA.resources.genesyscloud_integration_action;
    assert.throws(() => checkBody('resource', 'genesyscloud_integration_action', 'x',
      { name: 'n', category: 'c', integration_id: 'i', contract_input: '{}', contract_output: '{}', config_request: [{ request_type: 'GET', url: 'u' }] }, a),
    /url is not an attribute/);
  });

  test('every reference resolves and every variable is used', () => {
    const text = allText();
    for (const m of text.matchAll(/\bvar\.([a-z0-9_]+)/g)) assert.ok(m[1] in tf.variable, `var.${m[1]} is not declared`);
    for (const m of text.matchAll(/\blocal\.([a-z0-9_]+)/g)) assert.ok(m[1] in tf.locals, `local.${m[1]} is not declared`);
    for (const m of text.matchAll(/\bdata\.(genesyscloud_[a-z_]+)\.([a-z0-9_]+)/g)) {
      assert.ok(tf.data[m[1]]?.[m[2]], `data.${m[1]}.${m[2]} is not declared`);
    }
    for (const m of text.matchAll(/(?<![.\w])(genesyscloud_[a-z_]+)\.([a-z0-9_]+)/g)) {
      assert.ok(tf.resource[m[1]]?.[m[2]], `${m[1]}.${m[2]} is not declared`);
    }
    for (const m of text.matchAll(/genesyscloud_integration_action\.authflow\["([a-z_]+)"\]/g)) {
      assert.ok(m[1] in actionFiles(), `data action key ${m[1]} is not in local.data_action_files`);
    }
    for (const v of Object.keys(tf.variable)) assert.ok(text.includes(`var.${v}`), `variable ${v} is never used`);
    for (const [name, v] of Object.entries(tf.variable)) {
      const body = v[0];
      assert.ok(body.description, `variable ${name} has a description`);
      assert.ok(body.type, `variable ${name} has a type`);
    }
    assert.equal(tf.variable.authflow_api_key[0].sensitive, true);
  });
});

function actionFiles() {
  const m = tf.locals.data_action_files;
  assert.equal(typeof m, 'object', 'local.data_action_files is a literal map');
  return m;
}

describe('the data actions come from the *.custom.json files', () => {
  test('local.data_action_files lists exactly the files in api-spec/genesys', () => {
    const onDisk = fs.readdirSync(ACTIONS_DIR).filter((f) => f.endsWith('.custom.json')).sort();
    assert.deepEqual(Object.values(actionFiles()).sort(), onDisk);
    assert.equal(path.resolve(TF, tf.locals.data_action_dir.replace('${path.module}', '.')), ACTIONS_DIR);
    assert.match(tf.locals.data_actions, /jsondecode\(file\("\$\{local\.data_action_dir\}\/\$\{file_name\}"\)\)/);
  });

  test('every field of every file reaches genesyscloud_integration_action', () => {
    const body = tf.resource.genesyscloud_integration_action.authflow;
    assert.equal(body.for_each, '${local.data_actions}');
    // The each.value paths the resource reads, in every attribute and block.
    const paths = new Set([...strings(body).join('\n').matchAll(/each\.value\.([A-Za-z0-9_.]+)/g)].map((m) => m[1]));
    const needed = ['name', 'secure', 'config.timeoutSeconds', 'contract.input.inputSchema', 'contract.output.successSchema',
      'config.request.requestType', 'config.request.requestUrlTemplate', 'config.request.requestTemplate', 'config.request.headers',
      'config.response.translationMap', 'config.response.translationMapDefaults', 'config.response.successTemplate'];
    assert.deepEqual([...paths].sort(), needed.sort());
    for (const file of Object.values(actionFiles())) {
      const j = JSON.parse(fs.readFileSync(path.join(ACTIONS_DIR, file), 'utf8'));
      for (const p of needed) {
        const v = p.split('.').reduce((o, k) => (o == null ? undefined : o[k]), j);
        assert.notEqual(v, undefined, `${file} has no ${p}`);
      }
      // Everything in the file is either mapped or export metadata.
      assert.deepEqual(Object.keys(j).sort(), ['actionType', 'config', 'contract', 'integrationType', 'name', 'secure']);
      assert.deepEqual(Object.keys(j.config).sort(), ['request', 'response', 'timeoutSeconds']);
      assert.equal(j.integrationType, tf.resource.genesyscloud_integration.authflow.integration_type);
      assert.ok(j.config.request.requestUrlTemplate.startsWith(tf.locals.placeholder_origin + '/'));
    }
    const req = body.config_request[0];
    assert.match(req.request_url_template, /replace\(each\.value\.config\.request\.requestUrlTemplate, local\.placeholder_origin, var\.authflow_base_url\)/);
    assert.match(req.headers, /if name != "X-API-Key"/, 'the Basic Auth credential replaces the X-API-Key header');
    assert.equal(body.category, '${var.data_action_category}');
    assert.equal(body.integration_id, '${genesyscloud_integration.authflow.id}');
  });

  test('the credential is Basic Auth with the key as password, wired into the integration', () => {
    const c = tf.resource.genesyscloud_integration_credential.authflow;
    assert.equal(c.credential_type_name, 'basicAuth');
    assert.deepEqual(Object.keys(c.fields).sort(), ['password', 'userName']);
    assert.equal(c.fields.password, '${var.authflow_api_key}');
    const i = tf.resource.genesyscloud_integration.authflow;
    assert.equal(i.integration_type, 'custom-rest-actions');
    assert.deepEqual(i.config[0].credentials, { basicAuth: '${genesyscloud_integration_credential.authflow.id}' });
  });
});

describe('the flows and their substitutions', () => {
  const flowFiles = { inbound: 'authflow-inbound.yaml', verified: 'authflow-verified.yaml' };

  test('each genesyscloud_flow publishes an architect/ file with every placeholder substituted', () => {
    const subs = tf.locals.flow_substitutions;
    for (const [name, file] of Object.entries(flowFiles)) {
      const body = tf.resource.genesyscloud_flow[name];
      assert.equal(body.filepath, `\${path.module}/../architect/${file}`);
      assert.ok(fs.existsSync(path.join(ARCHITECT, file)));
      assert.equal(body.substitutions, '${local.flow_substitutions}');
      const used = placeholders(fs.readFileSync(path.join(ARCHITECT, file), 'utf8'));
      for (const p of used) assert.ok(p in subs, `${file}: {{${p}}} has no Terraform substitution`);
    }
    assert.deepEqual(Object.keys(subs).sort(), Object.keys(OPTIONS).sort(), 'Terraform and options.yaml substitute the same names');
  });

  test('substitutions resolve: action names from the actions, values from variables whose defaults match options.yaml', () => {
    const subs = tf.locals.flow_substitutions;
    const actions = Object.fromEntries(Object.entries(actionFiles())
      .map(([k, f]) => [k, JSON.parse(fs.readFileSync(path.join(ACTIONS_DIR, f), 'utf8'))]));
    for (const [name, value] of Object.entries(subs)) {
      let m = value.match(/^\$\{genesyscloud_integration_action\.authflow\["([a-z_]+)"\]\.name\}$/);
      if (m) {
        assert.equal(actions[m[1]].name, OPTIONS[name], `${name}: options.yaml names the same action`);
        continue;
      }
      m = value.match(/^\$\{var\.([a-z0-9_]+)\}$/);
      assert.ok(m, `${name} = ${value}: a variable or an action name`);
      assert.equal(String(tf.variable[m[1]][0].default), String(OPTIONS[name]), `default of var.${m[1]} = options.yaml ${name}`);
    }
    // The queues Terraform creates are the ones the flows transfer to.
    assert.equal(tf.resource.genesyscloud_routing_queue.agents.name, subs.agentQueue);
    assert.equal(tf.resource.genesyscloud_routing_queue.verified.name, subs.verifiedQueue);
    assert.equal(subs.dataActionCategory, tf.resource.genesyscloud_integration_action.authflow.category);
    assert.deepEqual(tf.resource.genesyscloud_flow.inbound.depends_on.sort(),
      ['${genesyscloud_flow.verified}', '${genesyscloud_integration_action.authflow}', '${genesyscloud_routing_queue.agents}'].sort());
  });
});
