/**
 * The README's tables say what the code does: every route the API server serves is in the HTTP API
 * table (and nothing else is), and the exit codes the command line documents are the constants the
 * commands return.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { apiRoutes } from '../../controller/api/routes.js';
import { fleetRoutes } from '../../controller/api/fleet-routes.js';
import { pageRoutes } from '../../controller/api/page.js';
import type { ApiServices } from '../../controller/api/server.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../../controller/cli/program.js';
import {
  PLAN_EXIT_CHANGES,
  PLAN_EXIT_CONVERGED,
  PLAN_EXIT_ERROR,
} from '../../controller/cli/present/plan-report.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

/** The text between `<!-- section:NAME -->` and its end marker. */
function section(name: string): string {
  const start = readme.indexOf(`<!-- section:${name} -->`);
  const end = readme.indexOf(`<!-- /section:${name} -->`);
  expect(start, name).to.be.greaterThan(-1);
  return readme.slice(start, end);
}

describe('the README tables match the code', () => {
  it('the HTTP API table lists every route the server serves, and no other', () => {
    // Handlers are not called: the route table alone is read.
    const services = {} as ApiServices;
    const routes = [...apiRoutes(services, new Set()), ...fleetRoutes(services), ...pageRoutes(new Map())];
    // `/v1/workers/:name` is written `/v1/workers/NAME` in the README.
    const served = routes.map(
      (r) => `${r.method} ${r.name.replace(/:([a-z]+)/g, (_m, p: string) => p.toUpperCase())}`,
    );
    const rows = section('lifecycle')
      .split('\n')
      .filter((l) => /^\| `(GET|POST|DELETE|PUT|PATCH) /.test(l))
      .map((l) => l.split(' | ')[0]!);
    const documented = rows.flatMap((cell) =>
      [...cell.matchAll(/`(GET|POST|DELETE|PUT|PATCH) (\/[^`[?]*)/g)].map((m) => `${m[1]} ${m[2]}`),
    );
    expect([...new Set(documented)].sort()).to.deep.equal([...new Set(served)].sort());
  });

  it('the exit codes: 0 nothing to do, 2 changes pending, 1 any error (usage errors included)', () => {
    expect([EXIT_OK, EXIT_FAILURE, EXIT_USAGE]).to.deep.equal([0, 1, 1]);
    expect([PLAN_EXIT_CONVERGED, PLAN_EXIT_CHANGES, PLAN_EXIT_ERROR]).to.deep.equal([0, 2, 1]);
    const cli = section('cli');
    expect(cli).to.contain('0 success (nothing\nto do), 1 any error, usage errors included');
    expect(section('controller')).to.match(
      /\| 0 no changes; 2 changes pending; 1 an error: invalid manifests, anything blocked/,
    );
  });
});
