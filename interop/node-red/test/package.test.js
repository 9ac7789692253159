'use strict';
// The packaging guide and scorecard points that can be checked offline: the node-red section, the keyword, a
// version range that admits Node-RED 4.1, one .js/.html pair per node with help text, examples that use every
// non-config node and load as flows, a LICENSE, and a `files` list that keeps the tests out of the tarball.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const semver = require('semver'); // ships with node-red, a devDependency

test('package.json: node-red section, keyword, version range, engines, license, links', () => {
  assert.ok(pkg.keywords.includes('node-red'));
  assert.ok(semver.satisfies('4.1.8', pkg['node-red'].version), pkg['node-red'].version);
  assert.ok(semver.satisfies('18.5.0', pkg.engines.node));
  assert.equal(pkg.license, 'MIT');
  assert.match(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'), /^MIT License/);
  assert.ok(pkg.repository && pkg.repository.directory === 'interop/node-red');
  assert.ok(pkg.bugs && pkg.bugs.url);
  assert.deepEqual(Object.keys(pkg['node-red'].nodes).sort(), ['iotenvelope-keyring', 'iotenvelope-open', 'iotenvelope-seal']);
  assert.ok(Object.keys(pkg.dependencies).length <= 6);
  assert.ok(semver.validRange(pkg.dependencies.iotenvelope));
  assert.ok(!pkg.files.some((f) => f.startsWith('test')));
});

test('every node: a .js file beside an .html file that registers the type and carries help text', () => {
  for (const [type, file] of Object.entries(pkg['node-red'].nodes)) {
    assert.ok(fs.existsSync(path.join(ROOT, file)), file);
    const html = fs.readFileSync(path.join(ROOT, file.replace(/\.js$/, '.html')), 'utf8');
    assert.ok(html.includes(`RED.nodes.registerType('${type}'`), `${type} registered in its .html`);
    assert.ok(html.includes(`data-template-name="${type}"`), `${type} has an edit dialog`);
    const help = html.match(new RegExp(`<script type="text/html" data-help-name="${type}">([\\s\\S]*?)</script>`));
    assert.ok(help && help[1].replace(/<[^>]+>/g, '').trim().length > 200, `${type} has help text`);
    assert.ok(fs.readFileSync(path.join(ROOT, file), 'utf8').includes(`registerType('${type}'`));
  }
});

test('examples/: flows for the Import menu that use every non-config node', () => {
  const files = fs.readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 1);
  const used = new Set();
  for (const f of files) {
    const flow = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', f), 'utf8'));
    assert.ok(Array.isArray(flow));
    const ids = new Set(flow.map((n) => n.id));
    for (const n of flow) {
      used.add(n.type);
      for (const out of n.wires || []) for (const id of out) assert.ok(ids.has(id), `${f}: ${n.id} wired to a missing ${id}`);
      if (n.keyring) assert.ok(ids.has(n.keyring), `${f}: keyring ${n.keyring} is in the file`);
      assert.ok(!('credentials' in n), `${f}: no credentials in an example`);
    }
  }
  for (const type of ['iotenvelope-open', 'iotenvelope-seal', 'iotenvelope-keyring']) assert.ok(used.has(type), type);
});

test('every .html: its scripts parse and registerType has the literal properties the scorecard reads', () => {
  // What the Flow Library scorecard does to each node's .html (node-red-dev's checknodes): parse every
  // text/javascript <script> and read registerType's type, category, color, icon, inputs and outputs, which it
  // can only see when they are literals written inline.
  const acorn = require('acorn');
  const walk = require('acorn-walk');
  for (const [type, file] of Object.entries(pkg['node-red'].nodes)) {
    const html = fs.readFileSync(path.join(ROOT, file.replace(/\.js$/, '.html')), 'utf8');
    const scripts = [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map((m) => m[1]);
    assert.equal(scripts.length, 1, file);
    const found = {};
    walk.simple(acorn.parse(scripts[0], { ecmaVersion: 'latest' }), {
      CallExpression(node) {
        if (node.callee.property && node.callee.property.name === 'registerType') {
          assert.equal(node.arguments[0].type, 'Literal');
          assert.equal(node.arguments[1].type, 'ObjectExpression');
          found.type = node.arguments[0].value;
          for (const prop of node.arguments[1].properties) {
            if (['category', 'color', 'icon', 'inputs', 'outputs'].includes(prop.key.name)) {
              assert.equal(prop.value.type, 'Literal', `${type}.${prop.key.name} is a literal`);
              found[prop.key.name] = prop.value.value;
            }
            if (['defaults', 'credentials'].includes(prop.key.name)) assert.equal(prop.value.type, 'ObjectExpression');
          }
        }
      },
    });
    assert.equal(found.type, type);
    if (type === 'iotenvelope-keyring') {
      assert.equal(found.category, 'config');
    } else {
      assert.deepEqual([found.category, found.inputs, found.outputs, typeof found.icon, typeof found.color],
        ['iotenvelope', 1, type === 'iotenvelope-open' ? 2 : 1, 'string', 'string']);
    }
  }
});
