// The Exec tab. Until the Exec feature is configured on the server,
// /ws/exec answers every connection with a not_configured error, which this
// tab shows. (The Exec issue puts its terminal here: xterm.js is vendored
// under /vendor/xterm.)

import { Channel } from "./socket.js";

export class Exec {
  constructor(el, onState) {
    this.status = el.querySelector("#exec-status");
    this.channel = new Channel("/ws/exec", {
      onMessage: (msg) => this.receive(msg),
      onState,
    });
  }

  show() { this.channel.start(); }
  hide() { this.channel.stop(); }

  receive(msg) {
    if (msg.type === "error" && msg.code === "not_configured") {
      this.status.textContent = `${msg.error}.`;
      this.status.dataset.state = "not_configured";
      // Nothing to wait for: close instead of reconnecting.
      this.channel.stop();
      return;
    }
    if (msg.type === "error") this.status.textContent = msg.error;
  }
}
