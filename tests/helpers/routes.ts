import type express from 'express';

interface Layer {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  slash?: boolean;
  rawPath?: unknown;
}

/**
 * Every route a router (and the routers it mounts) answers, as [method, path]: read off
 * express 5's router stack, so that a test can go through all of them and a route added later
 * is covered without anyone remembering to add it.
 */
export function routesOf(router: express.Router): Array<[method: string, path: string]> {
  const out: Array<[string, string]> = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        if (typeof layer.route.path !== 'string')
          throw new Error(`a route with a non-string path (${String(layer.route.path)}) cannot be listed: write it as a string`);
        for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push([method, prefix + layer.route.path]);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack, layer.slash ? prefix : prefix + String(layer.rawPath));
      }
    }
  };
  walk((router as unknown as { stack: Layer[] }).stack, '');
  return out;
}

/** A route path with its parameters filled in from `values` (an unknown parameter is an error). */
export function fillPath(path: string, values: Record<string, string>): string {
  return path.replace(/\{?[:*]([A-Za-z_]+)\}?/g, (_m, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no example value for :${name} in ${path}: add one to the test's parameter values`);
    return encodeURIComponent(value);
  });
}
