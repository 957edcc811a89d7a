import { compilePersonalization, markers, type TokenName } from '../../../src/mail/personalize';

const m = markers('0123456789ab');
const other = markers('ba9876543210');

const VALUES: Record<TokenName, string> = {
  name: 'Anna',
  preferences_url: 'https://example.org/p?t=1&u=2',
  unsubscribe_url: 'https://example.org/u/abc',
  web_url: 'https://example.org/web',
};

const TEMPLATE =
  `<p>Hi${m.ifFilled('name')} ${m.token('name')}${m.endIf('name')},</p>` +
  `<a href="${m.token('preferences_url')}">prefs</a> <a href="${m.token('unsubscribe_url')}">unsubscribe</a>`;

describe('compilePersonalization', () => {
  it('fills every marker and lists the tokens used', () => {
    const p = compilePersonalization(TEMPLATE);
    expect(p.tokens).toEqual(['name', 'preferences_url', 'unsubscribe_url']);
    expect(p.fill(VALUES, 'text')).toBe('<p>Hi Anna,</p><a href="https://example.org/p?t=1&u=2">prefs</a> <a href="https://example.org/u/abc">unsubscribe</a>');
  });

  it('escapes values in html mode', () => {
    const out = compilePersonalization(TEMPLATE).fill({ ...VALUES, name: '<b>Bob</b> "&\'' }, 'html');
    expect(out).toContain('<p>Hi &lt;b&gt;Bob&lt;/b&gt; &quot;&amp;&#39;,</p>');
    expect(out).toContain('href="https://example.org/p?t=1&amp;u=2"');
  });

  it('drops the conditional span when the name is empty', () => {
    const p = compilePersonalization(TEMPLATE);
    expect(p.fill({ ...VALUES, name: '' }, 'html')).toMatch(/^<p>Hi,<\/p>/);
    expect(p.fill({ ...VALUES, name: 'Anna' }, 'html')).toMatch(/^<p>Hi Anna,<\/p>/);
  });

  it('throws on a missing, empty or unknown value', () => {
    const p = compilePersonalization(TEMPLATE);
    const { unsubscribe_url: _gone, ...missing } = VALUES;
    expect(() => p.fill(missing as Record<TokenName, string>, 'html')).toThrow(/missing personalization value "unsubscribe_url"/);
    expect(() => p.fill({ ...VALUES, unsubscribe_url: '' }, 'html')).toThrow(/empty personalization value/);
    expect(() => p.fill({ ...VALUES, email: 'x' } as Record<TokenName, string>, 'html')).toThrow(/unknown personalization value "email"/);
    // web_url is a known token even where the web link is a fixed URL: passing it is fine.
    expect(() => p.fill(VALUES, 'html')).not.toThrow();
  });

  it('keeps markers of another nonce literal: only the nonce of the last marker counts', () => {
    const forged = `<h1>${other.token('unsubscribe_url')}</h1>${TEMPLATE}`;
    const out = compilePersonalization(forged).fill(VALUES, 'text');
    expect(out).toContain(`<h1>${other.token('unsubscribe_url')}</h1>`);
    expect(out).toContain('href="https://example.org/u/abc"');
  });

  it('refuses unknown token names and unbalanced spans', () => {
    expect(() => compilePersonalization('%%bs-0123456789ab:email%%')).toThrow(/unknown personalization token/);
    expect(() => compilePersonalization(`${m.ifFilled('name')} ${m.token('unsubscribe_url')}`)).toThrow(/unclosed/);
    expect(() => compilePersonalization(`${m.endIf('name')}`)).toThrow(/unmatched/);
  });

  it('passes a string without markers through', () => {
    const p = compilePersonalization('<p>plain</p>');
    expect(p.tokens).toEqual([]);
    expect(p.fill(VALUES, 'html')).toBe('<p>plain</p>');
  });

  it('rejects a malformed nonce', () => {
    expect(() => markers('XYZ')).toThrow(/nonce/);
  });
});
