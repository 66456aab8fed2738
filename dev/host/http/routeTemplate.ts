/**
 * ASP.NET Core route templates as the Functions host uses them for HTTP triggers
 * (https://learn.microsoft.com/azure/azure-functions/functions-bindings-http-webhook-trigger#customize-the-http-endpoint):
 * literal segments (case-insensitive), `{id}`, `{id:int}`, `{id:int:min(1)}`, `{name?}`, `{name=default}`,
 * `{*rest}` / `{**rest}` catch-alls, and segments mixing text and parameters such as `{file}.{ext}`.
 */

/** One parsed route, ready to match request paths (without the route prefix). */
export interface RouteMatcher {
  template: string;
  /** Lower sorts first: literal beats constrained parameter beats parameter beats optional beats catch-all. */
  precedence: number[];
  match(pathname: string): Record<string, string> | undefined;
}

interface ParameterSpec {
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue?: string;
  constraints: Array<(value: string) => boolean>;
}

const INTEGER = /^-?\d+$/;
const NUMBER = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** Constraint factories by name; an unknown constraint fails at start-up. */
const CONSTRAINTS: Record<string, (args: string[]) => (value: string) => boolean> = {
  int: () => (v) => INTEGER.test(v) && Math.abs(Number(v)) <= 2 ** 31,
  long: () => (v) => INTEGER.test(v),
  bool: () => (v) => /^(true|false)$/i.test(v),
  alpha: () => (v) => /^[a-z]+$/i.test(v),
  guid: () => (v) => /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i.test(v),
  datetime: () => (v) => !Number.isNaN(Date.parse(v)),
  decimal: () => (v) => NUMBER.test(v),
  double: () => (v) => NUMBER.test(v),
  float: () => (v) => NUMBER.test(v),
  required: () => (v) => v.length > 0,
  minlength:
    ([n]) =>
    (v) =>
      v.length >= Number(n),
  maxlength:
    ([n]) =>
    (v) =>
      v.length <= Number(n),
  length:
    ([a, b]) =>
    (v) =>
      b === undefined ? v.length === Number(a) : v.length >= Number(a) && v.length <= Number(b),
  min:
    ([n]) =>
    (v) =>
      INTEGER.test(v) && Number(v) >= Number(n),
  max:
    ([n]) =>
    (v) =>
      INTEGER.test(v) && Number(v) <= Number(n),
  range:
    ([a, b]) =>
    (v) =>
      INTEGER.test(v) && Number(v) >= Number(a) && Number(v) <= Number(b),
  regex: (args) => {
    const re = new RegExp(args.join(','), 'i');
    return (v) => re.test(v);
  },
};

function parseParameter(body: string, template: string): ParameterSpec {
  let rest = body;
  let catchAll = false;
  if (rest.startsWith('**')) {
    catchAll = true;
    rest = rest.slice(2);
  } else if (rest.startsWith('*')) {
    catchAll = true;
    rest = rest.slice(1);
  }
  let defaultValue: string | undefined;
  const eq = rest.indexOf('=');
  if (eq !== -1) {
    defaultValue = rest.slice(eq + 1);
    rest = rest.slice(0, eq);
  }
  let optional = false;
  if (rest.endsWith('?')) {
    optional = true;
    rest = rest.slice(0, -1);
  }
  // Constraints are `:name` or `:name(args)`; regex arguments may contain colons inside the parentheses.
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of rest) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ':' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  const name = parts.shift()!;
  if (!/^[A-Za-z_][\w]*$/.test(name))
    throw new Error(`Route template "${template}": bad parameter name "${name}".`);
  const constraints = parts.map((spec) => {
    const m = /^(\w+)(?:\((.*)\))?$/s.exec(spec);
    const factory = m ? CONSTRAINTS[m[1]!.toLowerCase()] : undefined;
    if (!m || !factory) {
      throw new Error(
        `Route template "${template}": the local host does not support the route constraint "${spec}".`,
      );
    }
    return factory(m[2] === undefined ? [] : m[1]!.toLowerCase() === 'regex' ? [m[2]] : m[2].split(','));
  });
  return { name, optional: optional || defaultValue !== undefined, catchAll, defaultValue, constraints };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Parses a route template (no leading slash, no prefix) into a matcher. */
export function parseRouteTemplate(template: string): RouteMatcher {
  const trimmed = template.replace(/^\/+|\/+$/g, '');
  const segments = trimmed === '' ? [] : trimmed.split('/');
  const params: ParameterSpec[] = [];
  const precedence: number[] = [];
  let pattern = '';
  segments.forEach((segment, index) => {
    const pieces = segment.split(/(\{[^}]*\})/).filter((p) => p !== '');
    const onlyParam = pieces.length === 1 && pieces[0]!.startsWith('{');
    let segmentPattern = '';
    let score = 0;
    for (const piece of pieces) {
      if (piece.startsWith('{')) {
        const spec = parseParameter(piece.slice(1, -1), template);
        if (spec.catchAll && index !== segments.length - 1) {
          throw new Error(`Route template "${template}": a catch-all parameter must be the last segment.`);
        }
        params.push(spec);
        segmentPattern += spec.catchAll ? '(.*)' : '([^/]+?)';
        score = Math.max(score, spec.catchAll ? 5 : spec.optional ? 4 : spec.constraints.length > 0 ? 2 : 3);
      } else {
        segmentPattern += escapeRegExp(piece);
      }
    }
    precedence.push(score === 0 ? 1 : score);
    const spec = onlyParam ? params[params.length - 1] : undefined;
    if (spec && (spec.optional || spec.catchAll)) {
      // `a/{b?}` matches `a` and `a/x`; a catch-all may be empty too.
      pattern += `(?:/${segmentPattern})?`;
    } else {
      pattern += `/${segmentPattern}`;
    }
  });
  const regex = new RegExp(`^${pattern}/?$`, 'i');
  return {
    template,
    precedence,
    match(pathname) {
      const m = regex.exec(pathname === '' ? '/' : pathname);
      if (!m && !(segments.length === 0 && (pathname === '' || pathname === '/'))) return undefined;
      const values: Record<string, string> = {};
      for (let i = 0; i < params.length; i++) {
        const spec = params[i]!;
        const raw = m?.[i + 1];
        if (raw === undefined || raw === '') {
          if (spec.defaultValue !== undefined) values[spec.name] = spec.defaultValue;
          else if (!spec.optional && !spec.catchAll) return undefined;
          continue;
        }
        let value: string;
        try {
          value = decodeURIComponent(raw);
        } catch {
          return undefined;
        }
        if (!spec.constraints.every((check) => check(value))) return undefined;
        values[spec.name] = value;
      }
      return values;
    },
  };
}

/** Orders matchers by ASP.NET-style precedence (more specific first), keeping registration order on ties. */
export function compareRoutePrecedence(a: RouteMatcher, b: RouteMatcher): number {
  const length = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < length; i++) {
    const pa = a.precedence[i] ?? 0;
    const pb = b.precedence[i] ?? 0;
    if (pa !== pb) return pa - pb;
  }
  return 0;
}
