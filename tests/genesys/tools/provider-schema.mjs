// Regenerates ../provider-schema.json: the resource and attribute names the
// pinned genesyscloud provider documents, read from the provider's own docs
// (docs/resources/<name>.md and docs/data-sources/<name>.md, "## Schema").
//
//   node tools/provider-schema.mjs <provider-docs-dir> <version> > provider-schema.json
//
// <provider-docs-dir> is the docs/ folder of MyPureCloud/terraform-provider-genesyscloud
// checked out at tag v<version>. Only the names are kept: for each resource,
// its top-level attributes and blocks, and for each nested block (path with
// dots) its attributes, each marked required or not.
import fs from 'node:fs';
import path from 'node:path';

const [docsDir, version] = process.argv.slice(2);
if (!docsDir || !version) {
  console.error('usage: node tools/provider-schema.mjs <provider-docs-dir> <version>');
  process.exit(2);
}
// The resources and data sources the blueprint may use.
const WANTED = {
  resources: ['integration', 'integration_credential', 'integration_action', 'flow', 'routing_queue'],
  'data-sources': ['auth_division'],
};

function parseSchema(md) {
  const text = md.slice(md.indexOf('\n## Schema'));
  const blocks = { '': {} };
  let current = '';
  let required = false;
  for (const line of text.split('\n')) {
    let m = line.match(/^### Nested Schema for `([^`]+)`/);
    if (m) { current = m[1]; blocks[current] = {}; continue; }
    if (/^(### )?Required:?$/.test(line.trim())) { required = true; continue; }
    if (/^(### )?(Optional|Read-Only):?$/.test(line.trim())) { required = line.includes('Read-Only') ? null : false; continue; }
    m = line.match(/^- `([a-z0-9_]+)` \(([^)]*)\)/);
    if (m) {
      const isBlock = /^Block/.test(m[2]);
      blocks[current][m[1]] = { required: required === true, readOnly: required === null, block: isBlock, type: m[2] };
    }
  }
  return blocks;
}

const out = { provider: 'mypurecloud/genesyscloud', version, source: `docs/ of MyPureCloud/terraform-provider-genesyscloud at v${version}`, resources: {}, dataSources: {} };
for (const [kind, names] of Object.entries(WANTED)) {
  for (const n of names) {
    const md = fs.readFileSync(path.join(docsDir, kind, `${n}.md`), 'utf8');
    (kind === 'resources' ? out.resources : out.dataSources)[`genesyscloud_${n}`] = parseSchema(md);
  }
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
