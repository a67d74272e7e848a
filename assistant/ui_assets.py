"""The browser chat's stylesheet and script (passed to Gradio's ``launch``).

The script only acts on in-page anchors the renderer made: ``#t{turn}-s{n}`` / ``#t{turn}-p{n}`` open that
answer's card (unfold its group, scroll, highlight, focus) and show a preview of the cited sentence on hover
or keyboard focus; ``#reask-{turn}`` copies the "理解为" reading into the question box for editing.
Colours meet WCAG AA (4.5:1) on white.
"""

from __future__ import annotations

CSS = """
:root { --ink:#1f2328; --muted:#4b535d; --accent:#1d4ed8; }
.card {border:1px solid #c9d1d9; border-radius:8px; padding:10px 12px; margin:0 0 10px 0; background:#fff;
       color:var(--ink); scroll-margin:80px;}
.card.closest {border-style:dashed;}
.card.flash {outline:3px solid #b45309; outline-offset:2px;}
.card h3 {margin:0 0 4px 0; font-size:15px;}
.card .meta, .expert .meta, .hint {color:var(--muted); font-size:13px;}
.card p {margin:0; line-height:1.65; font-size:14px;}
.card mark {background:#fde68a; color:#1f2328; padding:0 1px;}
details.turn {margin:0 0 12px 0;}
details.turn > summary {cursor:pointer; font-weight:600; color:var(--ink); padding:4px 0;}
details.tech {margin:6px 0 0 0; color:var(--muted); font-size:12px;}
details.tech summary {cursor:pointer;}
.badge {display:inline-block; background:#dbeafe; color:#1e3a8a; border-radius:10px; padding:1px 8px;
        font-weight:600; margin:0 6px 4px 0;}
.status {min-height:1.4em; color:var(--ink); font-size:14px;}
.status .msg {color:#9a3412; font-weight:600;}
.experts {display:grid; grid-template-columns:repeat(auto-fill, minmax(300px, 1fr)); gap:12px;}
.expert {border:1px solid #c9d1d9; border-radius:8px; padding:10px 14px; background:#fff; color:var(--ink);}
.expert h2 {margin:0 0 2px 0; font-size:18px;}
.expert .talk {font-weight:600; margin:4px 0;}
.expert ol {margin:4px 0 0 1.2em; padding:0; line-height:1.6;}
#cite-preview {position:absolute; z-index:1000; max-width:min(420px, 90vw); background:#111827; color:#fff;
               padding:8px 10px; border-radius:6px; font-size:13px; line-height:1.55;
               box-shadow:0 4px 14px rgba(0,0,0,.25);}
#cite-preview[hidden] {display:none;}
#back-to-answer {position:fixed; right:14px; bottom:14px; z-index:1000; background:#1d4ed8; color:#fff;
                 border:0; border-radius:18px; padding:8px 14px; font-size:14px;}
#back-to-answer[hidden] {display:none;}
#chat .prose.chatbot.md {opacity:1;}
#chat a[href^="#t"] {font-weight:600; text-decoration:none; color:#1e40af;}
#chat a[href^="#reask-"] {color:#1e40af; text-decoration:underline dotted;}
button[role="tab"].selected {color:#1d4ed8;}
#suggest button {white-space:normal; text-align:left;}
#intro h1 {margin:0 0 4px 0; font-size:24px;}
#intro p {margin:0;}
#chat table td:first-child, #chat table td:last-child, #chat table th:last-child {white-space:nowrap;}
@media (min-width: 900px) { #sources {max-height:80vh; overflow-y:auto; padding-right:4px;} }
@media (max-width: 600px) {  /* a phone: the expert | view | source table as stacked rows */
  #chat table thead {position:absolute; left:-9999px;}
  #chat table, #chat table tbody, #chat table tr, #chat table td {display:block; width:auto;}
  #chat table tr {border-bottom:1px solid #c9d1d9; padding:4px 0;}
  #chat table td {border:0; padding:2px 4px;}
  #chat table td:first-child {font-weight:600;}
}
"""

JS = r"""
() => {
  const tip = document.createElement('div');
  tip.id = 'cite-preview'; tip.setAttribute('role', 'tooltip'); tip.hidden = true;
  document.body.appendChild(tip);
  const back = document.createElement('button');
  back.id = 'back-to-answer'; back.type = 'button'; back.textContent = '↩ 回到回答'; back.hidden = true;
  document.body.appendChild(back);
  let lastLink = null;
  const anchorOf = (el) => {
    const a = el && el.closest ? el.closest('a[href^="#"]') : null;
    return a ? [a, decodeURIComponent(a.getAttribute('href').slice(1))] : [null, ''];
  };
  const cardFor = (id) => /^t\d+-[sp]\d+$/.test(id) ? document.getElementById(id) : null;
  const open = (card) => {
    const group = card.closest('details');
    if (group) group.open = true;
    card.scrollIntoView({behavior: 'smooth', block: 'center'});
    card.classList.add('flash');
    card.focus({preventScroll: true});
    setTimeout(() => card.classList.remove('flash'), 1800);
  };
  document.addEventListener('click', (e) => {
    const [a, id] = anchorOf(e.target);
    if (!a) return;
    if (/^reask-\d+$/.test(id)) {
      e.preventDefault(); e.stopPropagation();
      const box = document.querySelector('#question textarea');
      if (box) { box.value = a.textContent; box.dispatchEvent(new Event('input', {bubbles: true})); box.focus(); }
      return;
    }
    const card = cardFor(id);
    if (!card) return;
    e.preventDefault(); e.stopPropagation();
    hide();
    lastLink = a;
    open(card);
    const chat = document.getElementById('chat');
    back.hidden = !(chat && !chat.contains(card) && window.innerWidth < 900);
  }, true);
  back.addEventListener('click', () => {
    back.hidden = true;
    if (lastLink) { lastLink.scrollIntoView({behavior: 'smooth', block: 'center'}); lastLink.focus(); }
  });
  const show = (e) => {
    const [a, id] = anchorOf(e.target);
    const card = a && cardFor(id);
    if (!card) return;
    tip.textContent = card.getAttribute('aria-label') + '：' + (card.dataset.quote || '');
    const r = a.getBoundingClientRect();
    tip.hidden = false;
    const right = window.scrollX + window.innerWidth - tip.offsetWidth - 8;
    const left = Math.max(8, Math.min(window.scrollX + r.left, right));
    tip.style.left = left + 'px';
    tip.style.top = (window.scrollY + r.bottom + 6) + 'px';
    a.setAttribute('aria-describedby', 'cite-preview');
    current = a;
  };
  let current = null;
  const hide = () => { tip.hidden = true; current = null; };
  const leave = (e) => { const [a] = anchorOf(e.target); if (a && a === current) hide(); };
  document.addEventListener('mouseover', show);
  document.addEventListener('focusin', show);
  document.addEventListener('mouseout', leave);
  document.addEventListener('focusout', leave);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') hide(); });
}
"""
