import { execFileSync } from 'node:child_process';

/**
 * What Python's `email` package (policy=default, an independent MIME parser) makes of
 * messages: the defects it found in the message and in each header, the decoded headers, and
 * each text part's Content-Transfer-Encoding, decoded size and content.
 */
export interface PythonView {
  defects: string[];
  headerDefects: Record<string, string[]>;
  headers: Record<string, string>;
  fromName: string;
  fromAddress: string;
  toName: string;
  toAddress: string;
  parts: { type: string; cte: string; encodedBytes: number; decodedBytes: number; content: string; defects: string[] }[];
}

const SCRIPT = `
import sys, json
from email import policy
from email.parser import BytesParser
out = []
for raw in json.load(sys.stdin):
    msg = BytesParser(policy=policy.default).parsebytes(bytes.fromhex(raw))
    hd = {}
    headers = {}
    for name, value in msg.items():
        hd[name] = [repr(d) for d in getattr(value, 'defects', [])]
        headers[name] = str(value)
    def first(h):
        v = msg[h]
        a = v.addresses[0] if v is not None and v.addresses else None
        return (a.display_name, a.addr_spec) if a else ('', '')
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() == 'multipart':
            continue
        payload = part.get_payload(decode=False)
        content = part.get_content()
        parts.append({'type': part.get_content_type(), 'cte': str(part.get('Content-Transfer-Encoding', '')),
                      'encodedBytes': len(payload.encode('utf-8', 'surrogateescape')), 'decodedBytes': len(content.encode('utf-8')),
                      'content': content, 'defects': [repr(d) for d in part.defects]})
    fn, fa = first('From')
    tn, ta = first('To')
    out.append({'defects': [repr(d) for d in msg.defects], 'headerDefects': hd, 'headers': headers,
                'fromName': fn, 'fromAddress': fa, 'toName': tn, 'toAddress': ta, 'parts': parts})
json.dump(out, sys.stdout)
`;

export function parseWithPython(raws: Buffer[]): PythonView[] {
  const output = execFileSync('python3', ['-c', SCRIPT], {
    input: JSON.stringify(raws.map((r) => r.toString('hex'))),
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(output.toString('utf8')) as PythonView[];
}

/** Every defect Python reported, as `where: defect` lines (empty when the message is clean). */
export function allDefects(view: PythonView): string[] {
  return [
    ...view.defects.map((d) => `message: ${d}`),
    ...Object.entries(view.headerDefects).flatMap(([h, ds]) => ds.map((d) => `${h}: ${d}`)),
    ...view.parts.flatMap((p) => p.defects.map((d) => `${p.type}: ${d}`)),
  ];
}
