import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cosineSchedule, oneCycleSchedule, parseSchedule } from '../../src/optim/schedule.js';
import { GraftError } from '../../src/util/errors.js';

const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('one-cycle: starts at 1/div, peaks at 25% (step pct·T − 1), ends at 1/(div·final_div)', () => {
  const T = 200;
  const s = parseSchedule('onecycle');
  near(s(0, T, 0), 1 / 25, 'start');
  near(s(0.25 * T - 1, T, 0), 1, 'peak');
  near(s(T - 1, T, 0), 1 / 25 / 1e4, 'end');
  // Cosine warm-up: halfway through it the factor is the midpoint of 1/25 and 1.
  near(s((0.25 * T - 1) / 2, T, 0), (1 + 1 / 25) / 2, 'mid warm-up');
  // Halfway through the annealing phase: midpoint of 1 and the final factor.
  const warmEnd = 0.25 * T - 1;
  near(s((warmEnd + T - 1) / 2, T, 0), (1 + 1 / 25 / 1e4) / 2, 'mid annealing');
  const values = Array.from({ length: T }, (_, i) => s(i, T, 0));
  const peak = values.indexOf(Math.max(...values));
  assert.equal(peak, warmEnd);
  for (let i = 1; i <= peak; i++) assert.ok(values[i] > values[i - 1], `rising at ${i}`);
  for (let i = peak + 1; i < T; i++) assert.ok(values[i] < values[i - 1], `falling at ${i}`);
});

test('one-cycle options: pct_start, div and final div', () => {
  const s = oneCycleSchedule({ pctStart: 0.3, divFactor: 10, finalDivFactor: 100 });
  near(s(0, 100, 0), 0.1, 'start');
  near(s(29, 100, 0), 1, 'peak');
  near(s(99, 100, 0), 0.001, 'end');
  near(parseSchedule('onecycle:0.3:10:100')(99, 100, 0), 0.001, 'parsed end');
});

test('cosine: 1 at the start, (1 + floor)/2 halfway, floor at the end', () => {
  for (const floor of [0, 0.05]) {
    const s = cosineSchedule(floor);
    near(s(0, 120, 0), 1, 'start');
    near(s(60, 120, 0), (1 + floor) / 2, 'middle');
    near(s(120, 120, 0), floor, 'end');
  }
  near(parseSchedule('cosine:0.01')(90, 90, 0), 0.01, 'parsed floor');
});

test('exponential and step schedules work per epoch', () => {
  const exp = parseSchedule('exp:0.98');
  near(exp(0, 100, 0), 1, 'epoch 0');
  near(exp(999, 1000, 10), 0.98 ** 10, 'epoch 10');
  const step = parseSchedule('step:10:0.1');
  near(step(0, 100, 9), 1, 'epoch 9');
  near(step(0, 100, 10), 0.1, 'epoch 10');
  near(step(0, 100, 25), 0.01, 'epoch 25');
  near(parseSchedule('constant')(57, 100, 4), 1, 'constant');
});

test('parseSchedule rejects malformed specs with GraftError', () => {
  for (const bad of ['exp', 'exp:x', 'step:10', 'step:0:0.1', 'cosine:2', 'onecycle:1.5', 'linear', 'constant:1']) {
    assert.throws(() => parseSchedule(bad), (e: unknown) => e instanceof GraftError && e.code === 'BAD_ARGUMENT', bad);
  }
});
