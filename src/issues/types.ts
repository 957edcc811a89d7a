/**
 * Issue format 1, as written by editors (see docs/issue-format.md and
 * emails/issue.schema.json). These types describe a file that passed validation.
 */

/** Markdown subset: paragraphs, *em*, **strong**, `code`, [links](https://…), bullet lists. */
export type RichText = string;

export interface Issue {
  $schema?: string;
  format: 1;
  list: string;
  kind?: 'weekly' | 'digest';
  slug: string;
  title: string;
  subject?: string;
  preheader?: string;
  /** YYYY-MM-DD */
  date: string;
  /** BCP 47 tag; defaults to the list's language. */
  language?: string;
  intro?: RichText;
  highlights?: Highlight[];
  sections: Section[];
  outro?: RichText;
  links?: LinkCard[];
  /** The heading over `links`, e.g. "Past newsletters"; defaults to "Further reading". */
  linksTitle?: string;
  /** One card that stands out after the outro, e.g. "Subscribe to our weekly". */
  callToAction?: CallToAction;
  /** Only for kind "digest": slugs of the weekly issues it summarises. */
  covers?: string[];
}

export interface CallToAction extends LinkCard {
  /** Shown above the card. */
  heading?: string;
}

export interface Highlight {
  title: string;
  points: RichText[];
}

export interface Section {
  id: string;
  title: string;
  intro?: RichText;
  items: Item[];
}

export interface Item {
  title: string;
  url: string;
  source?: string;
  image?: Image;
  paper?: Paper;
  summary?: RichText;
  tags?: string[];
}

export interface Image {
  /** Absolute https URL, or a path relative to the issue file (an asset of the issue). */
  src: string;
  alt: string;
  credit?: RichText;
  /**
   * Natural size in pixels. Optional for an absolute URL (without it the email cannot reserve
   * the image's space or tell Outlook its size); for a relative path, validateIssueFile reads
   * it from the file and it overrides what the editor wrote.
   */
  width?: number;
  height?: number;
}

export interface Paper {
  id: string;
  title: string;
}

export interface LinkCard {
  title: string;
  url: string;
  description?: string;
}

/** One problem found in an issue file: a JSON pointer (RFC 6901) and a message. */
export interface IssueProblem {
  pointer: string;
  message: string;
}
