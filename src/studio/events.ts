/** The events of a studio job, as the server sends them (server-sent events) and the page reads them. No imports: the browser bundle and the server share it. */
export type JobEvent =
  | { type: 'progress'; label: string; done: number; total?: number; unit?: string; status?: string }
  | { type: 'epoch'; run: string; epoch: number; trainLoss: number; trainAcc: number; valLoss?: number; valAcc?: number }
  | { type: 'log'; line: string }
  | { type: 'frame'; step: number; image: string }
  | { type: 'done'; result: unknown }
  | { type: 'failed'; message: string }
  | { type: 'cancelled' };
