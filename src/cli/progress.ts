import { Presets, SingleBar } from 'cli-progress';

/**
 * The time left as a progress bar shows it. cli-progress gives its ETA as the string 'INF' or
 * 'NULL' while nothing has moved yet (no rate to divide by), and its own formatter cuts those
 * to two characters plus "s": the bar read `ETA NFs`. Unknown is a dash here.
 */
export function formatEta(seconds: unknown): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '–';
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')}m`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.round(seconds)}s`;
}

/**
 * The CLI's progress bars (import, `issues send --wait`): on stderr, so stdout stays clean for
 * pipes. `format` uses cli-progress's placeholders; {eta_formatted} goes through formatEta (the
 * elapsed time, {duration_formatted}, too: both use the same option).
 */
export function progressBar(format: string, stream: NodeJS.WritableStream = process.stderr): SingleBar {
  return new SingleBar({ format, stream, hideCursor: true, etaBuffer: 50, formatTime: (t: number) => formatEta(t) }, Presets.shades_classic);
}
