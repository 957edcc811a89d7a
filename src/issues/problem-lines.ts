import { findNodeAtLocation, parseTree, type Node } from 'jsonc-parser';
import type { IssueProblem } from './types';

/**
 * The line of the issue file each problem is about, for the desk, which shows the text next to
 * the problems: `validate` names a JSON pointer (the spec's `PATH: message`), an editor looking
 * at the text wants the line too. jsonc-parser (VS Code's own JSON scanner) gives each value's
 * offset, so this is a lookup, not a second parser of ours.
 */

export interface LocatedProblem extends IssueProblem {
  /** 1-based line of the value the pointer names, or of its nearest ancestor that exists (a missing property: its object). */
  line?: number;
}

/** RFC 6901: `/a~1b/0` → ['a/b', 0]. */
function segments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) line++;
  }
  return line;
}

export function locateProblems(text: string, problems: readonly IssueProblem[]): LocatedProblem[] {
  const source = text.replace(/^\uFEFF/, '');
  const syntax = /^malformed JSON at line (\d+), column \d+/;
  let root: Node | undefined;
  try {
    root = parseTree(source, [], { allowTrailingComma: false, disallowComments: true });
  } catch {
    root = undefined;
  }
  return problems.map((p) => {
    const m = syntax.exec(p.message);
    if (m) return { ...p, line: Number(m[1]) };
    if (!root || p.pointer === '') return { ...p };
    const path = segments(p.pointer);
    for (let n = path.length; n >= 0; n--) {
      const node = findNodeAtLocation(root, path.slice(0, n));
      if (node) {
        // A property's value: point at its key ("url": …), where the editor reads the name.
        const at = node.parent?.type === 'property' ? node.parent.offset : node.offset;
        return { ...p, line: lineAt(source, at) };
      }
    }
    return { ...p };
  });
}
