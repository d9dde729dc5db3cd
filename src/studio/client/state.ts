/** What the page knows about the open project; panels read it and call refresh() after changing it. */
export interface ClassView { name: string; folder?: string; count: number; sample: string[]; unreadable: { file: string; reason: string }[] }
export interface RunView { id: string; backbone: string; head: string; fineTune: boolean; status: string; accuracy?: number | null; error?: string }
export interface ProjectView { id: string; name: string; classes: ClassView[]; runs: RunView[]; job: { id: string; kind: string } | null }

export const state: { project?: ProjectView } = {};

export function doneRuns(): RunView[] {
  return (state.project?.runs ?? []).filter((r) => r.status === 'done');
}
