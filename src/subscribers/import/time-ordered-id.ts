import { randomFillSync, randomInt } from 'node:crypto';
import { stringify, v7 } from 'uuid';

/** Random bytes for ids, drawn in bulk; each id is written over its own 16 of them. */
const idBytes = Buffer.alloc(16 * 4096);
let idAt = idBytes.length;
/** Counts up from a random start, so that ids made in the same millisecond stay in order. */
let idSeq = randomInt(2 ** 31);

/**
 * A time-ordered id (UUIDv7), made by uuid over random bytes drawn in bulk. Its v7() with no
 * arguments allocates two typed arrays per id and refills a 256-byte pool every 16 ids: at two
 * ids a row that took 1.7 µs a row, this takes 0.7 (a million rows, measured without the database).
 */
export function timeOrderedId(): string {
  if (idAt === idBytes.length) {
    randomFillSync(idBytes);
    idAt = 0;
  }
  const at = idAt;
  idAt += 16;
  idSeq = (idSeq + 1) | 0;
  v7({ random: idBytes.subarray(at, at + 16), msecs: Date.now(), seq: idSeq }, idBytes, at);
  return stringify(idBytes, at);
}
