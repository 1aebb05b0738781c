// labkit's class chat page: the same page for every stack, plain WebSocket or Socket.IO.
// It builds its URLs from its own address, so it works behind JupyterHub's /proxy/PORT/ too,
// and it loads nothing from other hosts. Messages are shown with textContent, never as HTML.
(() => {
  "use strict";
  const script = document.currentScript;
  const transport = script.dataset.transport;
  const words = JSON.parse(script.dataset.words);
  const base = new URL(".", location.href); // keeps a /proxy/PORT/ prefix
  const messages = document.getElementById("messages");
  const online = document.getElementById("online");
  const status = document.getElementById("status");
  const sendForm = document.getElementById("send");
  const nickForm = document.getElementById("nick");

  function say(text) {
    status.textContent = text;
  }

  function show(who, text, mine) {
    const line = document.createElement("p");
    line.className = mine ? "mine" : "theirs";
    const name = document.createElement("b");
    name.textContent = who + ": ";
    line.append(name, document.createTextNode(text));
    messages.append(line);
    line.scrollIntoView({ block: "end" });
  }

  function showOnline(people) {
    online.replaceChildren(
      ...people.map((person) => {
        const item = document.createElement("li");
        item.textContent = person.nick;
        return item;
      }),
    );
  }

  function received(message) {
    if (Array.isArray(message.online)) {
      showOnline(message.online);
    } else {
      show(message.nick || `${words.someone} ${message.from}`, String(message.text), false);
    }
  }

  let send = () => {};
  let setNick = () => {};
  if (transport === "socketio") {
    const socket = io({ path: base.pathname + "socket.io" }); // eslint-disable-line no-undef
    socket.on("connect", () => say(words.connected));
    socket.on("disconnect", () => say(words.disconnected));
    socket.on("chat", received);
    socket.on("online", received);
    send = (text) => socket.emit("chat", text);
    setNick = (nick) => socket.emit("nick", nick);
  } else {
    const ws = new WebSocket(base.href.replace(/^http/, "ws"));
    ws.onopen = () => say(words.connected);
    ws.onclose = (event) => say(`${words.disconnected} (${event.code})`);
    ws.onmessage = (event) => received(JSON.parse(event.data));
    send = (text) => ws.send(text);
    setNick = (nick) => ws.send(JSON.stringify({ nick }));
  }

  sendForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = sendForm.elements.text;
    const text = input.value.trim();
    if (!text) return;
    send(text);
    show(words.me, text, true);
    input.value = "";
  });

  nickForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = nickForm.elements.nick.value.trim();
    if (nick) setNick(nick);
  });
})();
