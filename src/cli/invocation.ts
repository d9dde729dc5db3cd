/** The argv of the running `graft` command, kept by main() so a report can record the command that reproduces its run. */
let current: string[] = [];

export function setInvocation(argv: string[]): void {
  current = ['graft', ...argv];
}

export function invocation(): string[] {
  return [...current];
}
