/**
 * Turns off onnxruntime's telemetry before the native module loads.
 *
 * onnxruntime-node 1.30 starts a telemetry system on Linux at the first session: it reads /etc/machine-id and
 * /proc/self/cmdline, and its command-line parser overflows the main thread's stack (SIGSEGV) once argv passes
 * ~30 KB — an ordinary `graft classify dir/*.jpg`. graft is a local, offline tool: it sends nothing anywhere.
 * This module must be imported before 'onnxruntime-node' (ESM evaluates imports in order); a value the user set
 * explicitly is kept.
 */
process.env.ORT_DISABLE_TELEMETRY ??= '1';

export const ORT_TELEMETRY_DISABLED = process.env.ORT_DISABLE_TELEMETRY !== '0';
