/** Data panel: classes, uploads (files or drag-and-drop), a linked folder, counts, sample grid, unreadable files. */
import { $, enc, h, postBlob, postJson, report, say } from './util.js';
import { state, type ClassView } from './state.js';

export function renderData(refresh: () => Promise<void>): void {
  const root = $('#data-classes');
  const p = state.project;
  root.replaceChildren();
  if (!p) return;
  if (!p.classes.length) root.append(h('p', { class: 'hint' }, 'No classes yet: add at least two, then drop images on them.'));
  for (const c of p.classes) root.append(classCard(p.id, c, refresh));
}

function classCard(project: string, c: ClassView, refresh: () => Promise<void>): HTMLElement {
  const input = h('input', { type: 'file', accept: 'image/*', multiple: true, 'data-class': c.name, class: 'upload' });
  const upload = async (files: File[]) => {
    let stored = 0;
    const refused: string[] = [];
    for (const [i, f] of files.entries()) {
      say(`uploading ${i + 1}/${files.length} to ${c.name}…`);
      try {
        await postBlob(`/api/projects/${enc(project)}/classes/${enc(c.name)}/images?name=${enc(f.name)}`, f);
        stored++;
      } catch (err) {
        refused.push(`${f.name}: ${(err as Error).message}`);
      }
    }
    say(`${stored} image(s) added to ${c.name}${refused.length ? `; refused ${refused.length}: ${refused.slice(0, 3).join('; ')}` : ''}`);
    await refresh();
  };
  input.addEventListener('change', () => void upload(Array.from(input.files ?? [])).catch(report));
  const card = h('section', { class: 'card class-card', 'data-class': c.name },
    h('header', {}, h('h3', {}, c.name), h('span', { class: 'count' }, `${c.count} image${c.count === 1 ? '' : 's'}`)),
    c.folder ? h('p', { class: 'hint' }, `also reads ${c.folder}`) : null,
    h('div', { class: 'thumbs' }, ...c.sample.map((s) =>
      h('img', { src: `/api/projects/${enc(project)}/classes/${enc(c.name)}/images/${s.split('/').map(enc).join('/')}`, alt: s, loading: 'lazy' }))),
    h('label', { class: 'drop' }, input, 'Drop images here or click to choose'),
    c.unreadable.length
      ? h('details', { class: 'unreadable' }, h('summary', {}, `${c.unreadable.length} unreadable file(s)`),
        h('ul', {}, ...c.unreadable.map((u) => h('li', {}, h('code', {}, u.file), ` — ${u.reason}`))))
      : null,
  );
  card.addEventListener('dragover', (e) => { e.preventDefault(); card.classList.add('over'); });
  card.addEventListener('dragleave', () => card.classList.remove('over'));
  card.addEventListener('drop', (e) => {
    e.preventDefault();
    card.classList.remove('over');
    void upload(Array.from(e.dataTransfer?.files ?? [])).catch(report);
  });
  return card;
}

export function setupData(refresh: () => Promise<void>): void {
  $('#add-class').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const name = (form.elements.namedItem('name') as HTMLInputElement).value;
    const folder = (form.elements.namedItem('folder') as HTMLInputElement).value.trim();
    if (!state.project) return;
    postJson(`/api/projects/${enc(state.project.id)}/classes`, { name, folder: folder || undefined })
      .then(async () => { form.reset(); say(`class ${name} added`); await refresh(); })
      .catch(report);
  });
}
