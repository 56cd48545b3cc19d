// Small DOM helpers shared by the views.

export const $ = (sel) => document.querySelector(sel);

/** h('div', {class, onclick, …}, ...children): an element; null/false children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

function hue(id) {
  let x = 0;
  for (const ch of String(id)) x = (x * 31 + ch.charCodeAt(0)) % 360;
  return x;
}

/** A round initial in the user's colour. */
export function avatar(user, cls = '') {
  const name = user?.username || user?.id || '?';
  return h('span', { class: `avatar ${cls}`.trim(), style: `--hue:${hue(user?.id || name)}`, 'aria-hidden': 'true' }, [...name][0]?.toUpperCase() || '?');
}

/** A time of day, with the date when it is not today. */
export function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}
