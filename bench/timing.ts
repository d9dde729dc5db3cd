/** Median wall time of `reps` runs of `fn` after one warm-up run, in ms (shared by the bench scripts). */
export async function medianMs(fn: () => Promise<unknown>, reps: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}
