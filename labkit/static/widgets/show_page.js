// labkit.show_page: a page a labkit server serves, in an iframe beside the code.
// The page builds its own WebSocket URLs from its address, so behind /proxy/PORT/ it works unchanged.

function render({ model, el }) {
  const words = model.get("words");
  const where = reachable(model.get("url"), pageLocation(), model.get("proxy"));
  const box = document.createElement("div");
  box.className = "labkit-page";
  const caption = document.createElement("div");
  caption.className = "labkit-status";
  const link = document.createElement("a");
  link.href = where.url;
  link.target = "_blank";
  link.rel = "noopener";
  link.textContent = words.open;
  caption.append(fill(words.title, { url: where.url }), " · ", link);
  box.append(caption);
  if (where.how === "unsure") {
    const note = document.createElement("div");
    note.className = "labkit-line labkit-unsure";
    note.textContent = fill(words.unsure, { url: where.url });
    box.append(note);
  }
  const frame = document.createElement("iframe");
  frame.src = where.url;
  frame.title = fill(words.title, { url: where.url });
  frame.style.height = `${model.get("height")}px`;
  box.append(frame);
  el.append(box);
}

export default { render };
