/** Terminal progress bars (stderr, only on a TTY) for the library's ProgressSink events. */
import cliProgress from 'cli-progress';
import type { ProgressSink, ProgressTask } from '../util/progress.js';

function formatRate(done: number, seconds: number, unit: string): string {
  if (seconds <= 0) return '';
  const rate = done / seconds;
  if (unit === 'B') return `${(rate / 1e6).toFixed(1)} MB/s`;
  return `${rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)} ${unit}/s`;
}

export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  return {
    start(label: string, total: number | undefined, unit = ''): ProgressTask {
      if (!stream.isTTY) return { update() {}, increment() {}, finish() {} };
      const started = Date.now();
      const bar = new cliProgress.SingleBar(
        {
          stream,
          format: total ? `${label} {bar} {percentage}% {value}/{total} ${unit} | {rate} | ETA {eta_formatted} {status}` : `${label} {value} ${unit} | {rate} {status}`,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      let done = 0;
      bar.start(total ?? 0, 0, { rate: '', status: '' });
      const payload = (status?: string) => ({ rate: formatRate(done, (Date.now() - started) / 1000, unit), status: status ?? '' });
      return {
        update(n, status) { done = n; bar.update(n, payload(status)); },
        increment(by = 1, status) { done += by; bar.update(done, payload(status)); },
        finish(status) { bar.update(done, payload(status)); bar.stop(); },
      };
    },
  };
}
