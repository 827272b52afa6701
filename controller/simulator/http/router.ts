/** Maps `METHOD /path` to a handler by schema path template ('/nodes/{node}/qemu/{vmid}'). */
import type { Caller } from '../auth.js';

/** A validated API request as handlers see it. */
export interface ApiRequest {
  method: string;
  /** Path after /api2/json. */
  path: string;
  /** Verified params, path placeholders included (integers/booleans as numbers). */
  params: Record<string, unknown>;
  caller: Caller | undefined;
}

/** A route handler. */
export type Handler<S> = (sim: S, req: ApiRequest) => unknown;

/** One route. */
export interface Route<S> {
  method: string;
  template: string;
  handler: Handler<S>;
}

interface Compiled<S> {
  route: Route<S>;
  segs: string[];
}

/** A route table. */
export class Router<S> {
  private readonly routes: Compiled<S>[] = [];

  add(route: Route<S>): this {
    this.routes.push({ route, segs: route.template.split('/').slice(1) });
    return this;
  }

  /** Finds the route; `methodMissing` when the path exists with other methods only. */
  match(
    method: string,
    path: string,
  ): { route: Route<S>; pathParams: Record<string, string> } | { methodMissing: true } | undefined {
    const segs = path.split('/').slice(1);
    let pathFound = false;
    for (const c of this.routes) {
      if (c.segs.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segs.length; i++) {
        const t = c.segs[i];
        if (t.startsWith('{')) {
          if (segs[i] === '') {
            ok = false;
            break;
          }
          params[t.slice(1, -1)] = segs[i];
        } else if (t !== segs[i]) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      pathFound = true;
      if (c.route.method === method) return { route: c.route, pathParams: params };
    }
    return pathFound ? { methodMissing: true } : undefined;
  }
}
