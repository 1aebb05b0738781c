"""JupyterLab in a real Chromium, driven as a student drives it: open, Run All, type, Ctrl+S.

A helper for the tests that check what a lesson shows in the lab (not a test module). It starts
JupyterLab with the command ``dev.py lab`` uses, on a folder the test owns, with its own Jupyter
settings, workspaces and runtime folders so that nothing from the machine's Jupyter leaks in.
Every wait is on the page's state (polled), never a fixed sleep.
"""

from __future__ import annotations

__all__ = ["CellShown", "JupyterLab", "Notebook", "load_dev"]

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from labkit.browser import Browser
from labkit.errors import LabkitError

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "labkit-test"

#: The notebook panel on show (other tabs stay in the page, hidden).
PANEL = "Array.from(document.querySelectorAll('.jp-NotebookPanel')).find((p) => p.getClientRects().length)"

#: What the page shows for each cell: its kind, its prompt and each output's MIME type and text.
CELLS_SHOWN = f"""(() => {{
  const panel = {PANEL};
  return Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell')).map((cell) => ({{
    kind: cell.classList.contains('jp-CodeCell') ? 'code'
      : cell.classList.contains('jp-MarkdownCell') ? 'markdown' : 'raw',
    prompt: (cell.querySelector('.jp-InputPrompt') || {{textContent: ''}}).textContent.trim(),
    outputs: Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map((o) => [
      o.dataset.mimeType || '', o.textContent,
    ]),
  }}));
}})()"""

#: True once the notebook's kernel is connected and idle (its name shown, not "No Kernel").
KERNEL_IDLE = f"""(() => {{
  const panel = {PANEL};
  if (!panel) return false;
  const status = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const name = panel.querySelector('.jp-Toolbar-kernelName');
  return !!(status && name && status.dataset.status === 'idle' && name.textContent.trim() === %s);
}})()"""

#: Watches the notebook for a cell that starts running, so that "finished" cannot mean "not started".
WATCH_RUNS = f"""(() => {{
  const panel = {PANEL};
  window.labkitStarted = false;
  const seen = () => {{
    if (Array.from(panel.querySelectorAll('.jp-InputPrompt')).some((p) => p.textContent.includes('*'))) {{
      window.labkitStarted = true;
    }}
  }};
  if (window.labkitWatch) window.labkitWatch.disconnect();
  window.labkitWatch = new MutationObserver(seen);
  window.labkitWatch.observe(panel, {{subtree: true, childList: true, characterData: true}});
  return true;
}})()"""

#: True when cells were started since WATCH_RUNS and none is running or waiting any more.
RUNS_FINISHED = f"""(() => {{
  const panel = {PANEL};
  const status = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const busy = Array.from(panel.querySelectorAll('.jp-InputPrompt')).some((p) => p.textContent.includes('*'));
  return window.labkitStarted && !busy && status.dataset.status === 'idle';
}})()"""

#: What a driver that lost its way needs to know of the notebook: had cells started, what the kernel
#: indicator says, every code cell's prompt ("[3]:", "[*]:", "[ ]:") and which show an error or a warning.
RUN_STATE = f"""(() => {{
  const panel = {PANEL};
  if (!panel) return null;
  const status = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const cells = Array.from(panel.querySelectorAll('.jp-CodeCell'));
  const STDERR = '[data-mime-type="application/vnd.jupyter.stderr"]';  // errors and warnings
  return {{
    started: window.labkitStarted === undefined ? null : window.labkitStarted,
    indicator: status ? status.dataset.status || null : null,
    prompts: cells.map((cell) => (cell.querySelector('.jp-InputPrompt') || {{textContent: ''}}).textContent.trim()),
    stderr: cells.flatMap((cell, i) => (cell.querySelector(STDERR) ? [i] : [])),
  }};
}})()"""


