import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors';
import type { Issue } from '../issues/types';

/**
 * The images of a digest draft (`broadsheet digest draft`), made to work wherever the editor
 * saves the draft. The builder names a weekly's image `WEEKLY/path` (the weekly's folder under
 * DATA_DIR/assets/LIST); that name means nothing next to a draft saved in `any/folder/`, so:
 *
 * - with an https PUBLIC_URL each becomes the absolute URL the weekly's image is served at
 *   (issue-format.md allows absolute https images; the weekly is sent, so its assets are public);
 * - otherwise (http on a laptop: the format refuses plain-http images, mail clients block them)
 *   each file is copied beside the draft, in `NAME-images/WEEKLY/path`, and the draft names that
 *   copy: a relative path inside the draft's folder, which `validate` finds and `issues import`
 *   copies into the digest's own asset folder.
 */

export type DraftImages = { kind: 'absolute'; publicUrl: string } | { kind: 'copy'; draftFile: string } | { kind: 'weekly-names' };

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** The relative images of a draft, as `WEEKLY/path` names. */
function relativeImages(draft: Issue): Array<{ image: { src: string }; weekly: string; rest: string }> {
  const found = [];
  for (const section of draft.sections) {
    for (const item of section.items) {
      const src = item.image?.src;
      if (!src || SCHEME.test(src)) continue;
      const slash = src.indexOf('/');
      found.push({ image: item.image!, weekly: src.slice(0, slash), rest: src.slice(slash + 1) });
    }
  }
  return found;
}

/** The folder beside a draft file that holds its copied images: `d.json` → `d-images`. */
export function draftImageFolder(draftFile: string): string {
  return `${path.basename(draftFile, path.extname(draftFile)) || 'digest'}-images`;
}

/**
 * Rewrites the draft's weekly images (in place) as `how` says, copying the files when it says
 * copy. Returns how many files were copied.
 */
export async function placeDraftImages(draft: Issue, how: DraftImages, source: { dataDir: string; listSlug: string }): Promise<number> {
  const images = relativeImages(draft);
  if (how.kind === 'weekly-names') return 0;
  if (how.kind === 'absolute') {
    for (const { image, weekly, rest } of images) {
      image.src = `${how.publicUrl}/assets/${encodeURIComponent(source.listSlug)}/${encodeURIComponent(weekly)}/${rest}`;
    }
    return 0;
  }
  const folder = draftImageFolder(how.draftFile);
  const into = path.join(path.dirname(path.resolve(how.draftFile)), folder);
  const copied = new Set<string>();
  for (const { image, weekly, rest } of images) {
    const name = `${weekly}/${rest}`;
    if (!copied.has(name)) {
      const from = path.join(source.dataDir, 'assets', source.listSlug, weekly, rest);
      const to = path.join(into, weekly, rest);
      try {
        await fs.mkdir(path.dirname(to), { recursive: true });
        await fs.copyFile(from, to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        throw new AppError(
          'not_found',
          `the image ${rest} of weekly ${weekly} is not at ${from}: DATA_DIR must be the one the server uses (DATA_DIR=${source.dataDir} here)`,
        );
      }
      copied.add(name);
    }
    image.src = `${folder}/${name}`;
  }
  return copied.size;
}
