// Switchboard console: live updates over server-sent events and upload progress.
// Plain JavaScript shipped with the gateway; every page also works without it.
"use strict";

function liveTable(table) {
  const rows = document.getElementById("live-rows");
  const status = document.getElementById("live-status");
  const source = new EventSource(table.dataset.live);
  const count = document.getElementById("live-count");
  source.addEventListener("rows", (e) => {
    // Keep the keyboard where it was: refocus the same call's link after the swap.
    const focused = rows.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
    rows.innerHTML = e.data;
    const n = rows.querySelectorAll("a").length;
    count.textContent = `${n} call${n === 1 ? "" : "s"} in progress.`;
    if (focused) {
      const again = [...rows.querySelectorAll("a")].find((a) => a.getAttribute("href") === focused);
      if (again) again.focus();
    }
  });
  window.setInterval(() => tickDurations(rows), 1000);
  source.onopen = () => { status.textContent = "Updating live."; };
  source.onerror = () => { status.textContent = "Live updates interrupted; retrying."; };
}

function tickDurations(root) {
  root.querySelectorAll("time[data-since]").forEach((t) => {
    const s = Math.max(0, Math.floor((Date.now() - Date.parse(t.dataset.since)) / 1000));
    t.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  });
}

function followCall(list) {
  const status = document.getElementById("follow-status");
  const ended = document.getElementById("call-ended");
  const shown = () => Math.max(0, ...[...list.querySelectorAll("li[data-seq]")].map(
    (li) => Number(li.dataset.seq)));
  const source = new EventSource(list.dataset.follow);
  source.onopen = () => { status.textContent = "Following the call live."; };
  source.addEventListener("entry", (e) => {
    if (Number(e.lastEventId) <= shown()) return;
    list.insertAdjacentHTML("beforeend", e.data);
  });
  source.addEventListener("ended", (e) => {
    ended.innerHTML = e.data;
    status.textContent = "The call has ended.";
    source.close();
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) status.textContent = "Not following.";
    else status.textContent = "Connection lost; reconnecting.";
  };
}

function uploadWithProgress(form) {
  const bar = form.querySelector("progress");
  const status = form.querySelector("[role=status]");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    bar.value = 0;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) {
        bar.value = Math.round((100 * e.loaded) / e.total);
        status.textContent = `Uploading: ${bar.value}%`;
      }
    };
    xhr.onerror = () => { status.textContent = "The upload failed: the console cannot be reached."; };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 202 && body.job_id) {
        status.textContent = "Uploaded; reading the document…";
        pollJob(form.dataset.jobs + body.job_id, bar, status);
      } else if (xhr.status < 300) {
        status.textContent = "Uploaded and ready.";
        window.location.reload();
      } else {
        status.textContent = `The upload was refused: ${body.detail || xhr.status}`;
      }
    };
    xhr.send(new FormData(form));
  });
}

function pollJob(url, bar, status) {
  fetch(url, { headers: { Accept: "application/json" } }).then((r) => r.json()).then((job) => {
    const p = job.progress || {};
    if (p.chunks_total) bar.value = Math.round((100 * p.chunks_embedded) / p.chunks_total);
    if (job.state === "done") { status.textContent = "Ready."; window.location.reload(); }
    else if (job.state === "failed") status.textContent = `Failed: ${job.error}`;
    else {
      status.textContent = `Reading the document: ${p.chunks_embedded || 0} of ${p.chunks_total || "?"} passages`;
      window.setTimeout(() => pollJob(url, bar, status), 500);
    }
  }).catch(() => { status.textContent = "Lost track of the upload; reload the page."; });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table[data-live]").forEach(liveTable);
  document.querySelectorAll("ol[data-follow]").forEach(followCall);
  document.querySelectorAll("form[data-upload]").forEach(uploadWithProgress);
  document.querySelectorAll("form[data-confirm]").forEach((f) => f.addEventListener("submit",
    (e) => { if (!window.confirm(f.dataset.confirm)) e.preventDefault(); }));
});
