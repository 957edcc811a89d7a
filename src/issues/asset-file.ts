import { lstatSync } from 'node:fs';
import path from 'node:path';

/**
 * What is wrong with an issue's relative asset as a file, or undefined when it is a regular
 * file inside the folder. Every part of the path is looked at without following links:
 * a symbolic link (to a file or to a folder on the way) could point anywhere on the machine
 * (a key, /etc/passwd, another list's drafts), and `issues import` would copy what it points
 * to under DATA_DIR and serve it at /assets/…. A device, a socket or a fifo is refused too.
 */
export function assetFileProblem(baseDir: string, relativePath: string): string | undefined {
  const parts = relativePath.split('/').filter((p) => p !== '' && p !== '.');
  let at = baseDir;
  for (const [i, part] of parts.entries()) {
    at = path.join(at, part);
    const stat = lstatSync(at, { throwIfNoEntry: false });
    const shown = parts.slice(0, i + 1).join('/');
    if (!stat) return `file not found: ${relativePath} (relative to the issue file)`;
    if (stat.isSymbolicLink()) return `${shown} is a symbolic link: refused (it could point outside the issue's folder); copy the file itself into the folder`;
    const last = i === parts.length - 1;
    if (!last && !stat.isDirectory()) return `file not found: ${relativePath} (relative to the issue file)`;
    if (last && !stat.isFile()) return `${shown} is not a regular file: refused`;
  }
  return undefined;
}
