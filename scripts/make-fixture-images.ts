/**
 * Writes the small placeholder PNGs of the test fixtures: the golden issue's
 * (tests/fixtures/golden/images/*.png, 320x180 each), the digest fixture's, whose sizes and
 * aspect ratios differ on purpose (a 40x20 badge, a 2:1 chart, a portrait), and the
 * validation fixture's chart. Each is an RGB image: a diagonal gradient
 * between two colours with a few solid blocks on top, so that every file is distinct,
 * deterministic and only a few KB. PNG is built by hand: signature, IHDR, IDAT (zlib), IEND.
 *
 *   node -r @swc-node/register scripts/make-fixture-images.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

type RGB = [number, number, number];

interface Spec {
  name: string;
  from: RGB;
  to: RGB;
  block: RGB;
  /** Default 320x180, in GOLDEN_DIR. */
  width?: number;
  height?: number;
  dir?: string;
}

const GOLDEN_DIR = join(__dirname, '..', 'tests', 'fixtures', 'golden', 'images');
const DIGEST_DIR = join(__dirname, '..', 'tests', 'fixtures', 'digest', 'images');
const VALIDATION_DIR = join(__dirname, '..', 'tests', 'unit', 'issues', 'fixtures', 'with-image', 'images');

// One entry per image referenced by tests/fixtures/golden/issue.json.
const IMAGES: Spec[] = [
  { name: 'dalle', from: [32, 40, 120], to: [240, 120, 60], block: [250, 240, 200] },
  { name: 'nfnet', from: [20, 90, 60], to: [160, 220, 120], block: [255, 255, 255] },
  { name: 'microsoft-resnet50', from: [0, 90, 160], to: [120, 200, 240], block: [250, 190, 20] },
  { name: 'unit', from: [90, 30, 110], to: [230, 140, 200], block: [40, 40, 40] },
  { name: 'vl-t5', from: [200, 60, 40], to: [250, 210, 90], block: [30, 60, 120] },
  { name: 'timesformer', from: [10, 10, 40], to: [60, 160, 200], block: [240, 80, 80] },
  { name: 'swagan', from: [60, 60, 60], to: [220, 220, 220], block: [200, 40, 120] },
  { name: 'art-detection', from: [120, 80, 40], to: [240, 200, 150], block: [40, 100, 60] },
  { name: 'charactergan', from: [250, 120, 120], to: [120, 120, 250], block: [250, 250, 120] },
  { name: 'molclr', from: [0, 110, 110], to: [200, 250, 230], block: [160, 30, 30] },
  { name: 'clip-captions', from: [70, 20, 20], to: [250, 150, 40], block: [20, 140, 200] },
  { name: 'transgan', from: [30, 50, 30], to: [180, 240, 60], block: [90, 20, 140] },
  { name: 'image-retrieval', from: [40, 40, 90], to: [170, 170, 250], block: [250, 130, 0] },
  { name: 'noisy-dataset', from: [100, 100, 20], to: [250, 250, 180], block: [10, 80, 160] },
  // tests/fixtures/digest/issue.json
  { name: 'badge', from: [180, 40, 30], to: [250, 200, 60], block: [255, 255, 255], width: 40, height: 20, dir: DIGEST_DIR },
  { name: 'chart', from: [20, 60, 120], to: [200, 230, 250], block: [240, 120, 0], width: 400, height: 200, dir: DIGEST_DIR },
  { name: 'portrait', from: [60, 20, 80], to: [240, 180, 220], block: [30, 30, 30], width: 120, height: 240, dir: DIGEST_DIR },
  // tests/unit/issues/fixtures/with-image/issue.json
  { name: 'chart', from: [20, 60, 120], to: [200, 230, 250], block: [240, 120, 0], width: 400, height: 200, dir: VALIDATION_DIR },
];

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length, 0);
  const typeAndData = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData), 0);
  return Buffer.concat([length, typeAndData, crc]);
}

function pixel(spec: Spec, px: number, py: number, width: number, height: number): RGB {
  // The pattern is drawn on a 320x180 canvas, stretched to the image's size.
  const x = Math.floor((px * 320) / width);
  const y = Math.floor((py * 180) / height);
  // Three solid blocks, like a simplified figure, over the gradient.
  const inBlock =
    y >= 30 &&
    y < 150 &&
    ((x >= 24 && x < 96) || (x >= 124 && x < 196) || (x >= 224 && x < 296)) &&
    // leave a frame inside each block so they read as panels
    !(y >= 40 && y < 140 && ((x >= 34 && x < 86) || (x >= 134 && x < 186) || (x >= 234 && x < 286)));
  if (inBlock) return spec.block;
  // Coarse steps keep the rows repetitive, so the file compresses to a few KB.
  const t = Math.floor(((x + y) / (320 + 180 - 2)) * 16) / 16;
  return [0, 1, 2].map((i) => Math.round(spec.from[i]! + (spec.to[i]! - spec.from[i]!) * t)) as RGB;
}

export function makePng(spec: Spec): Buffer {
  const { width: WIDTH = 320, height: HEIGHT = 180 } = spec;
  const rowLength = 1 + WIDTH * 3; // filter byte + RGB
  const raw = Buffer.alloc(rowLength * HEIGHT);
  for (let y = 0; y < HEIGHT; y++) {
    raw[y * rowLength] = 0; // filter: none
    for (let x = 0; x < WIDTH; x++) {
      const [r, g, b] = pixel(spec, x, y, WIDTH, HEIGHT);
      const offset = y * rowLength + 1 + x * 3;
      raw[offset] = r;
      raw[offset + 1] = g;
      raw[offset + 2] = b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(WIDTH, 0);
  ihdr.writeUInt32BE(HEIGHT, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter method
  ihdr[12] = 0; // no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

if (require.main === module) {
  for (const spec of IMAGES) {
    const dir = spec.dir ?? GOLDEN_DIR;
    mkdirSync(dir, { recursive: true });
    const png = makePng(spec);
    writeFileSync(join(dir, `${spec.name}.png`), png);
    console.log(`${spec.name}.png ${png.length} bytes`);
  }
}
