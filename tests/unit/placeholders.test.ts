import { escapeHtml } from '../../src/escape-html';
import { fill } from '../../src/placeholders';

describe('fill', () => {
  it('fills {name} in a sentence and leaves an unknown name as written', () => {
    expect(fill('{list}: {month}, {nope}', { list: 'ML', month: 'March' }, { syntax: 'sentence', missing: 'keep' })).toBe('ML: March, {nope}');
  });

  it('fills {{name}} holes in one pass: a value that spells a hole is not expanded again', () => {
    expect(fill('<b>{{list}}</b> {{url}}', { list: '{{url}} & co', url: 'https://x' }, { syntax: 'hole', missing: 'throw', escape: escapeHtml })).toBe(
      '<b>{{url}} &amp; co</b> https://x',
    );
  });

  it('throws on a hole without a value when asked to, naming the template', () => {
    expect(() => fill('{{list}} {{url}}', { list: 'x' }, { syntax: 'hole', missing: 'throw', source: 'emails/x.mjml' })).toThrow(
      /emails\/x\.mjml: no value for \{\{url\}\}/,
    );
  });

  it('takes catalogue keys with dots as hole names, and leaves {name} alone in a template', () => {
    expect(fill('{{email.confirm.heading}} {list}', { 'email.confirm.heading': 'Hi' }, { syntax: 'hole', missing: 'keep' })).toBe('Hi {list}');
  });
});
