/** The studio page: project picker, tabs, and the four panels (data, train, try it, explore). */
import { renderData, setupData } from './data.js';
import { renderExplore, setupExplore } from './explore.js';
import { renderRuns, setupTrain, watchTraining } from './train.js';
import { renderTry, setupTry } from './try.js';
import { $, api, enc, h, postJson, report, say } from './util.js';
import { state, type ProjectView } from './state.js';

async function refresh(): Promise<void> {
  if (!state.project) return;
  state.project = await api<ProjectView>(`/api/projects/${enc(state.project.id)}`);
  $('#project-name').textContent = state.project.name;
  renderData(refresh);
  renderRuns();
  renderTry();
  renderExplore();
}

async function openProject(id: string): Promise<void> {
  state.project = await api<ProjectView>(`/api/projects/${enc(id)}`);
  document.body.classList.add('has-project');
  await refresh();
  if (state.project.job?.kind === 'train') void watchTraining(state.project.job.id, refresh).catch(report);
}

async function listProjects(): Promise<void> {
  const projects = await api<{ id: string; name: string }[]>('/api/projects');
  const sel = $('#project-select') as HTMLSelectElement;
  sel.replaceChildren(h('option', { value: '' }, projects.length ? 'open a project…' : 'no projects yet'), ...projects.map((p) => h('option', { value: p.id }, p.name)));
  if (state.project) sel.value = state.project.id;
}

function showTab(name: string): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('nav button')) b.classList.toggle('active', b.dataset.tab === name);
  for (const s of document.querySelectorAll<HTMLElement>('main > section.panel')) s.hidden = s.id !== `tab-${name}`;
}

async function boot(): Promise<void> {
  for (const b of document.querySelectorAll<HTMLButtonElement>('nav button')) b.addEventListener('click', () => showTab(b.dataset.tab!));
  showTab('data');
  $('#new-project').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = (e.target as HTMLFormElement).elements.namedItem('name') as HTMLInputElement;
    postJson<{ id: string }>('/api/projects', { name: input.value })
      .then(async (p) => { input.value = ''; await openProject(p.id); await listProjects(); say(`project ${p.id} created`); })
      .catch(report);
  });
  $('#project-select').addEventListener('change', (e) => {
    const id = (e.target as HTMLSelectElement).value;
    if (id) void openProject(id).catch(report);
  });
  setupData(refresh);
  setupTry();
  setupExplore();
  await setupTrain(refresh);
  await listProjects();
  document.body.dataset.ready = 'true';
}

boot().catch(report);
