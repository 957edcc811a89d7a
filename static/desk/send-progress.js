// A send's live progress (the page shows the numbers at load without this): listens to the
// send's Server-Sent Events and writes each number into its [data-field] element; once the
// send's state changes (it starts, pauses, is done), reloads the page, whose controls and
// report follow the state.
const live = document.getElementById('live');
if (live && 'EventSource' in window) {
  const source = new EventSource(live.dataset.events);
  const bar = document.getElementById('bar');
  const set = (field, value) => {
    const el = live.querySelector(`[data-field="${field}"]`);
    if (el && el.textContent !== String(value)) el.textContent = String(value);
  };
  source.addEventListener('progress', (event) => {
    const p = JSON.parse(event.data);
    set('status', p.status);
    set('sent', p.sent);
    set('pending', p.pending);
    set('notSent', p.notSent);
    set('rate', p.rate);
    set('eta', p.eta);
    set('circuit', p.circuitText);
    if (bar) {
      bar.max = Math.max(1, p.recipients);
      bar.value = p.recipients - p.pending;
      bar.textContent = `${p.recipients - p.pending} of ${p.recipients}`;
    }
    const settled = (s) => (s === 'planning' ? 'sending' : s);
    if (p.finished || settled(p.status) !== settled(live.dataset.status)) {
      source.close();
      location.reload();
    }
  });
}