def load_dev(root: Path = ROOT) -> ModuleType:
    """``dev.py`` of a checkout (this one by default) as a module."""
    spec = importlib.util.spec_from_file_location(f"dev_{abs(hash(root))}", root / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class CellShown:
    """One cell as the page shows it, beside the same cell in the file as last saved.

    ``saved`` gives what the page does not show whole (the source of a long cell, the tags); its
    outputs are the file's, which the page's outputs replace once the cell runs.
    """

    kind: str
    prompt: str
    outputs: tuple[tuple[str, str], ...]  # (MIME type, text) of each output, as rendered
    saved: dict[str, Any]

    @property
    def source(self) -> str:
        return "".join(self.saved.get("source", ""))

    @property
    def tags(self) -> list[str]:
        return list(self.saved.get("metadata", {}).get("tags", []))

    @property
    def text(self) -> str:
        return "".join(text for _, text in self.outputs)

    @property
    def errors(self) -> list[str]:
        """What the page shows in red: tracebacks and anything written to stderr."""
        return [text for mime, text in self.outputs if mime == "application/vnd.jupyter.stderr"]


class JupyterLab:
    """JupyterLab (started as ``dev.py lab`` starts it) serving ``root``, and a Chromium looking at it."""

    def __init__(
        self,
        root: Path,
        browser: Browser,
        dev: ModuleType | None = None,
        extra: Sequence[str] = (),
        timeout: float = 45,
    ) -> None:
        self.root = root
        self.browser = browser
        self.timeout = timeout
        self.dev = dev or load_dev()
        self._home = tempfile.TemporaryDirectory(prefix="labkit-jupyter-")
        home = Path(self._home.name)
        env = dict(os.environ)
        for name, folder in [
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("JUPYTERLAB_SETTINGS_DIR", "user-settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ]:
            env[name] = str(home / folder)
        self.dev.write_lab_settings(Path(sys.prefix))  # what dev.py lab does to its environment
        args = self.dev.lab_command(
            ["--no-browser", "--port=0", f"--IdentityProvider.token={TOKEN}", *extra],
            root=root,
            python=Path(sys.executable),
        )
        self._log = open(home / "jupyterlab.log", "w+b")  # closed in stop()
        self._process = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self.url = self._wait_for_server(home / "runtime" / f"jpserver-{self._process.pid}.json")
        except BaseException:
            self.stop()
            raise

    def _wait_for_server(self, info_file: Path) -> str:
        deadline = time.monotonic() + self.timeout
        while not info_file.exists():
            if self._process.poll() is not None:
                raise LabkitError(f"JupyterLab exited: {self.log()[-2000:]}")
            if time.monotonic() > deadline:
                raise LabkitError(f"JupyterLab did not start within {self.timeout} s: {self.log()[-2000:]}")
            time.sleep(0.05)
        while True:  # the file is written before the server listens; wait until it answers
            try:
                url = str(json.loads(info_file.read_text())["url"])
                self.api("GET", "api/status", url=url)
                return url
            except (OSError, ValueError, KeyError):
                if time.monotonic() > deadline:
                    raise LabkitError(f"JupyterLab did not answer within {self.timeout} s") from None
                time.sleep(0.05)

    def log(self) -> str:
        self._log.flush()
        return (Path(self._home.name) / "jupyterlab.log").read_text(errors="replace")

    def api(self, method: str, path: str, url: str | None = None) -> Any:
        """One call to the Jupyter server's REST API."""
        request = urllib.request.Request(
            f"{url or self.url}{path}", method=method, headers={"Authorization": f"token {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def page_url(self, path: str = "") -> str:
        """The address a student opens; ``path`` (a notebook under root) is opened in a fresh workspace."""
        if not path:
            return f"{self.url}?token={TOKEN}"
        return f"{self.url}lab/tree/{path}?reset&token={TOKEN}"

    def open(self, path: str) -> Notebook:
        """Open a notebook in a fresh workspace with a fresh kernel; return once the kernel is idle."""
        self.browser.navigate("about:blank")  # first leave the lab, so no page sees its kernels go
        for session in self.api("GET", "api/sessions"):
            self.api("DELETE", f"api/sessions/{session['id']}")
        self.browser.navigate(self.page_url(path))
        return self.shown(path)

    def shown(self, path: str) -> Notebook:
        """The notebook the page shows, once it is ``path`` and its kernel is idle."""
        tab = f".lm-TabBar-tab.lm-mod-current[title*={json.dumps(Path(path).name)}]"
        self.wait_for(f"!!document.querySelector({json.dumps(tab)})", f"{path} in the current tab")
        notebook = Notebook(self, path)
        notebook.wait_until_idle()
        notebook.focus()
        return notebook

    def wait_for(self, expression: str, what: str, timeout: float | None = None) -> Any:
        """``Browser.wait_for``, and on time out an error that says where a screenshot of the page is."""
        try:
            return self.browser.wait_for(expression, timeout=timeout or self.timeout, what=what)
        except LabkitError as error:
            raise self.lost(str(error)) from None

    def lost(self, message: str) -> LabkitError:
        """An error for a driver that lost its way, with a screenshot of the page and the server's log."""
        folder = Path(tempfile.mkdtemp(prefix="labkit-jupyterlab-"))
        self.browser.screenshot(folder / "page.png")
        (folder / "jupyterlab.log").write_text(self.log())
        try:
            state = self.browser.evaluate(RUN_STATE)
        except LabkitError as exc:  # the page itself is what went wrong
            state = f"unreadable: {exc}"
        return LabkitError(f"{message}; the notebook: {state} (the page and JupyterLab's log are in {folder})")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)  # Jupyter shuts its kernels down on SIGTERM
            try:
                self._process.wait(20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        self._home.cleanup()

    def __enter__(self) -> JupyterLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Notebook:
    """A notebook open in the lab's page."""

    def __init__(self, lab: JupyterLab, path: str) -> None:
        self.lab = lab
        self.path = path
        self.file = lab.root / path

    @property
    def browser(self) -> Browser:
        return self.lab.browser

    def wait_until_idle(self) -> None:
        name = self.lab.api("GET", "api/kernelspecs")["kernelspecs"]["python3"]["spec"]["display_name"]
        self.lab.wait_for(KERNEL_IDLE % json.dumps(name), f"{self.path} open with an idle kernel")

    def focus(self) -> None:
        """Click beside the active cell, as a student does to put the notebook (not the file browser)
        in charge: menus and shortcuts act on the notebook that has the focus."""
        self.browser.click(".jp-NotebookPanel .jp-Notebook .jp-Cell.jp-mod-active .jp-InputPrompt")
        self.lab.wait_for(f"{PANEL}.contains(document.activeElement)", f"{self.path} to have the focus")

    def run_all(self) -> list[CellShown]:
        """Run → Run All Cells from the menu bar; return what every cell shows once all finished."""
        self.browser.evaluate(WATCH_RUNS)
        self.browser.click(".lm-MenuBar-item", text="Run")
        self.browser.click(".lm-Menu-item[data-command='runmenu:run-all']")  # "Run All Cells" ("Run All" in 4.1)
        return self.wait_until_finished()

    def wait_until_finished(self) -> list[CellShown]:
        self.lab.wait_for(RUNS_FINISHED, f"the cells of {self.path} to finish")
        return self.cells()

    def cells(self) -> list[CellShown]:
        """Every cell as shown now, paired with the cell in the file as last saved."""
        saved = json.loads(self.file.read_text(encoding="utf-8"))["cells"]
        shown = self.browser.evaluate(CELLS_SHOWN)
        if len(shown) != len(saved):
            raise LabkitError(f"the page shows {len(shown)} cells, the file has {len(saved)}")
        return [
            CellShown(cell["kind"], cell["prompt"], tuple((mime, text) for mime, text in cell["outputs"]), stored)
            for cell, stored in zip(shown, saved, strict=True)
        ]

    def edit_cell(self, index: int, text: str) -> None:
        """Click into a cell's editor, select all of it and type ``text`` over it.

        JupyterLab may still scroll the notebook after a run (to the active cell), moving the
        editor away from where it was found: a click that missed is tried again, and nothing is
        typed until that cell is the active one with its editor focused.
        """
        cell = f"{PANEL}.querySelectorAll('.jp-Notebook .jp-Cell')[{index}]"
        editor = f"{cell}.querySelector('.cm-content')"
        in_editor = f"{cell}.classList.contains('jp-mod-active') && {editor}.contains(document.activeElement)"
        for _ in range(3):
            self.browser.evaluate(f"{editor}.setAttribute('data-labkit-edit', '1')")
            self.browser.click("[data-labkit-edit='1']")
            self.browser.evaluate(f"{editor}.removeAttribute('data-labkit-edit')")
            try:
                self.browser.wait_for(in_editor, timeout=2, what=f"the editor of cell {index}")
                break
            except LabkitError:
                continue
        else:
            raise self.lab.lost(f"clicking cell {index} of {self.path} did not put its editor in focus")
        self.browser.press("Control+a")
        self.browser.type(text)

    def run_cells(self, count: int) -> list[CellShown]:
        """Shift+Enter ``count`` times from the active cell (run it, move to the next)."""
        self.browser.evaluate(WATCH_RUNS)
        for _ in range(count):
            self.browser.press("Shift+Enter")
        return self.wait_until_finished()

    def save(self) -> bytes:
        """Ctrl+S, as a student saves; return the file once JupyterLab has written all of it."""
        before = self.file.stat().st_mtime_ns
        self.browser.press("Escape")  # command mode: the shortcut is the notebook's, not the editor's
        self.browser.press("Control+s")
        # Jupyter writes in place, keeping a copy of the old file in ".~NAME" until the write is done.
        backup = self.file.with_name(f".~{self.file.name}")
        deadline = time.monotonic() + self.lab.timeout
        while self.file.stat().st_mtime_ns == before or backup.exists() or not self._parses():
            if time.monotonic() > deadline:
                raise self.lab.lost(f"{self.path} was not saved within {self.lab.timeout} s")
            time.sleep(0.05)
        self.lab.wait_for("!document.querySelector('.lm-TabBar-tab.lm-mod-current.jp-mod-dirty')", f"{self.path} saved")
        return self.file.read_bytes()

    def _parses(self) -> bool:
        try:
            json.loads(self.file.read_bytes())
        except ValueError:
            return False
        return True
