import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

// The integrations' frameworks are optional peer dependencies: the core and the decorators must load
// without any of them. A child process loads both entries with every such package made unloadable.
const ROOT = join(__dirname, '..');
const PEERS = /^(@opentelemetry\/|prom-client$|@nestjs\/)/;

test('herdless and herdless/decorators load without OpenTelemetry, prom-client or NestJS', () => {
  const script = `
    const Module = require('node:module');
    const load = Module._load;
    const asked = [];
    Module._load = function (request, ...rest) {
      if (${PEERS}.test(request)) { asked.push(request); throw new Error('optional peer loaded: ' + request); }
      return load.call(this, request, ...rest);
    };
    require('./src');
    require('./decorators');
    process.stdout.write(JSON.stringify(asked));
  `;
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  expect(JSON.parse(out)).toEqual([]);
});

test('each integration loads its own framework, and no other', () => {
  const script = `
    const Module = require('node:module');
    const load = Module._load;
    const asked = new Set();
    Module._load = function (request, parent, ...rest) {
      // What herdless' own files ask for (prom-client may itself look for OpenTelemetry).
      const own = parent && parent.filename && !parent.filename.includes('node_modules');
      if (own && ${PEERS}.test(request)) asked.add(request.split('/').slice(0, request.startsWith('@') ? 2 : 1).join('/'));
      return load.call(this, request, parent, ...rest);
    };
    const seen = {};
    for (const entry of ['otel', 'prometheus', 'nestjs']) { asked.clear(); require('./' + entry); seen[entry] = [...asked].sort(); }
    process.stdout.write(JSON.stringify(seen));
  `;
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  expect(JSON.parse(out)).toEqual({ otel: ['@opentelemetry/api'], prometheus: ['prom-client'], nestjs: ['@nestjs/common'] });
});
