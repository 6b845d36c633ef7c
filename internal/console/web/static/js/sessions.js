// The Sessions tab, for admins: the console's live login sessions (every
// node's: they are in the engine), and a Revoke button for each, which
// ends the session and closes its sockets on every node. The server
// checks that the request is an admin's; the page only hides the tab from
// the others.

const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

export class Sessions {
  constructor(panel, channel) {
    this.panel = panel;
    this.channel = channel; // the connection indicator shows Chat's
    this.body = panel.querySelector("#sessions-table tbody");
    this.status = panel.querySelector("#sessions-status");
    panel.querySelector("#sessions-refresh").addEventListener("click", () => this.load());
    this.timer = null;
  }

  show() {
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), 5000);
  }

  hide() {
    clearInterval(this.timer);
    this.timer = null;
  }

  say(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }

  async load() {
    try {
      const resp = await fetch("/api/sessions", { credentials: "same-origin", cache: "no-store" });
      if (!resp.ok) throw new Error(`${resp.status}: ${(await resp.text()).trim()}`);
      this.render(await resp.json());
      this.say("");
    } catch (e) {
      this.say(`Listing the sessions failed: ${e.message}`);
    }
  }

  render(list) {
    this.body.replaceChildren();
    for (const s of list) {
      const tr = document.createElement("tr");
      tr.dataset.user = s.user;
      tr.dataset.key = s.short;
      cell(tr, s.user + (s.yours ? " (you)" : ""));
      cell(tr, s.role);
      cell(tr, s.method);
      cell(tr, fmt.format(new Date(s.created)));
      cell(tr, fmt.format(new Date(s.seen)));
      cell(tr, s.remote || "");
      cell(tr, s.short, "key");
      const td = cell(tr, "");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "revoke";
      btn.textContent = "Revoke";
      btn.title = `End ${s.user}'s session ${s.short} and close its connections on every node`;
      btn.addEventListener("click", () => this.revoke(s, btn));
      td.appendChild(btn);
      this.body.appendChild(tr);
    }
  }

  async revoke(s, btn) {
    btn.disabled = true;
    try {
      const resp = await fetch(`/api/sessions/${encodeURIComponent(s.key)}/revoke`,
        { method: "POST", credentials: "same-origin", cache: "no-store" });
      if (!resp.ok && resp.status !== 404) throw new Error(`${resp.status}: ${(await resp.text()).trim()}`);
      this.say(`Revoked ${s.user}'s session ${s.short}.`);
    } catch (e) {
      btn.disabled = false;
      this.say(`Revoke failed: ${e.message}`);
      return;
    }
    this.load();
  }
}
